"""Plain, frozen records the repositories return: nothing outside storage/ ever holds an ORM row.

A record is a snapshot taken inside its session; changing the database goes through a repository method.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from storage.models import (
    ConceptMapping,
    Connection,
    LedgerPosting,
    Notification,
    QboAccount,
    QboClass,
    QboDepartment,
    QboTaxCode,
    Review,
    ReviewItem,
    SyncedInvoice,
    SyncRun,
    VendorLink,
    WorkerTracking,
    Workspace,
)


@dataclass(frozen=True)
class WorkspaceRecord:
    id: int
    team_id: str
    enterprise_id: str  # "" outside Enterprise Grid
    team_name: str
    finance_channel_id: str | None
    sync_hour: int
    timezone: str
    admin_user_ids: tuple[str, ...]
    auto_create_vendors: bool
    installed_by: str | None
    uninstalled_at: datetime | None

    @classmethod
    def of(cls, row: Workspace) -> WorkspaceRecord:
        return cls(
            id=row.id,
            team_id=row.team_id,
            enterprise_id=row.enterprise_id or "",
            team_name=row.team_name or "",
            finance_channel_id=row.finance_channel_id,
            sync_hour=row.sync_hour,
            timezone=row.timezone,
            admin_user_ids=tuple(row.admin_user_ids or ()),
            auto_create_vendors=row.auto_create_vendors,
            installed_by=row.installed_by,
            uninstalled_at=row.uninstalled_at,
        )


@dataclass(frozen=True)
class ConnectionRecord:
    """A workspace's link to one QBO company and one Ontop account (secrets stay in the database)."""

    id: int
    workspace_id: int
    status: str
    realm_id: str
    company_name: str
    home_currency: str
    multicurrency_enabled: bool
    has_qbo_tokens: bool
    ontop_connected: bool
    has_webhook_secret: bool
    token_version: int
    access_expires_at: datetime | None
    refresh_expires_at: datetime | None
    watermark: datetime | None
    backfill_from: datetime | None
    accounts_refreshed_at: datetime | None
    first_sync_enqueued: bool
    default_account_id: str | None
    connected_by: str | None
    last_error: str | None
    disconnected_at: datetime | None
    company_country: str = "USA"
    payments_enabled: bool = True
    pay_from_account_id: str | None = None
    fees_on_contractor_bill: bool = False
    supplier_currency: str = "contract"
    ap_account_ids: tuple[tuple[str, str], ...] = ()  # (currency, A/P account id) chosen by an admin
    ontop_vendor_id: str | None = None
    default_tax_code_id: str | None = None
    review_first_sync: bool = True
    review_later_runs: bool = False
    review_over_bills: int | None = None
    review_over_usd: Decimal | None = None
    class_tracking: bool = False  # Preferences: ClassTrackingPerLine, as last read
    track_departments: bool = False  # Preferences: TrackDepartments, as last read
    name: str = ""  # the short name people use in commands ("acme-us")
    finance_channel_id: str | None = None  # None: the workspace's
    sync_hour: int | None = None  # None: the workspace's
    timezone: str | None = None  # None: the workspace's

    @classmethod
    def of(cls, row: Connection) -> ConnectionRecord:
        return cls(
            id=row.id,
            workspace_id=row.workspace_id,
            status=row.status,
            realm_id=row.realm_id,
            company_name=row.company_name or "",
            home_currency=row.home_currency,
            multicurrency_enabled=row.multicurrency_enabled,
            has_qbo_tokens=row.qbo_tokens_encrypted is not None,
            ontop_connected=row.ontop_credentials_encrypted is not None,
            has_webhook_secret=row.ontop_webhook_secret_encrypted is not None,
            token_version=row.token_version or 0,
            access_expires_at=row.access_expires_at,
            refresh_expires_at=row.refresh_expires_at,
            watermark=row.watermark,
            backfill_from=row.backfill_from,
            accounts_refreshed_at=row.accounts_refreshed_at,
            first_sync_enqueued=row.first_sync_enqueued,
            default_account_id=row.default_account_id,
            connected_by=row.connected_by,
            last_error=row.last_error,
            disconnected_at=row.disconnected_at,
            company_country=row.company_country or "USA",
            payments_enabled=row.payments_enabled,
            pay_from_account_id=row.pay_from_account_id,
            fees_on_contractor_bill=row.fees_on_contractor_bill,
            supplier_currency=row.supplier_currency,
            ap_account_ids=tuple(sorted((str(k), str(v)) for k, v in (row.ap_account_ids or {}).items())),
            ontop_vendor_id=row.ontop_vendor_id,
            default_tax_code_id=row.default_tax_code_id,
            review_first_sync=row.review_first_sync,
            review_later_runs=row.review_later_runs,
            review_over_bills=row.review_over_bills,
            review_over_usd=row.review_over_usd,
            class_tracking=bool(row.class_tracking),
            track_departments=bool(row.track_departments),
            name=row.name or "",
            finance_channel_id=row.finance_channel_id,
            sync_hour=row.sync_hour,
            timezone=row.timezone,
        )


