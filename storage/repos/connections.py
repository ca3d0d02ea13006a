"""Connections: one QBO company and one Ontop account for a workspace, with their secrets encrypted at rest."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Result, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.crypto import SecretBox
from storage.models import (
    ConceptMapping,
    Connection,
    ConnectionStatus,
    QboAccount,
    QboClass,
    QboDepartment,
    QboTaxCode,
    WorkerTracking,
    Workspace,
    utcnow,
)
from storage.records import ConnectionRecord

OPEN_STATUSES = (ConnectionStatus.ACTIVE, ConnectionStatus.NEEDS_REAUTH, ConnectionStatus.PENDING)
ENCRYPTED_FIELDS = ("qbo_tokens_encrypted", "ontop_credentials_encrypted", "ontop_webhook_secret_encrypted")


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def rowcount(result: Result[Any]) -> int:
    """How many rows a DELETE or UPDATE touched (a CursorResult's rowcount; 0 when the driver does not say)."""
    count = getattr(result, "rowcount", 0)
    return int(count) if isinstance(count, int) and count > 0 else 0


@dataclass(frozen=True)
class StoredQboTokens:
    access_token: str
    refresh_token: str
    access_expires_at: datetime | None
    refresh_expires_at: datetime | None
    version: int

    def __repr__(self) -> str:
        return f"StoredQboTokens(version={self.version}, access_expires_at={self.access_expires_at})"


@dataclass(frozen=True)
class DailySchedule:
    """A connection's daily sync setting: its own, else its workspace's."""

    connection_id: int
    sync_hour: int
    timezone: str


class ConnectionRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # --- reading ------------------------------------------------------------------------------------------

    async def _row(self, connection_id: int, *, for_update: bool = False) -> Connection | None:
        query = select(Connection).where(Connection.id == connection_id)
        if for_update:
            query = query.with_for_update()
        return await self._session.scalar(query.execution_options(populate_existing=True))

    async def _existing(self, connection_id: int) -> Connection:
        row = await self._row(connection_id)
        if row is None:
            raise LookupError(f"connection {connection_id} does not exist")
        return row

    async def get(self, connection_id: int, *, for_update: bool = False) -> ConnectionRecord | None:
        """The connection; for_update locks its row until the transaction ends (PostgreSQL)."""
        row = await self._row(connection_id, for_update=for_update)
        return ConnectionRecord.of(row) if row is not None else None

    async def list_open(self, workspace_id: int | None = None) -> list[ConnectionRecord]:
        """Connections that are not disconnected, oldest first."""
        query = select(Connection).where(Connection.status.in_(OPEN_STATUSES))
        if workspace_id is not None:
            query = query.where(Connection.workspace_id == workspace_id)
        return [ConnectionRecord.of(row) for row in await self._session.scalars(query.order_by(Connection.id))]

    async def current(self, workspace_id: int) -> ConnectionRecord | None:
        """The workspace's newest connection that is not disconnected."""
        connections = await self.list_open(workspace_id)
        return connections[-1] if connections else None

    async def get_open_by_name(self, workspace_id: int, name: str) -> ConnectionRecord | None:
        """The workspace's open connection with this short name."""
        row = await self._session.scalar(
            select(Connection).where(
                Connection.workspace_id == workspace_id,
                Connection.name == name,
                Connection.status.in_(OPEN_STATUSES),
            )
        )
        return ConnectionRecord.of(row) if row is not None else None

    async def for_realm(self, workspace_id: int, realm_id: str) -> ConnectionRecord | None:
        row = await self._session.scalar(
            select(Connection).where(
                Connection.workspace_id == workspace_id,
                Connection.realm_id == realm_id,
                Connection.status != ConnectionStatus.DISCONNECTED,
            )
        )
        return ConnectionRecord.of(row) if row is not None else None

    async def is_realm_open_elsewhere(self, workspace_id: int, realm_id: str) -> bool:
        """Whether another workspace holds this QuickBooks company in a connection that is not disconnected."""
        found = await self._session.scalar(
            select(Connection.id)
            .where(
                Connection.workspace_id != workspace_id,
                Connection.realm_id == realm_id,
                Connection.status.in_(OPEN_STATUSES),
            )
            .limit(1)
        )
        return found is not None

    async def for_webhook_token(self, token: str) -> ConnectionRecord | None:
        """The connection whose Ontop webhook path carries this token (only its hash is stored)."""
        row = await self._session.scalar(
            select(Connection).where(
                Connection.ontop_webhook_token_hash == sha256_hex(token),
                Connection.status != ConnectionStatus.DISCONNECTED,
            )
        )
        return ConnectionRecord.of(row) if row is not None else None

    async def list_daily_schedules(self) -> list[DailySchedule]:
        """Connections that get a daily run: active, installed, and past their first sync."""
        rows = await self._session.execute(
            select(
                Connection.id,
                func.coalesce(Connection.sync_hour, Workspace.sync_hour),
                func.coalesce(Connection.timezone, Workspace.timezone),
            )
            .join(Workspace, Workspace.id == Connection.workspace_id)
            .where(
                Connection.status == ConnectionStatus.ACTIVE,
                Connection.first_sync_enqueued.is_(True),
                Workspace.uninstalled_at.is_(None),
            )
            .order_by(Connection.id)
        )
        return [DailySchedule(connection_id=row[0], sync_hour=row[1], timezone=row[2]) for row in rows]

    # --- creating and describing ----------------------------------------------------------------------------

    async def create(self, workspace_id: int, realm_id: str, name: str = "") -> ConnectionRecord:
        row = Connection(workspace_id=workspace_id, realm_id=realm_id, token_version=0, name=name)
        self._session.add(row)
        await self._session.flush()
        return ConnectionRecord.of(row)

    async def save_name(self, connection_id: int, name: str) -> ConnectionRecord:
        """Rename; the database refuses a name another open connection of the workspace has (IntegrityError)."""
        row = await self._existing(connection_id)
        row.name = name
        await self._session.flush()
        return ConnectionRecord.of(row)

    async def save_schedule(
        self, connection_id: int, *, finance_channel_id: str | None, sync_hour: int | None, timezone: str | None
    ) -> ConnectionRecord:
        """The connection's own finance channel and daily hour and time zone (None: the workspace's)."""
        row = await self._existing(connection_id)
        row.finance_channel_id = finance_channel_id
        row.sync_hour = sync_hour
        row.timezone = timezone
        await self._session.flush()
        return ConnectionRecord.of(row)

    async def save_company(
        self, connection_id: int, *, company_name: str, home_currency: str, multicurrency_enabled: bool
    ) -> None:
        row = await self._existing(connection_id)
        row.company_name = company_name
        row.home_currency = home_currency
        row.multicurrency_enabled = multicurrency_enabled

    async def save_preferences(self, connection_id: int, *, home_currency: str, multicurrency_enabled: bool) -> None:
        row = await self._existing(connection_id)
        row.home_currency = home_currency
        row.multicurrency_enabled = multicurrency_enabled

    async def save_country(self, connection_id: int, country: str) -> None:
        row = await self._existing(connection_id)
        row.company_country = (country or "USA").upper()[:3]

    async def save_books(
        self,
        connection_id: int,
        *,
        payments_enabled: bool,
        pay_from_account_id: str | None,
        fees_on_contractor_bill: bool,
        supplier_currency: str,
        ap_account_ids: dict[str, str],
        default_tax_code_id: str | None,
    ) -> ConnectionRecord:
        """How invoices are booked (docs/accounting.md), as an admin chose it."""
        row = await self._existing(connection_id)
        row.payments_enabled = payments_enabled
        row.pay_from_account_id = pay_from_account_id
        row.fees_on_contractor_bill = fees_on_contractor_bill
        row.supplier_currency = supplier_currency
        row.ap_account_ids = dict(ap_account_ids)
        row.default_tax_code_id = default_tax_code_id
        await self._session.flush()
        return ConnectionRecord.of(row)

    async def save_review_settings(
        self,
        connection_id: int,
        *,
        first_sync: bool,
        later_runs: bool,
        over_bills: int | None,
        over_usd: Decimal | None,
    ) -> ConnectionRecord:
        """When a run waits for an admin's approval before posting (sync/review.py)."""
        row = await self._existing(connection_id)
        row.review_first_sync = first_sync
        row.review_later_runs = later_runs
        row.review_over_bills = over_bills
        row.review_over_usd = over_usd
        await self._session.flush()
        return ConnectionRecord.of(row)

    async def set_ontop_vendor(self, connection_id: int, vendor_id: str) -> None:
        row = await self._existing(connection_id)
        row.ontop_vendor_id = vendor_id

    # --- status ---------------------------------------------------------------------------------------------

    async def mark_connected_to_qbo(self, connection_id: int, user_id: str) -> ConnectionRecord:
        """QuickBooks authorised (again): active when Ontop is connected too, else pending."""
        row = await self._existing(connection_id)
        row.connected_by = user_id
        row.last_error = None
        row.status = ConnectionStatus.ACTIVE if row.ontop_credentials_encrypted else ConnectionStatus.PENDING
        await self._session.flush()
        return ConnectionRecord.of(row)

    async def mark_needs_reauth(self, connection_id: int, reason: str) -> bool:
        """QuickBooks refused us; False when the connection is gone or disconnected."""
        row = await self._row(connection_id, for_update=True)
        if row is None or row.status == ConnectionStatus.DISCONNECTED:
            return False
        row.status = ConnectionStatus.NEEDS_REAUTH
        row.last_error = reason
        return True

    async def mark_first_sync_enqueued(self, connection_id: int) -> None:
        row = await self._existing(connection_id)
        row.first_sync_enqueued = True
        await self._session.flush()

    async def set_backfill(self, connection_id: int, backfill_from: datetime, *, only_if_unset: bool = False) -> None:
        row = await self._existing(connection_id)
        if not (only_if_unset and row.backfill_from is not None):
            row.backfill_from = backfill_from

    async def set_watermark(self, connection_id: int, watermark: datetime | None) -> None:
        row = await self._row(connection_id)
        if row is not None:
            row.watermark = watermark

    async def forget(self, connection_id: int) -> None:
        """Disconnect: drop secrets, mapping and account cache. The ledger stays: it prevents double bills."""
        row = await self._existing(connection_id)
        row.status = ConnectionStatus.DISCONNECTED
        row.qbo_tokens_encrypted = None
        row.ontop_credentials_encrypted = None
        row.ontop_webhook_secret_encrypted = None
        row.ontop_webhook_token_hash = None
        row.disconnected_at = utcnow()
        await self._session.execute(delete(ConceptMapping).where(ConceptMapping.connection_id == connection_id))
        await self._session.execute(delete(QboAccount).where(QboAccount.connection_id == connection_id))
        await self._session.execute(delete(QboTaxCode).where(QboTaxCode.connection_id == connection_id))
        for tracking in (QboClass, QboDepartment, WorkerTracking):  # classes and locations go with the mapping
            await self._session.execute(delete(tracking).where(tracking.connection_id == connection_id))

    # --- secrets --------------------------------------------------------------------------------------------

    async def store_qbo_tokens(
        self,
        connection_id: int,
        box: SecretBox,
        *,
        access_token: str,
        refresh_token: str,
        access_expires_at: datetime | None,
        refresh_expires_at: datetime | None,
    ) -> None:
        """Encrypt and keep the newest tokens; token_version tells a worker holding older ones that they changed."""
        row = await self._existing(connection_id)
        row.qbo_tokens_encrypted = box.encrypt_json({"access_token": access_token, "refresh_token": refresh_token})
        row.access_expires_at = access_expires_at
        row.refresh_expires_at = refresh_expires_at
        row.token_version = (row.token_version or 0) + 1

    async def read_qbo_tokens(
        self, connection_id: int, box: SecretBox, *, for_update: bool = False
    ) -> StoredQboTokens | None:
        row = await self._row(connection_id, for_update=for_update)
        if row is None or not row.qbo_tokens_encrypted:
            return None
        data = box.decrypt_json(row.qbo_tokens_encrypted)
        return StoredQboTokens(
            access_token=data["access_token"],
            refresh_token=data["refresh_token"],
            access_expires_at=row.access_expires_at,
            refresh_expires_at=row.refresh_expires_at,
            version=row.token_version,
        )

    async def store_ontop_credentials(
        self, connection_id: int, box: SecretBox, *, email: str, password: str, webhook_secret: str
    ) -> str:
        """Keep the Ontop login and the webhook's signing secret encrypted; returns a new webhook path token (only
        its hash is stored) and marks the connection active."""
        row = await self._existing(connection_id)
        row.ontop_credentials_encrypted = box.encrypt_json({"email": email, "password": password})
        row.ontop_webhook_secret_encrypted = box.encrypt(webhook_secret)
        token = secrets.token_urlsafe(32)
        row.ontop_webhook_token_hash = sha256_hex(token)
        row.status = ConnectionStatus.ACTIVE
        return token

    async def read_ontop_credentials(self, connection_id: int, box: SecretBox) -> dict[str, str] | None:
        row = await self._row(connection_id)
        if row is None or not row.ontop_credentials_encrypted:
            return None
        return {key: str(value) for key, value in box.decrypt_json(row.ontop_credentials_encrypted).items()}

    async def read_webhook_secret(self, connection_id: int, box: SecretBox) -> str | None:
        row = await self._row(connection_id)
        if row is None or not row.ontop_webhook_secret_encrypted:
            return None
        return box.decrypt(row.ontop_webhook_secret_encrypted)

    async def rotate_secrets(self, box: SecretBox) -> int:
        """Re-encrypt every stored connection secret under the newest key; returns how many values changed."""
        rotated = 0
        rows: Sequence[Connection] = (await self._session.scalars(select(Connection).with_for_update())).all()
        for row in rows:
            for field in ENCRYPTED_FIELDS:
                value = getattr(row, field)
                if value:
                    setattr(row, field, box.rotate(value))
                    rotated += 1
        return rotated
