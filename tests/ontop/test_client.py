"""Contract tests: OntopClient against the Ontop emulator over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from decimal import Decimal

import httpx
import pytest
import structlog

from devtools.server import BackgroundServer
from emulators.ontop.app import (
    DEFAULT_ADMIN_EMAIL,
    DEFAULT_ADMIN_PASSWORD,
    Fault,
    OntopEmulatorState,
    Patch,
    create_ontop_emulator,
)
from emulators.ontop.generator import CompanyGenerator
from sync.ontop.client import OntopClient, OntopCredentials, OntopSource
from sync.ontop.models import (
    Concept,
    Invoice,
    InvoiceStatus,
    OntopAuthError,
    OntopDataError,
    OntopNotFoundError,
    OntopRequestError,
    OntopUnavailableError,
    WorkerStatus,
    WorkerType,
)
from tests.ontop.conftest import FAST_BACKOFF, PAGE_SIZE, SleepRecorder


async def read_all_invoices(client: OntopClient, since: object = None) -> list[Invoice]:
    pages = [page async for page in client.invoices_changed_since(since)]  # type: ignore[arg-type]
    return [invoice for page in pages for invoice in page]


def login_requests(state: OntopEmulatorState) -> int:
    return sum(1 for _, path in state.requests if path == "/login/login/v2")


async def test_client_satisfies_the_source_protocol(client: OntopClient) -> None:
    source: OntopSource = client
    await source.check_credentials()
    assert client.logins == 1


async def test_check_credentials_logs_in_once(client: OntopClient, state: OntopEmulatorState) -> None:
    await client.check_credentials()
    assert state.logins == 1


async def test_bad_password_raises_readable_auth_error_without_retrying(
    server: BackgroundServer, state: OntopEmulatorState
) -> None:
    wrong = OntopCredentials(DEFAULT_ADMIN_EMAIL, "not-the-password")
    async with OntopClient(server.url, wrong, backoff=FAST_BACKOFF) as client:
        with pytest.raises(OntopAuthError) as caught:
            await client.check_credentials()
    assert "email and password" in str(caught.value)
    assert "not-the-password" not in str(caught.value)
    assert login_requests(state) == 1


async def test_login_is_retried_on_503(client: OntopClient, state: OntopEmulatorState) -> None:
    state.faults.append(Fault(status=503, path="/login", times=2))
    await client.check_credentials()
    assert login_requests(state) == 3 and state.logins == 1


async def test_workers_are_read_to_the_last_page(server: BackgroundServer, credentials: OntopCredentials) -> None:
    async with OntopClient(server.url, credentials, backoff=FAST_BACKOFF, page_size=5) as client:
        workers = [worker async for worker in client.workers()]
    assert [worker.agreement_id for worker in workers] == list(range(16, 28))


async def test_workers_carry_names_statuses_and_contract_terms(client: OntopClient) -> None:
    workers = {worker.agreement_id: worker async for worker in client.workers()}
    business, invited, ended = workers[16], workers[17], workers[18]
    assert business.worker_type == WorkerType.BUSINESS and business.display_name == business.legal_name
    assert invited.status == WorkerStatus.INVITATION_SENT and invited.first_name is None
    assert invited.display_name is None
    assert ended.is_ended and ended.end_date is not None
    assert workers[19].email == workers[20].email  # one email, two agreements
    assert all(worker.currency for worker in workers.values())


async def test_worker_by_email_finds_onboarded_workers_only(client: OntopClient, company: CompanyGenerator) -> None:
    onboarded = await client.worker_by_email(company.workers[0].email)
    assert onboarded is not None and onboarded.agreement_id == 16
    assert await client.worker_by_email(company.workers[5].email) is None  # verification pending
    assert await client.worker_by_email("nobody@example.com") is None


async def test_invoices_are_paged_to_the_end(client: OntopClient, state: OntopEmulatorState) -> None:
    invoices = await read_all_invoices(client)
    expected = {change.invoice_id for change in state.generator.changes_between(state.clock)}
    assert len(expected) > 3 * PAGE_SIZE
    assert [invoice.id for invoice in invoices] == [c.invoice_id for c in state.generator.changes_between(state.clock)]
    assert {invoice.id for invoice in invoices} == expected


async def test_invoices_changed_since_skips_older_changes(client: OntopClient, company: CompanyGenerator) -> None:
    since = company.created_at(150)
    invoices = await read_all_invoices(client, since)
    assert invoices and all(invoice.updated_at >= since for invoice in invoices)
    assert len(invoices) < company.invoice_count


async def test_token_is_renewed_once_when_it_expires_mid_paging(client: OntopClient, state: OntopEmulatorState) -> None:
    state.faults.append(Fault(status=None, path="/contract/invoices", skip=2, expire_tokens=True))
    invoices = await read_all_invoices(client)
    assert len({invoice.id for invoice in invoices}) == state.generator.invoice_count
    assert state.logins == 2


async def test_a_second_401_right_after_renewal_raises(client: OntopClient, state: OntopEmulatorState) -> None:
    state.faults.append(Fault(status=None, path="/contract/invoices/5001", times=2, expire_tokens=True))
    with pytest.raises(OntopAuthError):
        await client.invoice(5001)
    assert state.logins == 2


async def test_5xx_and_429_are_retried_honouring_retry_after(
    client: OntopClient, state: OntopEmulatorState, sleeps: SleepRecorder
) -> None:
    state.faults += [
        Fault(status=503, path="/contract/invoices/5001"),
        Fault(status=429, path="/contract/invoices/5001", retry_after="0"),
        Fault(status=502, path="/contract/invoices/5001"),
    ]
    invoice = await client.invoice(5001)
    assert invoice.id == 5001
    assert len(sleeps.pauses) == 3 and sleeps.pauses[1] == 0.0


async def test_persistent_5xx_gives_up_after_the_backoff_attempts(
    client: OntopClient, state: OntopEmulatorState
) -> None:
    state.faults.append(Fault(status=500, path="/contract/invoices/5001", times=99))
    with pytest.raises(OntopUnavailableError):
        await client.invoice(5001)
    assert sum(1 for _, path in state.requests if path == "/contract/invoices/5001") == FAST_BACKOFF.attempts


async def test_other_4xx_are_not_retried(client: OntopClient, state: OntopEmulatorState) -> None:
    state.faults.append(Fault(status=400, path="/contract/invoices/5001", times=5))
    with pytest.raises(OntopRequestError) as caught:
        await client.invoice(5001)
    assert caught.value.status_code == 400
    with pytest.raises(OntopNotFoundError):
        await client.invoice(999_999)
    assert sum(1 for _, path in state.requests if path == "/contract/invoices/5001") == 1


async def test_a_reply_slower_than_the_timeout_is_retried(server: BackgroundServer, state: OntopEmulatorState) -> None:
    state.faults.append(Fault(status=None, path="/contract/invoices/5001", delay_seconds=1.0))
    fast_timeout = httpx.Timeout(0.4)
    credentials = OntopCredentials(DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD)
    async with OntopClient(server.url, credentials, backoff=FAST_BACKOFF, timeout=fast_timeout) as client:
        invoice = await client.invoice(5001)
    assert invoice.id == 5001
    assert sum(1 for _, path in state.requests if path == "/contract/invoices/5001") == 2


async def test_concurrent_calls_share_one_login(client: OntopClient, state: OntopEmulatorState) -> None:
    await asyncio.gather(*(client.invoice(5001 + n) for n in range(6)))
    assert state.logins == 1


async def test_amounts_are_exact_decimals_matching_the_wire(client: OntopClient, state: OntopEmulatorState) -> None:
    invoices = await read_all_invoices(client)
    for invoice in invoices:
        row = state.invoice_row(invoice.id)
        assert row is not None
        assert invoice.total == Decimal(row["total"]) and str(invoice.total) == row["total"]
        assert sum((line.amount for line in invoice.lines), Decimal(0)) == invoice.total
        assert [str(line.amount) for line in invoice.lines] == [line["amount"] for line in row["lines"]]
        assert not any(isinstance(value, float) for value in dataclasses.astuple(invoice))
    currencies = {invoice.currency for invoice in invoices}
    assert {"USD", "BRL"} <= currencies or len(currencies) >= 3


async def test_zero_decimal_and_large_amounts_stay_exact(client: OntopClient, state: OntopEmulatorState) -> None:
    state.invoice_patches[5001] = Patch(
        set={"currency": "CLP", "total": "150000", "lines": [{"concept": "COMPENSATION", "amount": "150000"}]}
    )
    state.invoice_patches[5002] = Patch(
        set={
            "currency": "COP",
            "total": "12345678901.23",
            "totalUsd": "3125487.06",
            "lines": [{"concept": "BONUS", "amount": "12345678901.23"}],
        }
    )
    clp, cop = await client.invoice(5001), await client.invoice(5002)
    assert clp.total == Decimal("150000") and str(clp.lines[0].amount) == "150000"
    assert cop.total == Decimal("12345678901.23") and cop.usd_equivalent == Decimal("3125487.06")


async def test_missing_required_field_names_the_field_and_the_invoice(
    client: OntopClient, state: OntopEmulatorState
) -> None:
    state.invoice_patches[5003] = Patch(drop=("total",))
    with pytest.raises(OntopDataError) as caught:
        await client.invoice(5003)
    assert caught.value.field_name == "total" and caught.value.record_id == 5003
    assert "5003" in str(caught.value) and "'total'" in str(caught.value)


async def test_missing_line_amount_names_the_line(client: OntopClient, state: OntopEmulatorState) -> None:
    state.invoice_patches[5004] = Patch(set={"lines": [{"lineNumber": 1, "concept": "BONUS", "title": "x"}]})
    with pytest.raises(OntopDataError, match=r"invoice 5004 line 1: field 'amount' is missing"):
        await client.invoice(5004)


async def test_worker_without_agreement_id_is_a_clear_error(client: OntopClient, state: OntopEmulatorState) -> None:
    state.worker_patches[21] = Patch(drop=("agreementId", "status"))
    with pytest.raises(OntopDataError, match="agreementId"):
        _ = [worker async for worker in client.workers()]


async def test_unknown_fields_concepts_and_statuses_are_tolerated(
    client: OntopClient, state: OntopEmulatorState
) -> None:
    state.invoice_patches[5005] = Patch(
        set={
            "brandNewField": {"nested": [1, 2]},
            "status": "ON_HOLD",
            "lines": [
                {"concept": "STOCK_OPTIONS", "title": "Grant", "amount": "10.00", "futureField": True},
                {"concept": "refund", "title": "Taxi", "amount": "5.50"},
            ],
            "total": "15.50",
        }
    )
    state.worker_patches[16] = Patch(set={"favouriteColour": "teal"})
    invoice = await client.invoice(5005)
    assert invoice.status == "ON_HOLD" and not isinstance(invoice.status, InvoiceStatus)
    assert invoice.lines[0].concept == "STOCK_OPTIONS" and not isinstance(invoice.lines[0].concept, Concept)
    assert invoice.lines[1].concept is Concept.REIMBURSEMENT  # REFUND is an alias
    workers = [worker async for worker in client.workers()]
    assert workers[0].agreement_id == 16


async def test_an_invoice_changing_while_paging_does_not_hide_another(
    client: OntopClient, state: OntopEmulatorState
) -> None:
    first_page = [c.invoice_id for c in state.generator.changes_between(state.clock)][:PAGE_SIZE]
    touched = first_page[3]
    # Just before the second page is served, an invoice already read changes and jumps to the end.
    state.faults.append(Fault(status=None, path="/contract/invoices", skip=1, touch_invoices=(touched,)))
    invoices = await read_all_invoices(client)
    ids = [invoice.id for invoice in invoices]
    assert set(ids) == {c.invoice_id for c in state.generator.changes_between(state.clock)} | {touched}
    assert ids.count(touched) == 2  # seen again with its new updateDate


async def test_invoice_pdf_is_a_pdf_and_none_when_unavailable(client: OntopClient, state: OntopEmulatorState) -> None:
    invoices = await read_all_invoices(client)
    with_pdf = next(invoice for invoice in invoices if invoice.pdf_available)
    without_pdf = next(invoice for invoice in invoices if not invoice.pdf_available)
    pdf = await client.invoice_pdf(with_pdf)
    assert pdf is not None and pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert await client.invoice_pdf(without_pdf) is None


async def test_credentials_and_tokens_never_reach_logs_or_reprs(
    server: BackgroundServer, state: OntopEmulatorState, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    credentials = OntopCredentials(DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD)
    state.faults.append(Fault(status=None, path="/contract/invoices/5001", expire_tokens=True))
    with structlog.testing.capture_logs() as captured:
        async with OntopClient(server.url, credentials, backoff=FAST_BACKOFF) as client:
            await client.invoice(5001)
            token = client._token
            wrong = OntopClient(server.url, OntopCredentials(DEFAULT_ADMIN_EMAIL, "s3cret-wrong"), backoff=FAST_BACKOFF)
            with pytest.raises(OntopAuthError) as caught:
                await wrong.check_credentials()
            await wrong.aclose()
            text = " ".join([repr(captured), caplog.text, repr(client), repr(credentials), str(caught.value)])
    assert captured, "the client should log what it does"
    assert token and token not in text
    assert DEFAULT_ADMIN_PASSWORD not in text and "s3cret-wrong" not in text
    assert DEFAULT_ADMIN_EMAIL not in repr(credentials)


async def test_documented_only_mode_reads_successful_payments_as_invoices(company: CompanyGenerator) -> None:
    state = OntopEmulatorState(generator=company, documented_only=True)
    with BackgroundServer(create_ontop_emulator(state)) as server:
        credentials = OntopCredentials(DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD)
        async with OntopClient(server.url, credentials, backoff=FAST_BACKOFF, assumed_api=False) as client:
            invoices = await read_all_invoices(client)
            workers = [worker async for worker in client.workers()]
            assert await client.invoice_pdf(invoices[0]) is None
        async with OntopClient(server.url, credentials, backoff=FAST_BACKOFF) as assumed_client:
            with pytest.raises(OntopNotFoundError):
                await assumed_client.invoice(5001)
    successful = [p for p in state.payments.values() if p["status"] == "SUCCESS"]
    assert [invoice.id for invoice in invoices] == [p["id"] for p in successful]
    assert all(invoice.currency == "USD" and invoice.status == InvoiceStatus.PAID for invoice in invoices)
    assert invoices[0].total == successful[0]["amount"] and invoices[0].lines[0].concept is Concept.COMPENSATION
    assert len(workers) == 12 and workers[0].currency is None


async def test_token_is_renewed_a_minute_before_it_expires(server: BackgroundServer, state: OntopEmulatorState) -> None:
    now = [state.wall_clock()]
    credentials = OntopCredentials(DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD)
    async with OntopClient(server.url, credentials, backoff=FAST_BACKOFF, clock=lambda: now[0]) as client:
        await client.invoice(5001)
        now[0] += 900 - 61  # still more than a minute left: the cached token is used
        await client.invoice(5001)
        assert state.logins == 1
        now[0] += 2  # less than a minute left: log in again before calling
        await client.invoice(5001)
        assert state.logins == 2
    # Renewed ahead of time: no request was refused and repeated.
    assert sum(1 for _, path in state.requests if path == "/contract/invoices/5001") == 3