@dataclass(frozen=True)
class AccountRecord:
    qbo_id: str
    name: str
    fully_qualified_name: str
    account_type: str
    currency: str | None
    active: bool

    @classmethod
    def of(cls, row: QboAccount) -> AccountRecord:
        return cls(row.qbo_id, row.name, row.fully_qualified_name, row.account_type, row.currency, row.active)


@dataclass(frozen=True)
class TaxCodeRecord:
    qbo_id: str
    name: str
    active: bool
    rate: Decimal | None

    @classmethod
    def of(cls, row: QboTaxCode) -> TaxCodeRecord:
        return cls(row.qbo_id, row.name, row.active, row.rate)


@dataclass(frozen=True)
class MappingRecord:
    concept: str
    qbo_account_id: str
    account_name: str
    mapped_by: str | None
    mapped_at: datetime
    tax_code_id: str | None = None
    class_id: str | None = None  # the concept's QBO Class, when the company tracks classes
    class_name: str | None = None

    @classmethod
    def of(cls, row: ConceptMapping) -> MappingRecord:
        return cls(
            row.concept,
            row.qbo_account_id,
            row.account_name,
            row.mapped_by,
            row.mapped_at,
            row.tax_code_id,
            row.class_id,
            row.class_name,
        )


@dataclass(frozen=True)
class TrackingOptionRecord:
    """A cached QBO Class or Department (location)."""

    qbo_id: str
    name: str
    fully_qualified_name: str
    active: bool = True

    @classmethod
    def of(cls, row: QboClass | QboDepartment) -> TrackingOptionRecord:
        return cls(row.qbo_id, row.name, row.fully_qualified_name, row.active)


@dataclass(frozen=True)
class WorkerTrackingRecord:
    """A worker's class and location (by Ontop contract id); None: not set."""

    agreement_id: str
    class_id: str | None = None
    class_name: str | None = None
    department_id: str | None = None
    department_name: str | None = None

    @classmethod
    def of(cls, row: WorkerTracking) -> WorkerTrackingRecord:
        return cls(row.agreement_id, row.class_id, row.class_name, row.department_id, row.department_name)


@dataclass(frozen=True)
class VendorLinkRecord:
    agreement_id: str
    worker_email: str | None
    qbo_vendor_id: str
    display_name: str
    linked_by: str
    created_by_bot: bool
    currency: str = ""  # the supplier's currency; "" for links made before currencies were recorded

    @classmethod
    def of(cls, row: VendorLink) -> VendorLinkRecord:
        return cls(
            row.agreement_id,
            row.worker_email,
            row.qbo_vendor_id,
            row.display_name,
            row.linked_by,
            row.created_by_bot,
            row.currency or "",
        )


@dataclass(frozen=True)
class LedgerEntry:
    """One Ontop invoice as the ledger knows it (see storage.models.SyncedInvoice)."""

    connection_id: int
    invoice_id: str
    invoice_number: str
    agreement_id: str | None
    worker_name: str | None
    state: str
    qbo_bill_id: str | None
    doc_number: str | None
    request_id: str | None
    attachment_id: str | None
    attachment_pending: bool
    qbo_vendor_id: str | None
    generation: int
    amount: Decimal | None
    currency: str | None
    ontop_status: str | None
    ontop_updated_at: datetime | None
    error_code: str | None
    error_message: str | None
    fix_action: str | None
    fix_value: str | None
    attempts: int
    last_run_id: int | None
    document: str = "bill"
    usd_total: Decimal | None = None
    paid_on: date | None = None
    home_amount_expected: Decimal | None = None
    home_amount_booked: Decimal | None = None

    @property
    def home_difference(self) -> Decimal | None:
        """Booked minus expected home amount, when both are known (never silent: summaries and reconcile say it)."""
        if self.home_amount_expected is None or self.home_amount_booked is None:
            return None
        return self.home_amount_booked - self.home_amount_expected

    @classmethod
    def of(cls, row: SyncedInvoice) -> LedgerEntry:
        return cls(
            connection_id=row.connection_id,
            invoice_id=row.ontop_invoice_id,
            invoice_number=row.invoice_number,
            agreement_id=row.agreement_id,
            worker_name=row.worker_name,
            state=row.state,
            qbo_bill_id=row.qbo_bill_id,
            doc_number=row.doc_number,
            request_id=row.request_id,
            attachment_id=row.attachment_id,
            attachment_pending=row.attachment_pending,
            qbo_vendor_id=row.qbo_vendor_id,
            generation=row.generation or 0,
            amount=row.amount,
            currency=row.currency,
            ontop_status=row.ontop_status,
            ontop_updated_at=row.ontop_updated_at,
            error_code=row.error_code,
            error_message=row.error_message,
            fix_action=row.fix_action,
            fix_value=row.fix_value,
            attempts=row.attempts or 0,
            last_run_id=row.last_run_id,
            document=row.document or "bill",
            usd_total=row.usd_total,
            paid_on=row.paid_on,
            home_amount_expected=row.home_amount_expected,
            home_amount_booked=row.home_amount_booked,
        )


