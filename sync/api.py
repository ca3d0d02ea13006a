"""What the Slack handlers may ask of the domain: plain data in, plain data out.

Handlers parse, check permission, call one of these methods and render the result; they never touch QBO, Ontop
or the database directly. `BotService` is implemented by `sync.service.Service`; tests of the handlers may use a
fake with the same shape.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Literal, Protocol

from storage.models import ReviewState, RunStatus, RunTrigger

# The database's vocabulary for runs and reviews is the domain's: one enum per idea.
__all__ = ["ReviewState", "RunStatus", "RunTrigger"]


@dataclass(frozen=True)
class TeamRef:
    """A Slack workspace (an Enterprise Grid org-wide install sets enterprise_id) and, where a request names one, which
    of its connections (QuickBooks companies) it is about: a short name a person typed, or the id a button or modal
    carries. Either is only ever looked up among the workspace's own connections."""

    team_id: str
    enterprise_id: str | None = None
    connection: str | None = None  # a short name, e.g. "acme-us"
    connection_id: int | None = None

    def on(self, connection_id: int | None) -> TeamRef:
        """The same workspace, about that connection (None: about none in particular)."""
        return TeamRef(self.team_id, self.enterprise_id, None, connection_id)

    def named(self, name: str | None) -> TeamRef:
        """The same workspace, about the connection a person named (None: about none in particular)."""
        return TeamRef(self.team_id, self.enterprise_id, name.lower() if name else None, None)

    @property
    def workspace(self) -> TeamRef:
        """The workspace alone."""
        return TeamRef(self.team_id, self.enterprise_id)


class ServiceError(Exception):
    """A problem the user can act on. `message` is a sentence free of secrets; it may use `code` and *bold*, and
    handlers escape &, < and > before showing it (so names from QuickBooks or Ontop in it stay plain text)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field  # the modal input it belongs to, for inline errors


class NotConnectedError(ServiceError):
    """The workspace has no QBO connection (or it is disconnected)."""


class NeedsReauthError(ServiceError):
    """QuickBooks refused the stored tokens: an admin must reconnect."""


@dataclass(frozen=True)
class ConnectionChoice:
    """One of a workspace's connections, as a person chooses it."""

    connection_id: int
    name: str
    company_name: str


class ConnectionChoiceNeeded(ServiceError):
    """The workspace has several connections and the request named none: the person chooses one."""

    def __init__(self, message: str, choices: list[ConnectionChoice]) -> None:
        super().__init__(message)
        self.choices = choices


class UnknownConnectionError(ServiceError):
    """A short name (or a connection id) that is not one of the workspace's open connections."""


class WebhookRejected(Exception):
    """An unauthenticated or tampered webhook delivery; the message is for logs only."""


class FixKind(enum.StrEnum):
    MAP_CONCEPT = "map_concept"  # target: the concept
    CREATE_VENDOR = "create_vendor"  # target: the agreement id
    CREATE_VENDOR_IN_CURRENCY = "create_vendor_currency"  # target: "<agreement id>:<currency>"
    LINK_BILL = "link_bill"  # target: the invoice id (a bill with its number exists that the bot did not make)
    SKIP_INVOICE = "skip_invoice"  # target: the invoice id
    BOOKS = "books"  # target: the connection id (pay-from account, A/P account: the mapping modal's books part)
    RECONNECT = "reconnect"  # target: the connection id
    RETRY = "retry"  # target: the invoice id
    TRACKING = "tracking"  # target: "class" or "location" (QuickBooks refused one on a bill: the tracking modal)
    CONTACT_SUPPORT = "contact_support"


@dataclass(frozen=True)
class Fix:
    """What fixes a failure: its kind and what it acts on. Button labels are made in handlers/, not here."""

    kind: FixKind
    target: str  # the concept, the agreement id, the connection id or the invoice id the fix acts on
    target_name: str = ""  # how people know the target, e.g. the worker's name for CREATE_VENDOR
    connection_id: int | None = None  # the connection the target belongs to (its button carries it)


