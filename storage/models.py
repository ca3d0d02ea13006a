"""SQLAlchemy 2 models: the data model of docs/architecture (workspaces, connections, ledger, queue, audit)."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Money columns: 18 digits before the point covers COP and ARS totals; amounts are kept to the cent.
Money = Numeric(20, 2, asdecimal=True)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both backends (SQLite stores naive text; PostgreSQL timestamptz)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime(),
        Decimal: Money,
        dict[str, Any]: JSON,
        list[str]: JSON,
    }


class ConnectionStatus(enum.StrEnum):
    PENDING = "pending"  # QBO authorised, Ontop not yet given
    ACTIVE = "active"
    NEEDS_REAUTH = "needs_reauth"
    DISCONNECTED = "disconnected"


class InvoiceState(enum.StrEnum):
    PENDING = "pending"  # ledger written, create in flight or outcome unknown
    CREATED = "created"
    FAILED = "failed"
    SKIPPED = "skipped"


class RunStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE_RUN_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)


class PostingKind(enum.StrEnum):
    """What, besides the invoice's own bill or credit, the bot writes to QuickBooks for an invoice."""

    FEE_BILL = "fee_bill"  # Ontop's fee lines, on a bill to the Ontop supplier
    PAYMENT = "payment"  # the BillPayment of the contractor's bill
    FEE_PAYMENT = "fee_payment"  # the BillPayment of the fee bill


class PostingState(enum.StrEnum):
    PENDING = "pending"  # written down with its requestid before the write is sent; outcome unknown until done
    DONE = "done"  # exists in QuickBooks (qbo_id), or the bill was found paid by someone else (qbo_id empty)
    FAILED = "failed"  # QuickBooks refused it; the next attempt is a new logical write (generation + 1)


class InvoiceDocument(enum.StrEnum):
    BILL = "bill"
    VENDOR_CREDIT = "vendor_credit"  # an invoice whose total is negative


class SupplierCurrency(enum.StrEnum):
    """The currency new suppliers are created in (multicurrency companies)."""

    CONTRACT = "contract"  # the worker's contract currency (home amounts then come from an exchange rate)
    USD = "usd"  # always USD: bills carry Ontop's USD amounts exactly


class RunTrigger(enum.StrEnum):
    FIRST = "first"
    SCHEDULE = "schedule"
    MANUAL = "manual"
    WEBHOOK = "webhook"
    RETRY = "retry"
    APPROVAL = "approval"  # an admin approved a review: the run posts exactly its invoices
    FINISH = "finish"  # queued by a big run that posted bills first: pays, makes fee bills, attaches PDFs


class ReviewState(enum.StrEnum):
    """A posting waiting for a person (the approval gate, sync/review.py)."""

    PENDING = "pending"
    APPROVED = "approved"  # posted by the run in posted_run_id (None while that run is still to come)
    SKIPPED = "skipped"
    EXPIRED = "expired"


class NotificationKind(enum.StrEnum):
    RUN_RESULT = "run_result"  # a finished run's summary (owed by every run that had something to say)
    REAUTH = "reauth"  # the QuickBooks authorization ends soon, or QuickBooks refused it
    REVIEW = "review"  # a posting waits for a person's approval


class NotificationState(enum.StrEnum):
    PENDING = "pending"  # owed; delivered at least once by the outbox
    DELIVERED = "delivered"
    FAILED = "failed"  # nobody could be reached (see last_error); shown in /qbo status


