"""Small repository functions per aggregate. They take a session and never commit: services own transactions."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.crypto import SecretBox
from storage.models import (
    AuditEvent,
    ConceptMapping,
    Connection,
    ConnectionStatus,
    QboAccount,
    QboOAuthState,
    SyncedInvoice,
    VendorLink,
    WebhookDelivery,
    Workspace,
    utcnow,
)

OAUTH_STATE_TTL = timedelta(minutes=10)


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


# --- workspaces -------------------------------------------------------------------------------------------


async def get_or_create_workspace(
    session: AsyncSession, team_id: str, enterprise_id: str | None = None, team_name: str = ""
) -> Workspace:
    enterprise = enterprise_id or ""
    found = await session.scalar(
        select(Workspace).where(Workspace.team_id == team_id, Workspace.enterprise_id == enterprise)
    )
    if found is not None:
        if found.uninstalled_at is not None:
            found.uninstalled_at = None
        return found
    workspace = Workspace(team_id=team_id, enterprise_id=enterprise, team_name=team_name, admin_user_ids=[])
    session.add(workspace)
    await session.flush()
    return workspace


async def find_workspace(session: AsyncSession, team_id: str, enterprise_id: str | None = None) -> Workspace | None:
    return await session.scalar(
        select(Workspace).where(Workspace.team_id == team_id, Workspace.enterprise_id == (enterprise_id or ""))
    )


async def get_workspace(session: AsyncSession, workspace_id: int) -> Workspace | None:
    return await session.get(Workspace, workspace_id)


# --- connections ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredQboTokens:
    access_token: str
    refresh_token: str
    access_expires_at: datetime | None
    refresh_expires_at: datetime | None
    version: int

    def __repr__(self) -> str:
        return f"StoredQboTokens(version={self.version}, access_expires_at={self.access_expires_at})"


async def active_connections(session: AsyncSession, workspace_id: int | None = None) -> Sequence[Connection]:
    query = select(Connection).where(
        Connection.status.in_([ConnectionStatus.ACTIVE, ConnectionStatus.NEEDS_REAUTH, ConnectionStatus.PENDING])
    )
    if workspace_id is not None:
        query = query.where(Connection.workspace_id == workspace_id)
    return (await session.scalars(query.order_by(Connection.id))).all()


async def current_connection(session: AsyncSession, workspace_id: int) -> Connection | None:
    """The workspace's newest connection that is not disconnected."""
    connections = await active_connections(session, workspace_id)
    return connections[-1] if connections else None


async def get_connection(session: AsyncSession, connection_id: int, *, for_update: bool = False) -> Connection | None:
    query = select(Connection).where(Connection.id == connection_id)
    if for_update:
        query = query.with_for_update()
    return await session.scalar(query)


async def connection_for_realm(session: AsyncSession, workspace_id: int, realm_id: str) -> Connection | None:
    return await session.scalar(
        select(Connection).where(
            Connection.workspace_id == workspace_id,
            Connection.realm_id == realm_id,
            Connection.status != ConnectionStatus.DISCONNECTED,
        )
    )


def store_qbo_tokens(
    connection: Connection,
    box: SecretBox,
    access_token: str,
    refresh_token: str,
    access_expires_at: datetime | None,
    refresh_expires_at: datetime | None,
) -> None:
    connection.qbo_tokens_encrypted = box.encrypt_json({"access_token": access_token, "refresh_token": refresh_token})
    connection.access_expires_at = access_expires_at
    connection.refresh_expires_at = refresh_expires_at
    connection.token_version = (connection.token_version or 0) + 1


def read_qbo_tokens(connection: Connection, box: SecretBox) -> StoredQboTokens | None:
    if not connection.qbo_tokens_encrypted:
        return None
    data = box.decrypt_json(connection.qbo_tokens_encrypted)
    return StoredQboTokens(
        access_token=data["access_token"],
        refresh_token=data["refresh_token"],
        access_expires_at=connection.access_expires_at,
        refresh_expires_at=connection.refresh_expires_at,
        version=connection.token_version,
    )


def store_ontop_credentials(connection: Connection, box: SecretBox, credentials: dict[str, str]) -> None:
    connection.ontop_credentials_encrypted = box.encrypt_json(credentials)


