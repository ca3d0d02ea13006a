"""Repository behaviour the rest of the product relies on, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.crypto import SecretBox
from storage.db import transaction
from storage.models import InvoiceState, PostingKind, PostingState, SyncedInvoice, Workspace
from storage.records import ConnectionRecord, LedgerEntry, WorkspaceRecord
from storage.repos.connections import ConnectionRepo
from storage.repos.ledger import CreatedDocument, FixRef, InvoiceFacts, LedgerRepo, PendingDocument
from storage.repos.mappings import MappingRepo
from storage.repos.oauth_states import OAuthStateRepo
from storage.repos.postings import PostingRepo
from storage.repos.webhook_deliveries import DeliveryOrderStore
from storage.repos.workspaces import WorkspaceRepo

Sessions = async_sessionmaker[AsyncSession]


async def _workspace_and_connection(sessions: Sessions) -> tuple[int, int]:
    async with transaction(sessions) as session:
        workspace = await WorkspaceRepo(session).get_or_create("T1", team_name="Acme")
        connection = await ConnectionRepo(session).create(workspace.id, "123")
        return workspace.id, connection.id


def _facts(invoice_id: str, *, amount: str = "100.00") -> InvoiceFacts:
    return InvoiceFacts(
        invoice_id=invoice_id,
        number=f"INV-{invoice_id}",
        agreement_id="17",
        status="PAID",
        updated_at=datetime(2026, 1, 1, tzinfo=UTC),
        amount=Decimal(amount),
        currency="USD",
    )


async def test_qbo_oauth_state_is_single_use(sessions: Sessions) -> None:
    workspace_id, _ = await _workspace_and_connection(sessions)
    async with transaction(sessions) as session:
        state = await OAuthStateRepo(session).issue(workspace_id, "U1")
    async with transaction(sessions) as session:
        owner = await OAuthStateRepo(session).consume(state)
        assert owner is not None and owner.workspace_id == workspace_id and owner.user_id == "U1"
    async with transaction(sessions) as session:
        assert await OAuthStateRepo(session).consume(state) is None


async def test_qbo_oauth_state_expires_after_ten_minutes(sessions: Sessions) -> None:
    workspace_id, _ = await _workspace_and_connection(sessions)
    issued_at = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    async with transaction(sessions) as session:
        state = await OAuthStateRepo(session).issue(workspace_id, "U1", now=issued_at)
    async with transaction(sessions) as session:
        late = issued_at + timedelta(minutes=10, seconds=1)
        assert await OAuthStateRepo(session).consume(state, now=late) is None
    async with transaction(sessions) as session:
        assert await OAuthStateRepo(session).consume("forged-state") is None


async def test_a_concept_maps_to_one_account_and_remapping_replaces_it(sessions: Sessions) -> None:
    _, connection_id = await _workspace_and_connection(sessions)
    async with transaction(sessions) as session:
        await MappingRepo(session).save(connection_id, "BONUS", "80", "Contractors:Bonus", "U1")
    async with transaction(sessions) as session:
        await MappingRepo(session).save(connection_id, "BONUS", "81", "Contractors:Incentives", "U2")
    async with transaction(sessions) as session:
        mappings = await MappingRepo(session).get_all(connection_id)
    assert {concept: m.qbo_account_id for concept, m in mappings.items()} == {"BONUS": "81"}


async def test_the_ledger_holds_one_row_per_invoice(sessions: Sessions) -> None:
    _, connection_id = await _workspace_and_connection(sessions)
    async with transaction(sessions) as session:
        session.add(SyncedInvoice(connection_id=connection_id, ontop_invoice_id="inv-1"))
    with pytest.raises(IntegrityError):
        async with transaction(sessions) as session:
            session.add(SyncedInvoice(connection_id=connection_id, ontop_invoice_id="inv-1"))


async def test_a_created_invoice_is_never_downgraded_to_failed(sessions: Sessions) -> None:
    _, connection_id = await _workspace_and_connection(sessions)
    async with transaction(sessions) as session:
        repo = LedgerRepo(session, connection_id)
        await repo.touch([_facts("inv-1")], run_id=1)
        await repo.record_created_many([CreatedDocument("inv-1", "151", pdf_pending=False, home=None)])
    async with transaction(sessions) as session:
        changed = await LedgerRepo(session, connection_id).record_failure(
            _facts("inv-1"), 2, worker_name="Maria", code="unmapped_concept", message="x", fix=FixRef("retry", "1")
        )
    async with sessions() as session:
        entry = await LedgerRepo(session, connection_id).get("inv-1")
    assert changed is False
    assert entry is not None and entry.state == InvoiceState.CREATED and entry.qbo_bill_id == "151"


async def test_a_definite_failure_gives_the_next_attempt_a_new_generation(sessions: Sessions) -> None:
    _, connection_id = await _workspace_and_connection(sessions)
    async with transaction(sessions) as session:
        repo = LedgerRepo(session, connection_id)
        [entry] = await repo.touch([_facts("inv-1")], run_id=1)
        repo.mark_pending(
            "inv-1",
            PendingDocument(
                request_id="r0", doc_number="D1", vendor_id="58", worker_name="M", amount=Decimal(1), currency="USD"
            ),
        )
    async with transaction(sessions) as session:
        await LedgerRepo(session, connection_id).record_post_failure(
            "inv-1", code="qbo_2500", message="refused", fix=FixRef("retry", "inv-1")
        )
    async with sessions() as session:
        after = await LedgerRepo(session, connection_id).get("inv-1")
    assert entry.generation == 0
    assert after is not None and after.state == InvoiceState.FAILED and after.generation == 1
    assert (after.fix_action, after.fix_value) == ("retry", "inv-1")


async def test_records_are_plain_snapshots_not_orm_rows(sessions: Sessions) -> None:
    _, connection_id = await _workspace_and_connection(sessions)
    async with transaction(sessions) as session:
        [entry] = await LedgerRepo(session, connection_id).touch([_facts("inv-1")], run_id=1)
        connection = await ConnectionRepo(session).get(connection_id)
    assert isinstance(entry, LedgerEntry) and isinstance(connection, ConnectionRecord)
    with pytest.raises(AttributeError):
        entry.state = InvoiceState.CREATED  # type: ignore[misc]


async def test_webhook_deliveries_remember_the_newest_order_per_key(sessions: Sessions) -> None:
    _, connection_id = await _workspace_and_connection(sessions)
    async with transaction(sessions) as session:
        store = DeliveryOrderStore(session, connection_id)
        assert await store.remember("INVOICE:42", Decimal(2)) is None
    async with transaction(sessions) as session:
        store = DeliveryOrderStore(session, connection_id)
        assert await store.remember("INVOICE:42", Decimal(1)) == Decimal(2)  # an older delivery: stale
        assert await store.remember("INVOICE:42", Decimal(3)) == Decimal(2)
    async with transaction(sessions) as session:
        assert await DeliveryOrderStore(session, connection_id).remember("INVOICE:42", Decimal(3)) == Decimal(3)


async def test_disconnect_forgets_secrets_and_mapping_but_keeps_the_ledger(
    sessions: Sessions, secret_box: SecretBox
) -> None:
    _, connection_id = await _workspace_and_connection(sessions)
    async with transaction(sessions) as session:
        await ConnectionRepo(session).store_qbo_tokens(
            connection_id,
            secret_box,
            access_token="access",
            refresh_token="refresh",
            access_expires_at=None,
            refresh_expires_at=None,
        )
        await MappingRepo(session).save(connection_id, "BONUS", "80", "Bonus", "U1")
        session.add(SyncedInvoice(connection_id=connection_id, ontop_invoice_id="inv-1", state="created"))
    async with transaction(sessions) as session:
        await ConnectionRepo(session).forget(connection_id)
    async with transaction(sessions) as session:
        connection = await ConnectionRepo(session).get(connection_id)
        assert connection is not None and not connection.has_qbo_tokens
        assert await MappingRepo(session).get_all(connection_id) == {}
        assert set(await LedgerRepo(session, connection_id).get_many(["inv-1"])) == {"inv-1"}


async def test_two_first_contacts_of_one_workspace_racing_make_one_workspace_and_both_succeed(
    sessions: Sessions,
) -> None:
    """A burst of requests from a new workspace: on PostgreSQL the second insert waits for the first transaction and
    then hits the unique key; it must use the row the first one made, not fail the request."""
    async with transaction(sessions) as first:
        made = await WorkspaceRepo(first).get_or_create("T9", team_name="Nine")
        second = asyncio.create_task(_get_or_create_in_own_transaction(sessions, "T9"))
        await asyncio.sleep(0.2)  # the second transaction reads "no such workspace" and waits on the key
    found = await second

    assert found.id == made.id
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Workspace)) == 1


async def _get_or_create_in_own_transaction(sessions: Sessions, team_id: str) -> WorkspaceRecord:
    async with transaction(sessions) as session:
        record = await WorkspaceRepo(session).get_or_create(team_id)
        await WorkspaceRepo(session).find(team_id)  # the transaction is still usable after losing the race
        return record


async def test_a_batch_of_outcomes_is_written_in_one_statement_and_read_back_fresh(sessions: Sessions) -> None:
    _, connection_id = await _workspace_and_connection(sessions)
    async with transaction(sessions) as session:
        repo = LedgerRepo(session, connection_id)
        await repo.touch([_facts("inv-1"), _facts("inv-2"), _facts("inv-3")], run_id=1)
        pending = PendingDocument("r1", "D1", vendor_id="58", worker_name="Maria", amount=Decimal(10), currency="USD")
        repo.mark_pending("inv-1", pending)
        # The rows are held (and inv-1 changed) in this transaction: the statement must not lose that change, and a
        # read after it must not answer from the stale rows.
        await repo.record_created_many(
            [
                CreatedDocument("inv-1", "151", pdf_pending=True, home=Decimal("10.00")),
                CreatedDocument("inv-2", "152", pdf_pending=False, home=None),
            ]
        )
        seen_inside = await repo.get_many(["inv-1", "inv-2", "inv-3"])
        await repo.record_attachments([("inv-1", "900")])
        postings = PostingRepo(session, connection_id)
        await postings.touch([("inv-1", PostingKind.PAYMENT), ("inv-2", PostingKind.PAYMENT)], run_id=1)
        await postings.record_done_many([(("inv-1", PostingKind.PAYMENT), "77", Decimal("10.00"))])
    assert seen_inside["inv-1"].state == InvoiceState.CREATED and seen_inside["inv-1"].request_id == "r1"
    assert seen_inside["inv-2"].qbo_bill_id == "152"
    async with sessions() as session:
        entries = await LedgerRepo(session, connection_id).get_many(["inv-1", "inv-2", "inv-3"])
        payments = await PostingRepo(session, connection_id).of_invoices(["inv-1", "inv-2"])
    first, second, third = entries["inv-1"], entries["inv-2"], entries["inv-3"]
    assert (first.state, first.qbo_bill_id, first.attachment_id, first.attachment_pending) == (
        InvoiceState.CREATED, "151", "900", False)  # fmt: skip
    assert first.doc_number == "D1" and first.error_code is None
    assert (second.state, second.qbo_bill_id, second.attachment_pending) == (InvoiceState.CREATED, "152", False)
    assert third.state == InvoiceState.PENDING and third.qbo_bill_id is None, "an invoice not in the batch is untouched"
    paid = payments[("inv-1", PostingKind.PAYMENT)]
    assert (paid.state, paid.qbo_id, paid.home_amount) == (PostingState.DONE, "77", Decimal("10.00"))
    assert payments[("inv-2", PostingKind.PAYMENT)].state == PostingState.PENDING