class Workspace(Base):
    __tablename__ = "workspaces"
    __table_args__ = (UniqueConstraint("enterprise_id", "team_id", name="uq_workspaces_enterprise_team"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    enterprise_id: Mapped[str] = mapped_column(String(32), default="")
    team_name: Mapped[str] = mapped_column(String(255), default="")
    finance_channel_id: Mapped[str | None] = mapped_column(String(32))
    sync_hour: Mapped[int] = mapped_column(Integer, default=7)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    admin_user_ids: Mapped[list[str]] = mapped_column(default=list)
    admin_usergroup_id: Mapped[str | None] = mapped_column(String(32))
    auto_create_vendors: Mapped[bool] = mapped_column(Boolean, default=True)
    installed_by: Mapped[str | None] = mapped_column(String(32))
    uninstalled_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Connection(Base):
    """One QBO company (realm) and one Ontop account of a Slack workspace (a workspace may hold several)."""

    __tablename__ = "connections"
    __table_args__ = (
        Index("ix_connections_workspace_status", "workspace_id", "status"),
        # People name a company by its short name in commands: one name, one open connection of the workspace
        # (the product names every connection it makes; rows without a name are not held to it).
        Index(
            "uq_connections_workspace_open_name",
            "workspace_id",
            "name",
            unique=True,
            sqlite_where=text("status != 'disconnected' AND name != ''"),
            postgresql_where=text("status != 'disconnected' AND name != ''"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=ConnectionStatus.PENDING)
    realm_id: Mapped[str] = mapped_column(String(32))
    company_name: Mapped[str] = mapped_column(String(255), default="")
    name: Mapped[str] = mapped_column(String(32), default="")  # the short name in commands, e.g. "acme-us"
    # The connection's own finance channel and daily schedule; None: the workspace's.
    finance_channel_id: Mapped[str | None] = mapped_column(String(32))
    sync_hour: Mapped[int | None] = mapped_column(Integer)
    timezone: Mapped[str | None] = mapped_column(String(64))
    home_currency: Mapped[str] = mapped_column(String(3), default="USD")
    multicurrency_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Encrypted JSON {"access_token", "refresh_token"}; token_version increases on every refresh so that a
    # worker holding an older token knows another one already refreshed.
    qbo_tokens_encrypted: Mapped[str | None] = mapped_column(Text)
    token_version: Mapped[int] = mapped_column(Integer, default=0)
    access_expires_at: Mapped[datetime | None]
    refresh_expires_at: Mapped[datetime | None]
    ontop_credentials_encrypted: Mapped[str | None] = mapped_column(Text)
    ontop_webhook_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    ontop_webhook_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    watermark: Mapped[datetime | None]
    # The first run reads invoices changed since this instant (chosen at connect; default: this month's start).
    backfill_from: Mapped[datetime | None]
    accounts_refreshed_at: Mapped[datetime | None]
    first_sync_enqueued: Mapped[bool] = mapped_column(Boolean, default=False)
    default_account_id: Mapped[str | None] = mapped_column(String(32))  # catches unmapped concepts when set
    # The books (docs/accounting.md): where bills are paid from, where Ontop's fees go, which A/P account.
    company_country: Mapped[str] = mapped_column(String(3), default="USA")  # CompanyInfo.Country, ISO-3
    payments_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    pay_from_account_id: Mapped[str | None] = mapped_column(String(32))  # a Bank or Credit Card account
    fees_on_contractor_bill: Mapped[bool] = mapped_column(Boolean, default=False)
    supplier_currency: Mapped[str] = mapped_column(String(16), default=SupplierCurrency.CONTRACT)
    ap_account_ids: Mapped[dict[str, Any]] = mapped_column(default=dict)  # currency -> the A/P account chosen
    ontop_vendor_id: Mapped[str | None] = mapped_column(String(32))  # the "Ontop" supplier of the fee bills
    default_tax_code_id: Mapped[str | None] = mapped_column(String(64))  # non-US companies: lines need one
    # Preferences.AccountingInfoPrefs as last read (storage/repos/tracking.py): classes per line, locations per bill.
    class_tracking: Mapped[bool] = mapped_column(Boolean, default=False)
    track_departments: Mapped[bool] = mapped_column(Boolean, default=False)
    # The approval gate (sync/review.py): a person approves the first sync, and later runs when asked to (only over
    # a number of bills or an amount in USD, when a threshold is set).
    review_first_sync: Mapped[bool] = mapped_column(Boolean, default=True)
    review_later_runs: Mapped[bool] = mapped_column(Boolean, default=False)
    review_over_bills: Mapped[int | None] = mapped_column(Integer)
    review_over_usd: Mapped[Decimal | None]
    connected_by: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    disconnected_at: Mapped[datetime | None]


class QboAccount(Base):
    """Cached chart of accounts, so the mapping modal answers from here in milliseconds, never from QBO live."""

    __tablename__ = "qbo_accounts"
    __table_args__ = (UniqueConstraint("connection_id", "qbo_id", name="uq_qbo_accounts_connection_qbo_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"), index=True)
    qbo_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(255))
    fully_qualified_name: Mapped[str] = mapped_column(String(1024))
    account_type: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str | None] = mapped_column(String(3))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class QboTaxCode(Base):
    """Cached tax codes of a non-US company (US companies only know TAX and NON)."""

    __tablename__ = "qbo_tax_codes"
    __table_args__ = (UniqueConstraint("connection_id", "qbo_id", name="uq_qbo_tax_codes_connection_qbo_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"), index=True)
    qbo_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    rate: Mapped[Decimal | None] = mapped_column(Numeric(9, 4))  # percent; None when unknown


class QboClass(Base):
    """Cached active classes of a company that tracks classes (the tracking modal answers from here)."""

    __tablename__ = "qbo_classes"
    __table_args__ = (UniqueConstraint("connection_id", "qbo_id", name="uq_qbo_classes_connection_qbo_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"), index=True)
    qbo_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    fully_qualified_name: Mapped[str] = mapped_column(String(1024))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class QboDepartment(Base):
    """Cached active departments (QuickBooks' locations) of a company that tracks locations."""

    __tablename__ = "qbo_departments"
    __table_args__ = (UniqueConstraint("connection_id", "qbo_id", name="uq_qbo_departments_connection_qbo_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"), index=True)
    qbo_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    fully_qualified_name: Mapped[str] = mapped_column(String(1024))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class ConceptMapping(Base):
    __tablename__ = "concept_mappings"
    __table_args__ = (UniqueConstraint("connection_id", "concept", name="uq_concept_mappings_connection_concept"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"), index=True)
    concept: Mapped[str] = mapped_column(String(64))
    qbo_account_id: Mapped[str] = mapped_column(String(32))
    account_name: Mapped[str] = mapped_column(String(1024), default="")
    tax_code_id: Mapped[str | None] = mapped_column(String(64))  # non-US companies
    class_id: Mapped[str | None] = mapped_column(String(64))  # the concept's QBO Class (a worker's class wins)
    class_name: Mapped[str | None] = mapped_column(String(1024))
    mapped_by: Mapped[str | None] = mapped_column(String(32))
    mapped_at: Mapped[datetime] = mapped_column(default=utcnow)


class VendorLink(Base):
    """A worker's QBO supplier in one currency (a worker paid in a new currency gets a second supplier)."""

    __tablename__ = "vendor_links"
    __table_args__ = (
        UniqueConstraint(
            "connection_id", "agreement_id", "currency", name="uq_vendor_links_connection_agreement_currency"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"), index=True)
    agreement_id: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3), default="")  # the supplier's currency; "" when not known
    worker_email: Mapped[str | None] = mapped_column(String(320))
    qbo_vendor_id: Mapped[str] = mapped_column(String(32))
    display_name: Mapped[str] = mapped_column(String(500))
    linked_by: Mapped[str] = mapped_column(String(16))  # email, name, created, manual
    created_by_bot: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WorkerTracking(Base):
    """A worker's class and location on their bills, by Ontop contract (the id vendor_links know a worker by)."""

    __tablename__ = "worker_tracking"
    __table_args__ = (
        UniqueConstraint("connection_id", "agreement_id", name="uq_worker_tracking_connection_agreement"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"), index=True)
    agreement_id: Mapped[str] = mapped_column(String(64))
    class_id: Mapped[str | None] = mapped_column(String(64))
    class_name: Mapped[str | None] = mapped_column(String(1024))
    department_id: Mapped[str | None] = mapped_column(String(64))
    department_name: Mapped[str | None] = mapped_column(String(1024))
    updated_by: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SyncedInvoice(Base):
    """The ledger: one row per Ontop invoice, written before the bill is created."""

    __tablename__ = "synced_invoices"
    __table_args__ = (
        UniqueConstraint("connection_id", "ontop_invoice_id", name="uq_synced_invoices_connection_invoice"),
        Index("ix_synced_invoices_connection_state", "connection_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    ontop_invoice_id: Mapped[str] = mapped_column(String(64))
    invoice_number: Mapped[str] = mapped_column(String(64), default="")
    agreement_id: Mapped[str | None] = mapped_column(String(64))
    worker_name: Mapped[str | None] = mapped_column(String(500))
    state: Mapped[str] = mapped_column(String(16), default=InvoiceState.PENDING)
    qbo_bill_id: Mapped[str | None] = mapped_column(String(32))
    doc_number: Mapped[str | None] = mapped_column(String(21))
    request_id: Mapped[str | None] = mapped_column(String(64))
    attachment_id: Mapped[str | None] = mapped_column(String(32))
    # The bill exists but its PDF is not attached yet (a failed upload is retried by later runs).
    attachment_pending: Mapped[bool] = mapped_column(Boolean, default=False)
    qbo_vendor_id: Mapped[str | None] = mapped_column(String(32))
    generation: Mapped[int] = mapped_column(Integer, default=0)  # bumped after a definite failure: new requestid
    document: Mapped[str] = mapped_column(String(16), default=InvoiceDocument.BILL)
    amount: Mapped[Decimal | None]
    currency: Mapped[str | None] = mapped_column(String(3))
    usd_total: Mapped[Decimal | None]  # what Ontop charged, in USD
    paid_on: Mapped[date | None] = mapped_column(Date)  # Ontop's paidDate: the date of the bill's payment
    # The bill's (or credit's) home-currency amount: what it must be, and what QuickBooks booked (read back).
    home_amount_expected: Mapped[Decimal | None]
    home_amount_booked: Mapped[Decimal | None]
    ontop_status: Mapped[str | None] = mapped_column(String(32))
    ontop_updated_at: Mapped[datetime | None]
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    fix_action: Mapped[str | None] = mapped_column(String(32))  # map_concept, create_vendor, reconnect, retry
    fix_value: Mapped[str | None] = mapped_column(String(255))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_run_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class LedgerPosting(Base):
    """A write for an invoice beyond its own bill: the fee bill and the payments. Exactly once, like the bill:
    written down pending with its requestid before it is sent."""

    __tablename__ = "ledger_postings"
    __table_args__ = (
        UniqueConstraint("connection_id", "invoice_id", "kind", name="uq_ledger_postings_connection_invoice_kind"),
        Index("ix_ledger_postings_connection_kind_state", "connection_id", "kind", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    invoice_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default=PostingState.PENDING)
    request_id: Mapped[str | None] = mapped_column(String(64))
    generation: Mapped[int] = mapped_column(Integer, default=0)
    qbo_id: Mapped[str | None] = mapped_column(String(32))  # the fee bill's or the payment's id
    paid_bill_id: Mapped[str | None] = mapped_column(String(32))  # a payment: the bill it pays
    doc_number: Mapped[str | None] = mapped_column(String(21))
    vendor_id: Mapped[str | None] = mapped_column(String(32))
    amount: Mapped[Decimal | None]
    currency: Mapped[str | None] = mapped_column(String(3))
    home_amount: Mapped[Decimal | None]
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    last_run_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SyncRun(Base):
    """The job queue and the history of runs, in one table."""

    __tablename__ = "sync_runs"
    __table_args__ = (
        Index("ix_sync_runs_status_not_before", "status", "not_before"),
        # The database itself guarantees the queue's invariants, whatever a worker or a race does:
        # at most one queued and at most one running run per connection, and one daily run per local date.
        Index(
            "uq_sync_runs_one_queued_per_connection",
            "connection_id",
            unique=True,
            sqlite_where=text("status = 'queued'"),
            postgresql_where=text("status = 'queued'"),
        ),
        Index(
            "uq_sync_runs_one_running_per_connection",
            "connection_id",
            unique=True,
            sqlite_where=text("status = 'running'"),
            postgresql_where=text("status = 'running'"),
        ),
        UniqueConstraint("connection_id", "scheduled_for", name="uq_sync_runs_connection_scheduled_for"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"), index=True)
    trigger: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=RunStatus.QUEUED)
    not_before: Mapped[datetime] = mapped_column(default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None]
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    invoices_seen: Mapped[int] = mapped_column(Integer, default=0)
    bills_created: Mapped[int] = mapped_column(Integer, default=0)
    already_synced: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    vendors_created: Mapped[int] = mapped_column(Integer, default=0)
    payments_created: Mapped[int] = mapped_column(Integer, default=0)
    fee_bills_created: Mapped[int] = mapped_column(Integer, default=0)
    credits_created: Mapped[int] = mapped_column(Integer, default=0)
    home_differences: Mapped[int] = mapped_column(Integer, default=0)  # documents whose home amount is off
    review_cases: Mapped[int] = mapped_column(Integer, default=0)  # cases for a person (not failures)
    held: Mapped[int] = mapped_column(Integer, default=0)  # skipped by a person, or a review already reported
    api_calls: Mapped[int] = mapped_column(Integer, default=0)
    progress_channel: Mapped[str | None] = mapped_column(String(32))
    progress_ts: Mapped[str | None] = mapped_column(String(32))
    watermark_before: Mapped[datetime | None]
    watermark_after: Mapped[datetime | None]
    error_summary: Mapped[str | None] = mapped_column(Text)
    scheduled_for: Mapped[str | None] = mapped_column(String(32))  # the local date a daily run stands for
    review_id: Mapped[int | None] = mapped_column(Integer)  # the review this run made, or waited for
    # A big run posts its bills first and leaves the rest to a follow-up run (sync/run.py, "bills first"): what it
    # left on its way, and the run that finishes it.
    payments_to_follow: Mapped[int] = mapped_column(Integer, default=0)
    fee_bills_to_follow: Mapped[int] = mapped_column(Integer, default=0)
    pdfs_to_follow: Mapped[int] = mapped_column(Integer, default=0)
    follow_up_run_id: Mapped[int | None] = mapped_column(Integer)
    attachments_created: Mapped[int] = mapped_column(Integer, default=0)  # invoice PDFs attached by the run


class Review(Base):
    """What a run (or a person from the preview) would post, waiting for an admin's approval.

    The database keeps at most one pending review per connection: nothing stacks up while one waits.
    """

    __tablename__ = "reviews"
    __table_args__ = (
        Index("ix_reviews_connection_state", "connection_id", "state"),
        Index(
            "uq_reviews_one_pending_per_connection",
            "connection_id",
            unique=True,
            sqlite_where=text("state = 'pending'"),
            postgresql_where=text("state = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    run_id: Mapped[int | None] = mapped_column(Integer)  # the run that planned it (None: made from the preview)
    state: Mapped[str] = mapped_column(String(16), default=ReviewState.PENDING)
    requested_by: Mapped[str | None] = mapped_column(String(32))
    vendors_to_create: Mapped[int] = mapped_column(Integer, default=0)
    vendors_to_link: Mapped[int] = mapped_column(Integer, default=0)
    blocked: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # what is blocked and why, by cause
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    decided_by: Mapped[str | None] = mapped_column(String(32))
    decided_at: Mapped[datetime | None]
    posted_run_id: Mapped[int | None] = mapped_column(Integer)


class ReviewItem(Base):
    """One invoice of a review, as Ontop had it when the review was made (a change sends it back to review)."""

    __tablename__ = "review_items"
    __table_args__ = (UniqueConstraint("review_id", "invoice_id", name="uq_review_items_review_invoice"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"))
    invoice_id: Mapped[str] = mapped_column(String(64))
    invoice_number: Mapped[str] = mapped_column(String(64), default="")
    agreement_id: Mapped[str | None] = mapped_column(String(64))
    worker_name: Mapped[str] = mapped_column(String(500), default="")
    amount: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    amount_usd: Mapped[Decimal | None]
    ontop_updated_at: Mapped[datetime]
    excluded: Mapped[bool] = mapped_column(Boolean, default=False)


class Notification(Base):
    """The outbox: a message a workspace is owed, written in the same transaction as what it reports.

    Delivery is at least once and idempotent: each step's Slack ts is stored as soon as it is known, so a
    redelivery updates what was posted instead of posting again (docs/reliability.md, "Notifications").
    """

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("workspace_id", "key", name="uq_notifications_workspace_key"),
        Index("ix_notifications_state_next_attempt", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    connection_id: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(128))  # what makes it unique, e.g. "run:42"
    run_id: Mapped[int | None] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(16), default=NotificationState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None]
    channel_id: Mapped[str | None] = mapped_column(String(32))  # where the top-level message is
    ts: Mapped[str | None] = mapped_column(String(32))
    post_started_at: Mapped[datetime | None]  # a top-level post was sent; its answer may have been lost
    reply_ts: Mapped[str | None] = mapped_column(String(32))  # the reply that notifies people
    pages_posted: Mapped[int] = mapped_column(Integer, default=0)  # failure pages in the thread
    file_posted: Mapped[bool] = mapped_column(Boolean, default=False)  # the CSV of the run's failures
    fell_back: Mapped[str | None] = mapped_column(Text)  # why it went to a DM instead of the finance channel
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    connection_id: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(32))  # a Slack user id, or "system"
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class QboOAuthState(Base):
    """A QBO consent `state`: random, single-use, bound to the workspace and user, expiring."""

    __tablename__ = "qbo_oauth_states"

    state_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(32))
    # The connection an Ontop login page is for (None: the workspace's unfinished one, see sync/service/connect.py).
    connection_id: Mapped[int | None] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class WebhookDelivery(Base):
    """Ontop webhook deliveries already accepted, so repeats are ignored."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("connection_id", "event_key", name="uq_webhook_deliveries_connection_event"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    event_key: Mapped[str] = mapped_column(String(255))
    event_time: Mapped[datetime | None]
    # The newest "order" seen for the key (a payment's time, an invoice status rank): older deliveries are stale.
    order_value: Mapped[Decimal | None] = mapped_column(Numeric(30, 6))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


# slack_sdk's own installation and OAuth-state tables, in our metadata so migrations create them.
SLACK_INSTALLATIONS_TABLE = "slack_installations"
SLACK_BOTS_TABLE = "slack_bots"
SLACK_OAUTH_STATES_TABLE = "slack_oauth_states"
SQLAlchemyInstallationStore.build_installations_table(Base.metadata, SLACK_INSTALLATIONS_TABLE)
SQLAlchemyInstallationStore.build_bots_table(Base.metadata, SLACK_BOTS_TABLE)
SQLAlchemyOAuthStateStore.build_oauth_states_table(Base.metadata, SLACK_OAUTH_STATES_TABLE)
