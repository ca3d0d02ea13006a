"""Ontop misbehaves while a sync reads it; each eligible invoice still ends as exactly one bill, the user is told."""

from __future__ import annotations

import pytest

from emulators.ontop.state import Fault
from sync.ontop.assumed import INVOICES_PATH
from tests.reliability.support import Driver, assert_nothing_lost_nor_doubled

PAGED = pytest.mark.stack(invoices=230, workers=10)  # more than two pages of 100: faults can land mid-paging


async def test_ontop_server_errors_while_listing_invoices_are_retried(driver: Driver) -> None:
    ontop = driver.stack.ontop_state
    assert ontop is not None
    await driver.connect(map_all=False)
    ontop.faults.append(Fault(status=503, path=INVOICES_PATH, times=2, retry_after="0"))
    ontop.faults.append(Fault(status=500, path=INVOICES_PATH, times=1))

    await driver.map_everything()

    outcome = await assert_nothing_lost_nor_doubled(driver)
    assert outcome.lost == 0 and not ontop.faults, "every injected fault was hit"


async def test_ontop_server_errors_on_invoice_pdfs_never_fail_or_double_a_bill(driver: Driver) -> None:
    ontop = driver.stack.ontop_state
    assert ontop is not None
    await driver.connect(map_all=False)
    ontop.faults.append(Fault(status=502, path=INVOICES_PATH + "/", times=12))

    await driver.map_everything()

    outcome = await assert_nothing_lost_nor_doubled(driver)
    assert outcome.lost == 0


async def test_an_ontop_outage_fails_the_run_says_so_and_the_next_sync_finishes(driver: Driver) -> None:
    ontop = driver.stack.ontop_state
    assert ontop is not None
    await driver.connect(map_all=False)
    ontop.faults.append(Fault(status=503, path=INVOICES_PATH, times=1000))

    await driver.map_everything()
    [run] = await driver.wait_for_runs_to_settle()
    ontop.faults.clear()

    assert run.status == "failed" and "Ontop" in (run.error_summary or "")
    await driver.check_user_was_told([run])
    await driver.request_sync_in_slack()
    await driver.wait_for_runs_to_settle(at_least=2)
    outcome = await assert_nothing_lost_nor_doubled(driver)
    assert outcome.lost == 0


@PAGED
async def test_an_ontop_token_expiring_between_pages_is_renewed_and_paging_continues(driver: Driver) -> None:
    ontop = driver.stack.ontop_state
    assert ontop is not None
    await driver.connect(map_all=False)
    logins_before = ontop.logins
    # The first page is served, then every token dies: the second page gets a 401.
    ontop.faults.append(Fault(status=None, path=INVOICES_PATH, skip=1, times=1, expire_tokens=True))

    await driver.map_everything()

    outcome = await assert_nothing_lost_nor_doubled(driver)
    assert outcome.lost == 0 and len(outcome.expected_doc_numbers) > 100
    assert ontop.logins > logins_before, "the client logged in again"
    assert not ontop.faults


@PAGED
async def test_invoices_that_change_while_pages_are_read_are_neither_skipped_nor_doubled(driver: Driver) -> None:
    ontop = driver.stack.ontop_state
    assert ontop is not None
    await driver.connect(map_all=False)
    first_page = [row for row in ontop.generator.invoice_rows(ontop.now)][:40]
    # Just before the second page is served, forty invoices of the first page change (they move to the end of
    # the updateDate order), so offset paging would shift later invoices into pages already read.
    ontop.faults.append(
        Fault(
            status=None,
            path=INVOICES_PATH,
            skip=1,
            times=1,
            touch_invoices=tuple(int(row["invoiceId"]) for row in first_page),
        )
    )

    await driver.map_everything()

    outcome = await assert_nothing_lost_nor_doubled(driver)
    assert outcome.lost == 0 and outcome.duplicates == 0
    assert not ontop.faults