@dataclass(frozen=True)
class WorkspaceSettings:
    team: TeamRef
    finance_channel_id: str | None
    sync_hour: int
    timezone: str
    admin_user_ids: list[str]
    auto_create_vendors: bool
    installer_user_id: str | None = None  # who installed the app: told when nobody else can be
    review: ReviewSettings | None = None  # the connection's approval gate (None: QuickBooks is not connected)
    # The connection these settings are for (finance channel, hour and time zone are its own or the workspace's);
    # None: the workspace's, when it has no connection or several and the request named none.
    connection_id: int | None = None
    connection_name: str = ""
    company_name: str = ""
    connections: int = 0  # how many open connections the workspace has


@dataclass(frozen=True)
class InvoiceFailure:
    invoice_id: str
    invoice_number: str
    worker_name: str
    amount: Decimal | None
    currency: str | None
    reason: str
    fix: Fix | None
    code: str = ""  # the cause kind (unmapped_concept, no_vendor, supplier_currency, not_our_bill, qbo_6210, ...)
    amount_usd: Decimal | None = None  # what Ontop charged in USD, where the invoice is in another currency


@dataclass(frozen=True)
class FailureGroup:
    """A run's failures that share one cause kind and one fix target, counted exactly however many there are."""

    code: str
    reason: str  # the first failure's sentence
    count: int
    fix: Fix | None  # the first fix; None: nothing a person can press (a support case)
    examples: list[InvoiceFailure]  # the first few
    fixes: list[Fix] = field(default_factory=list)  # every distinct fix (e.g. one supplier per worker)


@dataclass(frozen=True)
class ReviewCase:
    """An invoice that changed in Ontop after its bill was made (cancelled, corrected): a person decides."""

    invoice_id: str
    invoice_number: str
    worker_name: str
    reason: str
    document_id: str | None  # the bill in QuickBooks (see QboLinks)
    document_number: str | None


@dataclass(frozen=True)
class QboLinks:
    """Addresses of records in the QuickBooks web app (qbo-api.md §18): sandbox or production host."""

    host: str  # "https://app.qbo.intuit.com" or "https://app.sandbox.qbo.intuit.com"

    def bill(self, bill_id: str) -> str:
        return f"{self.host}/app/bill?txnId={bill_id}"

    def vendor_credit(self, credit_id: str) -> str:
        return f"{self.host}/app/vendorcredit?txnId={credit_id}"

    def supplier(self, vendor_id: str) -> str:
        return f"{self.host}/app/vendordetail?nameId={vendor_id}"


@dataclass(frozen=True)
class RunSummary:
    run_id: int
    trigger: RunTrigger
    status: RunStatus
    requested_by: str | None
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    invoices_seen: int
    bills_created: int
    already_synced: int
    skipped: int
    failed: int
    vendors_created: int
    failures: list[InvoiceFailure] = field(default_factory=list)
    api_calls: int = 0
    error_summary: str | None = None
    payments_created: int = 0
    fee_bills_created: int = 0  # Ontop's fees, on the Ontop supplier
    credits_created: int = 0  # vendor credits for negative invoices
    home_differences: int = 0  # documents whose home amount differs from what Ontop charged in USD
    failure_groups: list[FailureGroup] = field(default_factory=list)  # every failure of the run, counted by cause
    review_cases: list[ReviewCase] = field(default_factory=list)  # the first ones; review_count says how many
    review_count: int = 0
    held: int = 0  # invoices a person chose to skip, or review cases already reported (not counted as skipped)
    home_currency: str = "USD"
    booked_home_total: Decimal | None = None  # what the run's new documents book, in the home currency
    progress_message: tuple[str, str] | None = None  # (channel, ts) of the message posted when the run started
    review: ReviewRef | None = None  # the review this run made (nothing posted), or waited for
    posted_review_id: int | None = None  # the approved review whose invoices this run posted
    usd_booked: Decimal | None = None  # what the run's bills book, in Ontop's USD amounts
    connection_id: int | None = None  # the connection (QuickBooks company) the run synced; its buttons carry it
    connection_name: str = ""
    attachments_created: int = 0  # invoice PDFs attached
    # A big run posts its bills first: what it left on its way, and the run that finishes it.
    payments_to_follow: int = 0
    fee_bills_to_follow: int = 0
    pdfs_to_follow: int = 0
    follow_up_run_id: int | None = None


