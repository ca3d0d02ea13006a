"""Issue #15's figure, paid bills per minute against the ceiling: its ceiling, the request profile and the notes.

Pure arithmetic on made-up traces; nothing here is timed (the figure is measured by `python -m bench`).
"""

from __future__ import annotations

import json
import math

from bench.figures import SteadyRate
from bench.throughput import (
    BatchUse,
    PaidBills,
    RequestProfile,
    RequestTrace,
    SentRequest,
    SlotWait,
    ThroughputResult,
    is_paid,
    paid_ceiling,
    paid_figures,
    paid_notes,
    profile_requests,
    qbo_request_kind,
)

WINDOW = 6.0  # one QBO minute at time scale 0.1


def test_paid_ceiling_is_two_batch_items_per_bill_so_600_a_minute() -> None:
    # 40 batch calls × 30 items, and each paid bill is its Bill and then its BillPayment.
    assert paid_ceiling(pdfs=False) == 600


def test_paid_ceiling_with_pdfs_is_the_request_limit_shared_by_uploads_and_two_batch_items() -> None:
    ceiling = paid_ceiling(pdfs=True)
    assert math.isclose(ceiling, 500 / (1 + 2 / 30))
    assert math.isclose(ceiling + ceiling * 2 / 30, 500)  # uploads plus batch calls fill the 500 requests


def test_request_kinds_name_batch_contents_and_entities() -> None:
    body = json.dumps(
        {"BatchItemRequest": [{"bId": f"p{n}", "operation": "create", "BillPayment": {}} for n in range(4)]}
    ).encode()
    assert qbo_request_kind("POST", "/v3/company/1/batch", body) == ("batch:BillPayment", 4)
    mixed = json.dumps(
        {"BatchItemRequest": [{"bId": "a", "operation": "create", "Bill": {}}, {"bId": "b", "Query": "select"}]}
    ).encode()
    assert qbo_request_kind("POST", "/v3/company/1/batch", mixed) == ("batch:Bill+Query", 2)
    assert qbo_request_kind("POST", "/v3/company/1/upload", b"") == ("upload", 0)
    assert qbo_request_kind("GET", "/v3/company/1/query", b"") == ("query", 0)
    assert qbo_request_kind("GET", "/v3/company/1/bill/12", b"") == ("read bill", 0)
    assert qbo_request_kind("POST", "/v3/company/1/vendor", b"") == ("write vendor", 0)
    assert qbo_request_kind("POST", "/oauth2/v1/tokens/bearer", b"") == ("oauth2/v1", 0)


def _flushes_of_thirty_invoices_with_three_fees(trace: RequestTrace, windows: int) -> None:
    """What a run that sends bills 30 + 3 and payments 30 + 3 per 30 invoices sends at 40 batch calls a window."""
    step = WINDOW / 40
    for call in range(40 * windows):
        size = 30 if call % 2 == 0 else 3
        kind = "batch:Bill" if call % 4 < 2 else "batch:BillPayment"
        trace.sent.append(SentRequest(call * step, "qbo", kind, size))
        trace.waits.append(SlotWait(call * step - step / 2, step / 2, True))  # waited half of every gap
    trace.sent.append(SentRequest(WINDOW / 3, "qbo", "write vendor"))
    trace.sent.append(SentRequest(WINDOW / 2, "ontop", "invoices"))


def test_profile_counts_batch_calls_their_fill_and_waiting_per_qbo_minute() -> None:
    trace = RequestTrace("http://127.0.0.1:9")
    _flushes_of_thirty_invoices_with_three_fees(trace, windows=3)
    profile = profile_requests(trace, WINDOW, 3 * WINDOW, WINDOW)
    assert profile.minutes == 2
    assert math.isclose(profile.batch_calls, 40)
    assert profile.batches["batch:Bill"] == BatchUse(calls=20, items=330, full_calls=10)
    assert profile.batches["batch:BillPayment"].items_per_partial_call == 3
    assert math.isclose(profile.fill, 33 / 60)
    assert math.isclose(profile.batch_wait_share, 0.5, rel_tol=0.02)  # no call waits in the last half gap
    assert profile.other_qbo == {} and profile.ontop == 0  # the vendor and the Ontop page were in the warm-up
    warm_up = profile_requests(trace, 0, WINDOW, WINDOW)
    assert warm_up.other_qbo == {"write vendor": 1} and warm_up.ontop == 1


