"""The generated company: deterministic per seed, realistic, covering every case, and streamed."""

from __future__ import annotations

import gc
import inspect
import random
from collections import Counter
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from emulators.ontop.generator import CompanyGenerator, InvoiceKind


@pytest.fixture(scope="module")
def big() -> CompanyGenerator:
    return CompanyGenerator(workers=60, invoices=5000, months=12, seed=3)


@pytest.fixture(scope="module")
def rows(big: CompanyGenerator) -> list[dict[str, Any]]:
    return list(big.invoice_rows())


def all_versions(company: CompanyGenerator) -> list[dict[str, Any]]:
    return [version.row for index in range(company.invoice_count) for version in company.versions(index)]


def test_the_same_seed_gives_the_same_company() -> None:
    first, second = CompanyGenerator(seed=42), CompanyGenerator(seed=42)
    assert first.workers == second.workers
    assert list(first.invoice_rows()) == list(second.invoice_rows())
    other = CompanyGenerator(seed=43)
    assert [w.email for w in other.workers] != [w.email for w in first.workers]


def test_workers_cover_every_special_case(big: CompanyGenerator) -> None:
    rows = [worker.worker_row() for worker in big.workers]
    business = [r for r in rows if r["legalName"]]
    assert business and all(r["status"] != "INVITATION_SENT" for r in business)
    invited = [r for r in rows if r["status"] == "INVITATION_SENT"]
    assert invited and all(r["firstName"] is None and r["lastName"] is None for r in invited)
    assert any(r["status"] == "ENDED" for r in rows)
    assert all(w.end_date for w in big.workers if w.status == "ENDED")
    assert any(r["status"] == "VERIFICATION_PENDING" for r in rows)
    emails = Counter(r["email"] for r in rows)
    assert max(emails.values()) == 2
    names = " ".join(f"{r['firstName']} {r['lastName']} {r['legalName']}" for r in rows)
    assert "'" in names and any(char in names for char in "éíóúñçãü")
    assert any(w.contract_type == "PAY_PER_TASK" for w in big.workers)


def test_invoice_currencies_statuses_and_concepts_are_spread_realistically(
    big: CompanyGenerator, rows: list[dict[str, Any]]
) -> None:
    currencies = Counter(row["currency"] for row in rows)
    assert {"USD", "EUR", "BRL", "MXN", "COP", "ARS"} <= set(currencies) and len(currencies) >= 7
    assert currencies["USD"] / len(rows) > 0.15
    statuses = Counter(row["status"] for row in rows)
    assert 0.70 < statuses["PAID"] / len(rows) < 0.95
    assert statuses["CANCELLED"] > 0.03 * len(rows) and statuses["PENDING"] > 0
    concepts = Counter(line["concept"] for row in rows for line in row["lines"])
    assert concepts["COMPENSATION"] == len(rows)
    for extra, low, high in (("BONUS", 0.10, 0.26), ("COMMISSION", 0.05, 0.15), ("REIMBURSEMENT", 0.06, 0.18)):
        assert low < concepts[extra] / len(rows) < high, extra
    assert concepts["FEE"] > 0 and concepts["DEDUCTION"] > 0 and concepts["HOLIDAY_PAY"] > 0
    assert max(len(row["lines"]) for row in rows) <= 1 + 5 + 2  # compensation, up to 5 extras, fee, deduction
    drafts = [v for v in all_versions(big) if v["status"] == "DRAFT"]
    assert drafts and all(not v["pdfAvailable"] for v in drafts)