@dataclass(frozen=True)
class ConnectionStatusView:
    connection_id: int
    status: str  # pending, active, needs_reauth, disconnected
    company_name: str
    realm_id: str
    home_currency: str
    multicurrency_enabled: bool
    ontop_connected: bool
    mapped_concepts: int
    unmapped_concepts: list[str]
    vendors_linked: int
    bills_created_total: int
    failed_invoices: int
    last_run: RunSummary | None
    active_run: RunSummary | None
    next_daily_run_at: datetime | None
    settings: WorkspaceSettings
    open_failures: list[FailureGroup] = field(default_factory=list)  # every run's unresolved failures, by cause
    open_reviews: list[ReviewCase] = field(default_factory=list)
    last_notification_at: datetime | None = None  # when the latest summary or alert reached Slack
    notifications_problem: str | None = None  # why summaries do not reach the finance channel, if they do not
    recent_runs: list[RunSummary] = field(default_factory=list)  # the latest runs, newest first
    name: str = ""  # the connection's short name in commands


class VendorMatch(enum.StrEnum):
    LINKED = "linked"  # already linked to a QBO vendor
    MATCH_EMAIL = "match_email"  # an existing QBO vendor has the worker's email: will be linked
    MATCH_NAME = "match_name"  # an existing QBO vendor has the worker's name: will be linked
    WILL_CREATE = "will_create"
    CONFLICT = "conflict"  # needs a person: inactive vendor, name used by a customer/employee, ...
    NOT_READY = "not_ready"  # invited worker without a name yet


@dataclass(frozen=True)
class VendorPreviewRow:
    agreement_id: str
    worker_name: str
    email: str | None
    country: str | None
    currency: str | None
    match: VendorMatch
    qbo_vendor_name: str | None
    note: str | None = None


@dataclass(frozen=True)
class VendorPreview:
    rows: list[VendorPreviewRow]

    def count(self, match: VendorMatch) -> int:
        return sum(1 for row in self.rows if row.match is match)


@dataclass(frozen=True)
class VendorCreateResult:
    created: list[str]  # display names
    linked: list[str]
    failed: list[tuple[str, str]]  # (worker name, reason)


@dataclass(frozen=True)
class MappingRow:
    concept: str
    label: str
    invoices_seen: int
    account_id: str | None
    account_name: str | None
    tax_code_id: str | None = None  # non-US companies


@dataclass(frozen=True)
class AccountOption:
    account_id: str
    name: str  # fully qualified, e.g. "Contractors:Bonuses"


CREATE_WALLET = "create-wallet"  # the pay-from choice that creates the "Ontop wallet" bank account
NO_PAYMENTS = "no-payments"  # the pay-from choice for teams that match Ontop's debits in their bank feed


@dataclass(frozen=True)
class BooksView:
    """How invoices are booked (docs/accounting.md), with the choices the company's QuickBooks offers."""

    payments_enabled: bool
    pay_from_account_id: str | None
    pay_from_options: list[AccountOption]  # Bank and Credit Card accounts
    fees_on_contractor_bill: bool
    supplier_currency: str  # "contract" or "usd"
    multicurrency_enabled: bool
    home_currency: str
    ap_choices: dict[str, list[AccountOption]]  # currency -> its A/P accounts, where there are several
    ap_chosen: dict[str, str]
    tax_codes: list[AccountOption]  # a non-US company's tax codes (empty for US companies)
    default_tax_code_id: str | None


@dataclass(frozen=True)
class BooksChoice:
    """What an admin chose in the mapping modal's books part."""

    pay_from: str  # an account id, CREATE_WALLET or NO_PAYMENTS
    fees_on_contractor_bill: bool = False
    supplier_currency: str = "contract"
    ap_accounts: dict[str, str] = field(default_factory=dict)
    default_tax_code_id: str | None = None


TrackingKind = Literal["class", "location"]


@dataclass(frozen=True)
class ConceptClassRow:
    """A mapped concept and the class its lines carry (None: none, unless the worker has one)."""

    concept: str
    label: str
    class_id: str | None
    class_name: str | None


@dataclass(frozen=True)
class WorkerTrackingRow:
    """A worker (an Ontop contract with a QuickBooks supplier) and the class and location of their bills."""

    agreement_id: str
    worker_name: str
    class_id: str | None
    class_name: str | None
    location_id: str | None
    location_name: str | None