def read_ontop_credentials(connection: Connection, box: SecretBox) -> dict[str, str] | None:
    if not connection.ontop_credentials_encrypted:
        return None
    return {key: str(value) for key, value in box.decrypt_json(connection.ontop_credentials_encrypted).items()}


def issue_webhook_token(connection: Connection) -> str:
    """A new random path token for the connection's Ontop webhook URL; only its hash is stored."""
    token = secrets.token_urlsafe(32)
    connection.ontop_webhook_token_hash = sha256_hex(token)
    return token


async def connection_for_webhook_token(session: AsyncSession, token: str) -> Connection | None:
    return await session.scalar(
        select(Connection).where(
            Connection.ontop_webhook_token_hash == sha256_hex(token),
            Connection.status != ConnectionStatus.DISCONNECTED,
        )
    )


async def forget_connection_data(session: AsyncSession, connection: Connection) -> None:
    """Disconnect: drop secrets, mapping and account cache. The ledger stays: it is what prevents double bills."""
    connection.status = ConnectionStatus.DISCONNECTED
    connection.qbo_tokens_encrypted = None
    connection.ontop_credentials_encrypted = None
    connection.ontop_webhook_secret_encrypted = None
    connection.ontop_webhook_token_hash = None
    connection.disconnected_at = utcnow()
    await session.execute(delete(ConceptMapping).where(ConceptMapping.connection_id == connection.id))
    await session.execute(delete(QboAccount).where(QboAccount.connection_id == connection.id))


# --- accounts and mappings --------------------------------------------------------------------------------


async def replace_accounts(session: AsyncSession, connection_id: int, accounts: Sequence[dict[str, Any]]) -> None:
    await session.execute(delete(QboAccount).where(QboAccount.connection_id == connection_id))
    session.add_all(QboAccount(connection_id=connection_id, **account) for account in accounts)
    await session.execute(
        update(Connection).where(Connection.id == connection_id).values(accounts_refreshed_at=utcnow())
    )


async def list_accounts(session: AsyncSession, connection_id: int, search: str = "") -> Sequence[QboAccount]:
    query = select(QboAccount).where(QboAccount.connection_id == connection_id, QboAccount.active.is_(True))
    if search:
        query = query.where(QboAccount.fully_qualified_name.ilike(f"%{search}%"))
    return (await session.scalars(query.order_by(QboAccount.fully_qualified_name))).all()


async def get_mappings(session: AsyncSession, connection_id: int) -> dict[str, ConceptMapping]:
    rows = await session.scalars(select(ConceptMapping).where(ConceptMapping.connection_id == connection_id))
    return {row.concept: row for row in rows}


async def set_mapping(
    session: AsyncSession, connection_id: int, concept: str, account_id: str, account_name: str, user_id: str | None
) -> None:
    existing = await session.scalar(
        select(ConceptMapping).where(ConceptMapping.connection_id == connection_id, ConceptMapping.concept == concept)
    )
    if existing is None:
        session.add(
            ConceptMapping(
                connection_id=connection_id,
                concept=concept,
                qbo_account_id=account_id,
                account_name=account_name,
                mapped_by=user_id,
            )
        )
    else:
        existing.qbo_account_id = account_id
        existing.account_name = account_name
        existing.mapped_by = user_id
        existing.mapped_at = utcnow()


# --- vendor links -----------------------------------------------------------------------------------------


async def get_vendor_links(session: AsyncSession, connection_id: int) -> dict[str, VendorLink]:
    rows = await session.scalars(select(VendorLink).where(VendorLink.connection_id == connection_id))
    return {row.agreement_id: row for row in rows}


async def add_vendor_link(
    session: AsyncSession,
    connection_id: int,
    agreement_id: str,
    qbo_vendor_id: str,
    display_name: str,
    linked_by: str,
    *,
    worker_email: str | None = None,
    created_by_bot: bool = False,
) -> VendorLink:
    link = VendorLink(
        connection_id=connection_id,
        agreement_id=agreement_id,
        qbo_vendor_id=qbo_vendor_id,
        display_name=display_name,
        linked_by=linked_by,
        worker_email=worker_email,
        created_by_bot=created_by_bot,
    )
    session.add(link)
    await session.flush()
    return link


# --- the ledger -------------------------------------------------------------------------------------------