def test_amounts_add_up_and_usd_equivalents_follow_the_rate(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        total = Decimal(row["total"])
        assert sum(Decimal(line["amount"]) for line in row["lines"]) == total
        assert "E" not in row["total"] and (row["currency"] == "CLP") == ("." not in row["total"])
        if row["exchangeRate"] is not None:
            rate = Decimal(row["exchangeRate"])
            assert rate.as_tuple().exponent == -6
            assert Decimal(row["totalUsd"]) == (total / rate).quantize(Decimal("0.01"), ROUND_HALF_UP)
        if row["currency"] == "USD":
            assert row["exchangeRate"] == "1.000000" and row["totalUsd"] == row["total"]
    per_task = [line for row in rows for line in row["lines"] if line["quantity"] is not None]
    assert per_task and all(
        Decimal(line["amount"])
        == (Decimal(line["quantity"]) * Decimal(line["unitAmount"])).quantize(Decimal(line["amount"]), ROUND_HALF_UP)
        for line in per_task
    )


def test_pending_non_usd_invoices_have_no_fx_yet(big: CompanyGenerator) -> None:
    pending = [v for v in all_versions(big) if v["status"] == "PENDING" and v["currency"] != "USD"]
    assert pending and all(v["exchangeRate"] is None and v["totalUsd"] is None for v in pending)
    assert all(line["amountUsd"] is None for v in pending for line in v["lines"])


def test_cancelled_and_corrected_invoices_point_at_each_other(
    big: CompanyGenerator, rows: list[dict[str, Any]]
) -> None:
    by_id = {row["invoiceId"]: row for row in rows}
    corrections = [row for row in rows if "correctsInvoiceId" in row]
    assert corrections
    for correction in corrections:
        original = by_id[correction["correctsInvoiceId"]]
        assert original["status"] == "CANCELLED" and original["correctedByInvoiceId"] == correction["invoiceId"]
        assert original["agreementId"] == correction["agreementId"] and correction["total"] != original["total"]
    plain_cancelled = [r for r in rows if r["status"] == "CANCELLED" and "correctedByInvoiceId" not in r]
    assert plain_cancelled


def test_some_invoices_change_after_they_are_first_seen(big: CompanyGenerator) -> None:
    changing = [index for index in range(200) if len(big.versions(index)) == 2]
    assert changing
    kinds = {big.kind(index) for index in changing}
    assert InvoiceKind.PENDING_THEN_PAID in kinds
    first, second = big.versions(changing[0])
    assert first.row["invoiceId"] == second.row["invoiceId"] and second.updated_at > first.updated_at
    assert first.row["status"] != second.row["status"]
    assert big.version_at(changing[0], first.updated_at) == first


def test_changes_between_is_sorted_and_agrees_with_a_brute_force_scan() -> None:
    company = CompanyGenerator(workers=10, invoices=900, months=3, seed=5)
    rng = random.Random(9)
    for _ in range(25):
        now = company.start + timedelta(days=rng.uniform(-3, 100))
        since = None if rng.random() < 0.2 else company.start + timedelta(days=rng.uniform(-3, 100))
        until = None if rng.random() < 0.4 else (since or company.start) + timedelta(days=rng.uniform(0, 60))
        expected = sorted(
            (updated, company.invoice_id(index), index)
            for index in range(company.invoice_count)
            if (updated := company.updated_at(index, now)) is not None
            and (since is None or updated >= since)
            and (until is None or updated < until)
        )
        assert [tuple(change) for change in company.changes_between(now, since, until)] == expected
        assert company.count_changed_between(now, since, until) == len(expected)


def test_a_hundred_thousand_invoices_stream_in_flat_memory() -> None:
    company = CompanyGenerator(workers=200, invoices=100_000, months=12, seed=1)
    assert inspect.isgenerator(company.invoice_rows())
    assert inspect.isgenerator(company.changes_between(company.end))
    live_objects: list[int] = []
    count = 0
    for count, _row in enumerate(company.invoice_rows(), 1):
        if count in (1_000, 100_000):
            gc.collect()
            live_objects.append(len(gc.get_objects()))
    assert count == 100_000
    # After 100x more invoices the interpreter holds about as many objects: nothing accumulates.
    assert live_objects[1] - live_objects[0] < 2_000