@dataclass(frozen=True)
class TrackingView:
    """`/qbo tracking`: what the company tracks in QuickBooks, and the classes and locations chosen."""

    company_name: str
    class_tracking: bool  # ClassTrackingPerLine: bill lines may carry a class
    class_tracking_per_txn: bool  # classes one per transaction: the bot needs them per line
    track_departments: bool  # TrackDepartments: bills may carry a location
    concepts: list[ConceptClassRow] = field(default_factory=list)
    workers: list[WorkerTrackingRow] = field(default_factory=list)

    @property
    def tracks_anything(self) -> bool:
        return self.class_tracking or self.track_departments


@dataclass(frozen=True)
class TrackingChoice:
    """What an admin chose in the tracking modal; None clears. Only what the modal showed is present."""

    concept_classes: dict[str, str | None] = field(default_factory=dict)
    worker_classes: dict[str, str | None] = field(default_factory=dict)
    worker_locations: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class SyncRequest:
    run_id: int
    joined_existing: bool  # a run was already queued or running: this request joined it
    status: RunStatus


@dataclass(frozen=True)
class SyncPreview:
    """What the next run would do, decided by the same planning as the run itself (sync/plan.py)."""

    eligible: int  # invoices that would become bills
    already_synced: int
    not_final: int  # waiting to be paid, cancelled before billing, or a case already reported
    blocked_unmapped: dict[str, int]  # concept -> invoices blocked by it
    blocked_no_vendor: int  # the worker is not a supplier and may not be created automatically
    blocked_other: int  # supplier conflicts, currencies, missing data
    review: int  # cases for a person (cancelled after billing, corrections of billed invoices)
    vendors_to_create: int
    vendors_to_link: int
    content: ReviewContent | None = None  # the same content a review shows: amounts, largest invoices, blocked
    connection_id: int | None = None  # the connection previewed (its buttons carry it)


@dataclass(frozen=True)
class Difference:
    invoice_number: str
    expected: str  # e.g. "2682.93 USD"
    found: str  # e.g. "2682.92 USD (bill 151)"


@dataclass
class ReconcileReport:
    """Ontop's paid invoices of a period against QuickBooks' bills, read again from both systems."""

    since: datetime
    until: datetime
    paid_invoices: int = 0
    matching: int = 0
    missing: list[str] = field(default_factory=list)  # paid in Ontop, no bill in QuickBooks
    duplicated: list[str] = field(default_factory=list)  # more than one bill for one invoice
    different: list[Difference] = field(default_factory=list)  # home amounts that are not what Ontop charged
    open_bills: list[str] = field(default_factory=list)  # bills of paid invoices with a balance still open
    paid_twice: list[str] = field(default_factory=list)  # bills with more than one payment

    @property
    def clean(self) -> bool:
        return not (self.missing or self.duplicated or self.different or self.open_bills or self.paid_twice)


@dataclass(frozen=True)
class QboConnected:
    team: TeamRef
    user_id: str
    company_name: str
    connection_id: int
    name: str = ""  # the connection's short name


@dataclass(frozen=True)
class OntopLoginForm:
    """What the bot's Ontop login page needs for a state: whose it is and what its form starts with."""

    team: TeamRef
    user_id: str
    company_name: str  # the QuickBooks company the login is for ("" while QuickBooks is not connected)
    backfill_from: date  # the form's first "Sync invoices from" day


# --- the approval gate (sync/review.py) and a run's invoices -------------------------------------------------


@dataclass(frozen=True)
class ReviewSettings:
    """When a run waits for an admin's approval before it posts anything to QuickBooks."""

    first_sync: bool = True  # the connection's first sync (nothing booked yet)
    later_runs: bool = False  # later runs too: every one that would post, or only those over a threshold
    over_bills: int | None = None  # later runs: ask when more bills than this would be posted ...
    over_usd: Decimal | None = None  # ... or more than this amount in USD


@dataclass(frozen=True)
class ReviewInvoice:
    """An invoice a posting would book (or that a person left out of one)."""

    invoice_id: str
    invoice_number: str
    worker_name: str
    amount: Decimal
    currency: str
    amount_usd: Decimal | None
    excluded: bool = False