def _result(mode: str, per_window: float, ceiling: float, profile: RequestProfile) -> ThroughputResult:
    paid = PaidBills(900, 900, 900, SteadyRate(per_window, WINDOW, 3 * WINDOW, True), ceiling, profile)
    return ThroughputResult(mode, 800, SteadyRate(per_window, WINDOW, 3 * WINDOW, True), 1200, 20, 0, 100, paid)


def test_paid_figure_has_the_target_without_pdfs_and_names_its_ceiling() -> None:
    trace = RequestTrace("http://127.0.0.1:9")
    _flushes_of_thirty_invoices_with_three_fees(trace, windows=3)
    profile = profile_requests(trace, WINDOW, 3 * WINDOW, WINDOW)
    without, with_pdfs = paid_figures(
        [
            _result("batched, without PDFs", 330, paid_ceiling(pdfs=False), profile),
            _result("batched, with PDFs", 330, paid_ceiling(pdfs=True), profile),
        ],
        0.1,
    )
    assert without.value == 0.55 and without.met is False and without.target == "≥ 0.9"
    assert "330 of 600 paid bills per QBO minute" in without.note
    assert with_pdfs.met is None  # informational: issue #15's target is the 600 without PDFs
    assert "330 of 469 paid bills" in with_pdfs.note


def test_note_blames_half_empty_batch_calls_when_the_batch_budget_is_spent() -> None:
    trace = RequestTrace("http://127.0.0.1:9")
    _flushes_of_thirty_invoices_with_three_fees(trace, windows=3)
    profile = profile_requests(trace, WINDOW, 3 * WINDOW, WINDOW)
    bills_note, note = paid_notes([_result("batched, without PDFs", 330, 600, profile)])
    assert "bills can reach at most 600 a minute (330 is 0.550 of that)" in bills_note
    assert "the batch budget is spent (40.0 of 40 calls" in note
    assert "only 55% full" in note
    assert "pay about 330 bills a minute; full calls would pay about 600" in note
    (only_the_bills_note,) = paid_notes([_result("batched, without PDFs", 590, 600, profile)])  # 0.983: no diagnosis
    assert only_the_bills_note.startswith("batched, without PDFs: the bills figure's ceiling (1,200 a minute)")


def test_a_bill_is_paid_when_its_balance_is_zero_and_a_bill_payment_is_linked() -> None:
    link = [{"TxnId": "7", "TxnType": "BillPaymentCheck"}]
    assert is_paid({"Balance": 0, "TotalAmt": 10, "LinkedTxn": link})
    assert not is_paid({"Balance": 10, "TotalAmt": 10})
    assert not is_paid({"Balance": 4, "TotalAmt": 10, "LinkedTxn": link})  # partly paid
    assert not is_paid({"Balance": 0, "TotalAmt": 0})  # nothing to pay, no payment


def test_with_pdfs_full_calls_would_be_bound_by_the_clients_request_budget_not_the_batch_budget() -> None:
    half_full = {
        "batch:Bill": BatchUse(calls=20, items=336, full_calls=10),
        "batch:BillPayment": BatchUse(calls=20, items=336, full_calls=10),
    }
    # 300 uploads a minute for 336 paid bills: 450 ÷ (2/30 + 300/336) ≈ 469 with full batch calls, not 600.
    profile = RequestProfile(2, half_full, {"upload": 300.0}, 300.0, 0.15, 0.5)
    _, note = paid_notes([_result("batched, with PDFs", 336, paid_ceiling(pdfs=True), profile)])
    assert "full calls would pay about 469" in note