async def ledger_rows(
    session: AsyncSession, connection_id: int, invoice_ids: Sequence[str]
) -> dict[str, SyncedInvoice]:
    if not invoice_ids:
        return {}
    rows = await session.scalars(
        select(SyncedInvoice).where(
            SyncedInvoice.connection_id == connection_id, SyncedInvoice.ontop_invoice_id.in_(list(invoice_ids))
        )
    )
    return {row.ontop_invoice_id: row for row in rows}


async def ledger_by_state(session: AsyncSession, connection_id: int, state: str) -> Sequence[SyncedInvoice]:
    return (
        await session.scalars(
            select(SyncedInvoice)
            .where(SyncedInvoice.connection_id == connection_id, SyncedInvoice.state == state)
            .order_by(SyncedInvoice.id)
        )
    ).all()


# --- audit ------------------------------------------------------------------------------------------------


def record_audit(
    session: AsyncSession,
    workspace_id: int,
    actor: str,
    action: str,
    connection_id: int | None = None,
    **detail: Any,
) -> None:
    session.add(
        AuditEvent(workspace_id=workspace_id, connection_id=connection_id, actor=actor, action=action, detail=detail)
    )


# --- QBO OAuth state --------------------------------------------------------------------------------------


async def issue_qbo_state(session: AsyncSession, workspace_id: int, user_id: str, now: datetime | None = None) -> str:
    state = secrets.token_urlsafe(32)
    session.add(
        QboOAuthState(
            state_hash=sha256_hex(state),
            workspace_id=workspace_id,
            user_id=user_id,
            expires_at=(now or utcnow()) + OAUTH_STATE_TTL,
        )
    )
    await session.flush()
    return state


async def consume_qbo_state(session: AsyncSession, state: str, now: datetime | None = None) -> QboOAuthState | None:
    """The state's owner if it is known, unexpired and unused; it can never be used again."""
    row = await session.scalar(
        select(QboOAuthState).where(QboOAuthState.state_hash == sha256_hex(state)).with_for_update()
    )
    moment = now or utcnow()
    if row is None or row.used_at is not None or row.expires_at <= moment:
        return None
    row.used_at = moment
    return row


# --- webhook deliveries -----------------------------------------------------------------------------------


class DeliveryOrderStore:
    """Ontop webhook deliveries already seen for one connection: the newest order per key (sync.ontop.webhooks
    WebhookSeenStore). The row is locked while compared, so concurrent deliveries of one event see each other."""

    def __init__(self, session: AsyncSession, connection_id: int) -> None:
        self._session = session
        self._connection_id = connection_id

    async def remember(self, key: str, order: Decimal) -> Decimal | None:
        row = await self._session.scalar(
            select(WebhookDelivery)
            .where(WebhookDelivery.connection_id == self._connection_id, WebhookDelivery.event_key == key[:255])
            .with_for_update()
        )
        if row is None:
            self._session.add(
                WebhookDelivery(connection_id=self._connection_id, event_key=key[:255], order_value=order)
            )
            await self._session.flush()
            return None
        previous = row.order_value if row.order_value is not None else Decimal(0)
        row.order_value = max(previous, order)
        return previous


# --- key rotation -----------------------------------------------------------------------------------------

ENCRYPTED_CONNECTION_FIELDS = ("qbo_tokens_encrypted", "ontop_credentials_encrypted", "ontop_webhook_secret_encrypted")


async def rotate_connection_secrets(session: AsyncSession, box: SecretBox) -> int:
    """Re-encrypt every stored connection secret under the newest key; returns how many values changed."""
    rotated = 0
    for connection in (await session.scalars(select(Connection).with_for_update())).all():
        for field in ENCRYPTED_CONNECTION_FIELDS:
            value = getattr(connection, field)
            if value:
                setattr(connection, field, box.rotate(value))
                rotated += 1
    return rotated


async def pending_attachments(session: AsyncSession, connection_id: int, limit: int) -> Sequence[SyncedInvoice]:
    """Bills whose invoice PDF is not attached yet (an upload failed earlier)."""
    return (
        await session.scalars(
            select(SyncedInvoice)
            .where(
                SyncedInvoice.connection_id == connection_id,
                SyncedInvoice.state == "created",
                SyncedInvoice.attachment_pending.is_(True),
            )
            .order_by(SyncedInvoice.id)
            .limit(limit)
        )
    ).all()