@dataclass(frozen=True)
class ReviewContent:
    """What a posting would do: the review message and `/qbo sync preview` show the same, planned the same way."""

    bills: int  # invoices that would become bills (excluded ones not counted)
    vendors_to_create: int
    vendors_to_link: int
    totals: dict[str, Decimal]  # currency -> total of the invoices to post
    usd_total: Decimal  # the same in USD (what Ontop charged)
    largest: list[ReviewInvoice]  # the largest in USD, first
    blocked: list[FailureGroup]  # what will not be posted and why, by cause
    excluded: list[ReviewInvoice]  # left out by a person (the first ones; excluded_count says how many)
    excluded_count: int = 0


@dataclass(frozen=True)
class ReviewView:
    review_id: int
    state: ReviewState
    content: ReviewContent
    created_at: datetime
    expires_at: datetime
    invoices: int  # every invoice in it, excluded ones included
    run_id: int | None = None  # the run that asked (None: asked for from the preview)
    requested_by: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    posted_run_id: int | None = None
    message: tuple[str, str] | None = None  # (channel, ts) of its message in Slack, once posted
    connection_id: int | None = None  # the connection it would post to (its fix buttons carry it)


@dataclass(frozen=True)
class ReviewPage:
    """One page of a review's invoices, for the details modal."""

    review: ReviewView
    invoices: list[ReviewInvoice]
    page: int
    pages: int


@dataclass(frozen=True)
class ReviewDecision:
    review: ReviewView
    run: SyncRequest | None = None  # the run an approval queued to post the review's invoices


@dataclass(frozen=True)
class ReviewRef:
    """A run's review, as its summary mentions it."""

    review_id: int
    state: ReviewState
    bills: int
    made_by_run: bool  # the run made it (else it waited for it)


class RowOutcome(enum.StrEnum):
    """What became of an invoice a run wrote about."""

    CREATED = "created"
    FAILED = "failed"
    PENDING = "pending"  # sent, outcome unknown: the next run looks it up
    SKIPPED = "skipped"  # not to be booked (cancelled before billing, skipped by a person)
    EXCLUDED = "excluded"  # left out of a review by a person
    REVIEW = "review"  # changed in Ontop after its bill was made: a person decides


@dataclass(frozen=True)
class RunLedgerRow:
    """One ledger row of a run: the invoice, its amounts, its documents and what became of it."""

    invoice_id: str
    invoice_number: str
    worker_name: str
    amount: Decimal | None
    currency: str | None
    amount_usd: Decimal | None
    outcome: RowOutcome
    message: str
    bill_id: str | None = None
    document: str = "bill"  # "bill" or "vendor_credit"
    payment_id: str | None = None
    fix: Fix | None = None


@dataclass(frozen=True)
class RunDetails:
    summary: RunSummary
    rows: list[RunLedgerRow]