@dataclass(frozen=True)
class PostingRecord:
    """A fee bill or a payment of an invoice (storage.models.LedgerPosting)."""

    invoice_id: str
    kind: str
    state: str
    request_id: str | None
    generation: int
    qbo_id: str | None
    paid_bill_id: str | None
    doc_number: str | None
    vendor_id: str | None
    amount: Decimal | None
    currency: str | None
    home_amount: Decimal | None
    error_code: str | None
    error_message: str | None
    last_run_id: int | None

    @classmethod
    def of(cls, row: LedgerPosting) -> PostingRecord:
        return cls(
            invoice_id=row.invoice_id,
            kind=row.kind,
            state=row.state,
            request_id=row.request_id,
            generation=row.generation or 0,
            qbo_id=row.qbo_id,
            paid_bill_id=row.paid_bill_id,
            doc_number=row.doc_number,
            vendor_id=row.vendor_id,
            amount=row.amount,
            currency=row.currency,
            home_amount=row.home_amount,
            error_code=row.error_code,
            error_message=row.error_message,
            last_run_id=row.last_run_id,
        )


@dataclass(frozen=True)
class RunRecord:
    """One row of the queue/history of sync runs."""

    id: int
    connection_id: int
    trigger: str
    requested_by: str | None
    status: str
    not_before: datetime
    lease_owner: str | None
    lease_until: datetime | None
    attempt: int
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    invoices_seen: int
    bills_created: int
    already_synced: int
    skipped: int
    failed: int
    vendors_created: int
    payments_created: int
    fee_bills_created: int
    credits_created: int
    home_differences: int
    review_cases: int
    held: int
    api_calls: int
    progress_channel: str | None
    progress_ts: str | None
    watermark_before: datetime | None
    watermark_after: datetime | None
    error_summary: str | None
    scheduled_for: str | None
    review_id: int | None = None
    payments_to_follow: int = 0
    fee_bills_to_follow: int = 0
    pdfs_to_follow: int = 0
    follow_up_run_id: int | None = None
    attachments_created: int = 0

    @classmethod
    def of(cls, row: SyncRun) -> RunRecord:
        values: dict[str, Any] = {name: getattr(row, name) for name in cls.__dataclass_fields__}
        return cls(**values)


@dataclass(frozen=True)
class NotificationRecord:
    """One message of the outbox and how far its delivery got."""

    id: int
    workspace_id: int
    connection_id: int | None
    kind: str
    key: str
    run_id: int | None
    payload: dict[str, Any]
    state: str
    attempts: int
    next_attempt_at: datetime
    channel_id: str | None
    ts: str | None
    post_started_at: datetime | None
    reply_ts: str | None
    pages_posted: int
    file_posted: bool
    fell_back: str | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None

    @classmethod
    def of(cls, row: Notification) -> NotificationRecord:
        values: dict[str, Any] = {name: getattr(row, name) for name in cls.__dataclass_fields__}
        values["payload"] = dict(row.payload or {})
        return cls(**values)


@dataclass(frozen=True)
class ReviewRecord:
    """A posting waiting for (or decided by) an admin (storage.models.Review)."""

    id: int
    connection_id: int
    run_id: int | None
    state: str
    requested_by: str | None
    vendors_to_create: int
    vendors_to_link: int
    blocked: tuple[dict[str, Any], ...]
    created_at: datetime
    expires_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    posted_run_id: int | None

    @classmethod
    def of(cls, row: Review) -> ReviewRecord:
        values: dict[str, Any] = {name: getattr(row, name) for name in cls.__dataclass_fields__}
        values["blocked"] = tuple(dict(group) for group in row.blocked or [])
        return cls(**values)


@dataclass(frozen=True)
class ReviewItemRecord:
    """One invoice of a review as it was when the review was made."""

    invoice_id: str
    invoice_number: str
    agreement_id: str | None
    worker_name: str
    amount: Decimal
    currency: str
    amount_usd: Decimal | None
    ontop_updated_at: datetime
    excluded: bool

    @classmethod
    def of(cls, row: ReviewItem) -> ReviewItemRecord:
        values: dict[str, Any] = {name: getattr(row, name) for name in cls.__dataclass_fields__}
        return cls(**values)
