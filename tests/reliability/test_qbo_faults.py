"""QuickBooks misbehaves during syncs; every eligible invoice still ends as exactly one bill and the user is told."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from emulators.qbo.state import DEFAULT_REALM
from storage.models import Connection, ConnectionStatus, InvoiceState
from sync.bills import doc_number_for
from tests.reliability.support import Driver, assert_nothing_lost_nor_doubled

# (pattern, kind, count): each is survivable by the client's retries or by the next run.
QBO_FAULTS: dict[str, tuple[str, str | int, int | None]] = {
    "server_errors_on_batches": ("*/batch", 500, 2),
    "service_unavailable_on_queries": ("*/query", 503, 3),
    "throttling_burst_on_every_call": ("*", 429, 2),
    "slow_answers_on_batches": ("*/batch", "timeout", 2),
    "connection_resets_on_batches": ("*/batch", "reset", 2),
    "connection_resets_on_uploads": ("*/upload", "reset", 3),
    "access_token_expires_mid_run": ("*/batch", "expire_token", 1),
}


# Random faults on a share of all calls take longer; they run in the soak (--soak), with everything else at once.
RANDOM_QBO_FAULTS: dict[str, tuple[str, str | int, int | None]] = {
    "throttling_on_a_third_of_all_calls": ("*", 429, None),
    "server_errors_on_a_third_of_all_calls": ("*", 500, None),
}
CASES = [
    *(pytest.param(name, id=name) for name in QBO_FAULTS),
    *(pytest.param(name, id=name, marks=pytest.mark.soak) for name in RANDOM_QBO_FAULTS),
]


@pytest.mark.parametrize("fault", CASES)
async def test_a_quickbooks_fault_during_a_sync_loses_and_doubles_nothing(driver: Driver, fault: str) -> None:
    pattern, kind, count = {**QBO_FAULTS, **RANDOM_QBO_FAULTS}[fault]
    qbo = driver.stack.qbo_state
    assert qbo is not None
    await driver.connect(map_all=False)
    if count is None:
        qbo.inject(pattern, kind, None, probability=0.33, delay_seconds=0.3)
    else:
        qbo.inject(pattern, kind, count, delay_seconds=0.3)

    await driver.map_everything()  # queues the first sync, which the embedded worker runs into the fault
    await driver.wait_for_runs_to_settle()
    qbo.clear_faults()

    outcome = await assert_nothing_lost_nor_doubled(driver)
    assert outcome.duplicates == 0 and outcome.lost == 0
    faulted = [entry for entry in qbo.audit_log() if entry["touched_preexisting"]]
    assert not faulted, "nothing that existed in QuickBooks was changed"


async def test_a_batch_where_one_bill_is_refused_creates_the_others_and_reports_that_one(driver: Driver) -> None:
    """A bill that already exists in QuickBooks under another supplier with the same number fails alone."""
    qbo = driver.stack.qbo_state
    assert qbo is not None
    victim = driver.eligible_invoices()[0]
    doc_number = doc_number_for(victim["invoiceNumber"])
    with qbo.lock:
        company = qbo.companies[DEFAULT_REALM]
        vendor = next(v for v in company.of("Vendor").values() if v.get("Active", True))
        preexisting = qbo.add_entity(
            company,
            "Bill",
            {
                "DocNumber": doc_number,
                "VendorRef": {"value": vendor["Id"]},
                "TxnDate": "2026-01-01",
                "TotalAmt": 1,
                "Line": [],
            },
        )
    await driver.connect()

    outcome = await assert_nothing_lost_nor_doubled(
        driver, not_ours=frozenset({str(preexisting["Id"])}), refused=frozenset({doc_number})
    )

    assert outcome.lost == 0
    [row] = [row for row in await driver.ledger() if row.doc_number == doc_number]
    assert row.state == InvoiceState.FAILED and row.error_message
    runs = await driver.runs()
    assert runs[0].failed >= 1 and runs[0].bills_created == len(outcome.expected_doc_numbers)
    [summary] = driver.summaries_of(runs[0].id)
    failed = runs[0].failed
    assert f"{failed} needs a fix" in summary["text"] or f"{failed} need a fix" in summary["text"], summary["text"]
    failure_blocks = str(driver.finance_messages())
    assert victim["invoiceNumber"] in failure_blocks, "the failed invoice is named in the channel"


async def test_a_refused_refresh_token_mid_run_stops_cleanly_asks_to_reconnect_and_resumes_after(
    driver: Driver,
) -> None:
    qbo = driver.stack.qbo_state
    assert qbo is not None
    await driver.connect(map_all=False)
    with qbo.lock:
        for grant in qbo.grants.values():
            grant.revoked = True  # invalid_grant on the next refresh
    qbo.inject("*/batch", "expire_token", 1)  # the access token dies mid-run, so a refresh is needed

    await driver.map_everything()
    [run] = await driver.wait_for_runs_to_settle()

    assert run.status == "failed"
    async with driver.runtime.sessions() as session:
        connection = await session.scalar(select(Connection))
    assert connection is not None and connection.status == ConnectionStatus.NEEDS_REAUTH
    await driver.check_user_was_told([run])
    assert any("/qbo connect" in str(m) or "Reconnect" in str(m) for m in driver.finance_messages())
    assert not [row for row in await driver.ledger() if row.state == InvoiceState.CREATED and not row.qbo_bill_id]

    answer = await driver.connect_qbo()  # the admin reconnects
    assert answer.status_code == 200
    await driver.request_sync_in_slack()
    await driver.wait_for_runs_to_settle(at_least=2)

    outcome = await assert_nothing_lost_nor_doubled(driver)
    assert outcome.lost == 0


@pytest.mark.parametrize("kind", [503, 429])
async def test_a_quickbooks_outage_at_the_start_of_a_run_fails_it_in_plain_words_and_the_next_sync_finishes(
    driver: Driver, kind: int
) -> None:
    """QuickBooks answers only `kind` for a while: the run stops, the channel says so plainly, nothing is lost."""
    qbo = driver.stack.qbo_state
    assert qbo is not None
    await driver.connect(map_all=False)
    qbo.inject("*", kind, None)

    await driver.map_everything()
    [run] = await driver.wait_for_runs_to_settle()
    qbo.clear_faults()

    assert run.status == "failed" and run.bills_created == 0
    await driver.check_user_was_told([run])
    summary = run.error_summary or ""
    assert "QuickBooks" in summary, summary
    for internal in ("Qbo", "errorCode", "statusCode", "Error:"):
        assert internal not in summary, f"the channel shows internals: {summary!r}"

    await driver.request_sync_in_slack()
    await driver.wait_for_runs_to_settle(at_least=2)
    outcome = await assert_nothing_lost_nor_doubled(driver)
    assert outcome.lost == 0