class BotService(Protocol):
    """The domain operations behind every Slack surface. Every method is safe to call after the ack."""

    async def ensure_workspace(self, team: TeamRef, team_name: str = "") -> WorkspaceSettings: ...

    async def workspace_settings(self, team: TeamRef) -> WorkspaceSettings: ...

    async def update_settings(
        self,
        team: TeamRef,
        user_id: str,
        *,
        finance_channel_id: str | None,
        sync_hour: int,
        timezone: str,
        admin_user_ids: list[str],
        auto_create_vendors: bool,
        review: ReviewSettings | None = None,
        connection_name: str | None = None,
    ) -> WorkspaceSettings:
        """review: the approval gate of the connection (None: left as it is); connection_name: its new short name.

        With several connections, the finance channel, hour and time zone are the chosen connection's own; with one
        (or none) they are the workspace's, which every connection uses unless it has its own."""
        ...

    async def which_connection(
        self, team: TeamRef, *, prefer_unfinished: bool = False, prefer_newest: bool = False
    ) -> TeamRef:
        """The request about one connection, by id: the one it names (UnknownConnectionError listing the names
        otherwise), the only one, or ConnectionChoiceNeeded when there are several and it names none (with
        prefer_unfinished, the newest one still waiting for its Ontop login first; with prefer_newest, the newest
        one rather than asking). Unchanged when there is none."""
        ...

    async def connections(self, team: TeamRef) -> list[ConnectionChoice]:
        """The workspace's open connections, oldest first."""
        ...

    async def statuses(self, team: TeamRef) -> list[ConnectionStatusView]:
        """Every open connection's status, oldest first (the App Home)."""
        ...

    async def start_qbo_connect(self, team: TeamRef, user_id: str) -> str:
        """Intuit's consent URL, with a state bound to this workspace and user (10 minutes, single use). For scripts
        and tests: people get `qbo_connect_page`, whose callback also requires the browser that started."""
        ...

    async def qbo_connect_page(self, team: TeamRef, user_id: str) -> str:
        """The bot's own `/qbo/start?state=...` address, the state bound to this workspace and user (10 minutes,
        single use). That page binds the state to the browser (a cookie) and sends it on to Intuit's consent."""
        ...

    async def qbo_consent_url(self, state: str) -> str:
        """Intuit's consent URL for a state this app issued and nobody used yet; ServiceError otherwise."""
        ...

    async def complete_qbo_connect(self, state: str, code: str, realm_id: str) -> QboConnected:
        """The OAuth callback: raises ServiceError for a bad, expired, reused or foreign state, and for a company
        another workspace has connected (it must disconnect there first)."""
        ...

    async def ontop_login_page(self, team: TeamRef, user_id: str) -> str:
        """The bot's own `/ontop/credentials?state=...` page address, the state bound to this workspace and user
        (10 minutes, single use): the Ontop login is typed there, never into Slack."""
        ...

    async def ontop_login_form(self, state: str) -> OntopLoginForm:
        """Whose login page a state opens; ServiceError when the state is unknown, expired or used."""
        ...

    async def save_ontop_login(
        self, state: str, email: str, password: str, backfill_from: date | None = None
    ) -> OntopLoginForm:
        """The login page's form: checks the login with Ontop and saves it (then the state is used up).

        Raises ServiceError(field="email"|"password"|"backfill") when refused; the state stays usable to try again.
        """
        ...

    async def save_ontop_credentials(
        self, team: TeamRef, user_id: str, email: str, password: str, backfill_from: date | None = None
    ) -> None:
        """Checks the credentials by logging in; raises ServiceError(field="email"|"password") when refused.

        `backfill_from`: the first sync reads invoices changed since that day (default: the current month's start).
        """
        ...

    async def status(self, team: TeamRef) -> ConnectionStatusView | None: ...

    async def vendor_preview(self, team: TeamRef) -> VendorPreview: ...

    async def create_missing_vendors(
        self, team: TeamRef, user_id: str, agreement_ids: list[str] | None = None
    ) -> VendorCreateResult: ...

    async def create_vendor_in_currency(
        self, team: TeamRef, user_id: str, agreement_id: str, currency: str
    ) -> VendorCreateResult:
        """A second supplier for a worker now paid in another currency ("Name (EUR)"), then a retry."""
        ...

    async def link_bill(self, team: TeamRef, user_id: str, invoice_id: str) -> str:
        """A person says the bill with the invoice's number (which the bot did not make) is this invoice's: the
        ledger adopts it (its payment follows). Returns the bill's DocNumber."""
        ...

    async def skip_invoice(self, team: TeamRef, user_id: str, invoice_id: str) -> str:
        """A person says this invoice must not be booked: it is never posted. Returns its number."""
        ...

    async def mapping_rows(self, team: TeamRef) -> list[MappingRow]: ...

    async def account_options(self, team: TeamRef, search: str = "") -> list[AccountOption]:
        """From the cached chart of accounts only (external selects must answer within 3 s)."""
        ...

    async def save_mappings(
        self, team: TeamRef, user_id: str, mapping: dict[str, str], tax_codes: dict[str, str] | None = None
    ) -> list[MappingRow]:
        """Concept -> account (and, for non-US companies, concept -> tax code); a first sync or a retry follows."""
        ...

    async def books_view(self, team: TeamRef) -> BooksView:
        """The books part of the mapping modal, from the caches."""
        ...

    async def save_books(self, team: TeamRef, user_id: str, choice: BooksChoice) -> BooksView:
        """Store how invoices are booked; CREATE_WALLET creates the "Ontop wallet" bank account (only adds)."""
        ...

    async def tracking_view(self, team: TeamRef) -> TrackingView:
        """`/qbo tracking`: the company's tracking preferences read from QuickBooks now (the class and location
        lists refreshed with them), each mapped concept's class and each worker's class and location."""
        ...

    async def tracking_options(self, team: TeamRef, kind: TrackingKind, search: str = "") -> list[AccountOption]:
        """Active classes or locations from the cache only (external selects must answer within 3 s)."""
        ...

    async def save_tracking(self, team: TeamRef, user_id: str, choice: TrackingChoice) -> TrackingView:
        """Store the classes and locations chosen; invoices QuickBooks refused for a class or location are retried."""
        ...

    async def request_sync(
        self,
        team: TeamRef,
        user_id: str | None,
        trigger: RunTrigger = RunTrigger.MANUAL,
        channel_id: str | None = None,
    ) -> SyncRequest: ...

    async def sync_preview(self, team: TeamRef) -> SyncPreview: ...

    async def retry_invoice(self, team: TeamRef, user_id: str, invoice_id: str) -> SyncRequest: ...

    async def reconcile(self, team: TeamRef, since: date | None = None, until: date | None = None) -> ReconcileReport:
        """Compare Ontop and QuickBooks for a period (default: since the backfill start)."""
        ...

    async def run_summary(self, team: TeamRef, run_id: int) -> RunSummary | None: ...

    async def run_failures(self, team: TeamRef, run_id: int) -> tuple[list[InvoiceFailure], list[ReviewCase]]:
        """Every failure and review case of the run, however many (the summary lists a sample)."""
        ...

    async def run_failures_csv(self, team: TeamRef, run_id: int) -> str:
        """The same as a CSV file's text (cells that look like formulas are quoted as text)."""
        ...

    async def disconnect(self, team: TeamRef, user_id: str) -> ConnectionChoice:
        """Disconnect the company the request is about (the workspace's others stay); says which one it was."""
        ...

    async def webhook_address_known(self, path_token: str) -> bool:
        """Whether a webhook path token belongs to an active connection (checked before the body is read)."""
        ...

    async def handle_ontop_webhook(self, path_token: str, headers: dict[str, str], body: bytes) -> bool:
        """An Ontop webhook delivery: True when accepted (a sync is scheduled soon), False for a repeat.

        Raises WebhookRejected for anything unauthenticated or tampered (the web layer answers 401).
        """
        ...

    async def forget_workspace(self, team: TeamRef) -> None:
        """app_uninstalled / tokens_revoked: disconnect everything and stop scheduling."""
        ...

    # --- the approval gate and a run's invoices -----------------------------------------------------------

    async def review(self, team: TeamRef, review_id: int) -> ReviewView | None:
        """One of the workspace's reviews (None: not its own, or gone)."""
        ...

    async def review_page(self, team: TeamRef, review_id: int, page: int = 0) -> ReviewPage:
        """A page of the review's invoices, largest first, for the details modal."""
        ...

    async def approve_review(self, team: TeamRef, user_id: str, review_id: int) -> ReviewDecision:
        """Queue the run that posts exactly the review's invoices (those not excluded). The caller checked the admin;
        ServiceError when the review is not pending any more (decided, expired)."""
        ...

    async def skip_review(self, team: TeamRef, user_id: str, review_id: int) -> ReviewDecision:
        """Nothing of the review is posted; the next run plans again (and asks again, the gate permitting)."""
        ...

    async def save_review_exclusions(
        self, team: TeamRef, user_id: str, review_id: int, shown: list[str], excluded: list[str]
    ) -> ReviewView:
        """Of the invoices `shown` to the person, leave `excluded` out (held in the ledger) and include the rest."""
        ...

    async def request_review(self, team: TeamRef, user_id: str) -> ReviewView:
        """What the preview shows, as a review for the finance channel (planned again, now)."""
        ...

    async def include_invoice(self, team: TeamRef, user_id: str, invoice_id: str) -> str:
        """An invoice left out of a review is planned like any other again; returns its number."""
        ...

    async def run_details(self, team: TeamRef, run_id: int) -> RunDetails | None:
        """The run's summary and every invoice it wrote about (None: not the workspace's run)."""
        ...

    async def run_ledger_csv(self, team: TeamRef, run_id: int, links: QboLinks | None = None) -> str:
        """The run's ledger rows as a CSV file's text (cells that look like formulas are quoted as text)."""
        ...

    async def run_history(self, team: TeamRef, limit: int = 20) -> list[RunSummary]:
        """The workspace's latest runs, newest first."""
        ...
