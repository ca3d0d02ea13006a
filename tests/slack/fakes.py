"""An in-memory BotService for the Slack tests: records every call, scoped by team, with a few knobs.

Fakes over mocks: it behaves like the service (states are single use, mappings persist, credentials are
checked) so tests assert what happened rather than which mock was called.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sync.api import (
    CREATE_WALLET,
    NO_PAYMENTS,
    AccountOption,
    BooksChoice,
    BooksView,
    ConceptClassRow,
    ConnectionChoice,
    ConnectionChoiceNeeded,
    ConnectionStatusView,
    Fix,
    FixKind,
    InvoiceFailure,
    MappingRow,
    NotConnectedError,
    OntopLoginForm,
    QboConnected,
    QboLinks,
    ReconcileReport,
    ReviewCase,
    ReviewContent,
    ReviewDecision,
    ReviewInvoice,
    ReviewPage,
    ReviewSettings,
    ReviewState,
    ReviewView,
    RowOutcome,
    RunDetails,
    RunLedgerRow,
    RunStatus,
    RunSummary,
    RunTrigger,
    ServiceError,
    SyncPreview,
    SyncRequest,
    TeamRef,
    TrackingChoice,
    TrackingKind,
    TrackingView,
    UnknownConnectionError,
    VendorCreateResult,
    VendorMatch,
    VendorPreview,
    VendorPreviewRow,
    WebhookRejected,
    WorkerTrackingRow,
    WorkspaceSettings,
)
from sync.naming import slug
from sync.service.reports import group_failures

ONTOP_EMAIL = "finance@acme.test"
ONTOP_PASSWORD = "correct horse"
WEBHOOK_TOKEN = "hook-token-123"
PUBLIC_BASE_URL = "https://bot.example.test"  # tests/slack/conftest.py's PUBLIC_BASE_URL

CONCEPTS = [("base_compensation", "Base compensation"), ("bonus", "Bonus"), ("reimbursement", "Reimbursement")]
PAY_FROM = [AccountOption("35", "Checking (Bank)"), AccountOption("41", "Amex (Credit Card)")]
WALLET = AccountOption("90", "Ontop wallet (Bank)")
TAX_CODES = [AccountOption("3", "No VAT"), AccountOption("5", "20.0% S")]
ACCOUNTS = [
    AccountOption("60100", "Contractors"),
    AccountOption("60110", "Contractors:Bonuses"),
    AccountOption("60200", "Software"),
    AccountOption("60300", "Travel reimbursements"),
]


@dataclass
class Call:
    method: str
    team_id: str | None
    args: dict[str, Any]


@dataclass
class TeamState:
    settings: WorkspaceSettings
    connected_company: str | None = None
    ontop_email: str | None = None
    mapping: dict[str, str] = field(default_factory=dict)
    vendor_rows: list[VendorPreviewRow] = field(default_factory=list)
    last_run: RunSummary | None = None
    forgotten: bool = False
    books: BooksView = field(default_factory=lambda: default_books())
    linked_bills: dict[str, str] = field(default_factory=dict)  # invoice id -> bill DocNumber
    skipped_invoices: set[str] = field(default_factory=set)
    runs: dict[int, RunSummary] = field(default_factory=dict)
    all_failures: dict[int, list[InvoiceFailure]] = field(default_factory=dict)
    vendors_in_currency: list[tuple[str, str]] = field(default_factory=list)  # (agreement id, currency)
    reviews: dict[int, ReviewView] = field(default_factory=dict)
    review_invoices: dict[int, list[ReviewInvoice]] = field(default_factory=dict)
    included_again: list[str] = field(default_factory=list)  # invoice ids an admin included again
    tracking: TrackingView = field(default_factory=lambda: default_tracking())
    # Other QuickBooks companies of the workspace (the seeded one is connection 1, named after its company).
    other_connections: list[ConnectionChoice] = field(default_factory=list)


def default_books(*, tax_codes: bool = False) -> BooksView:
    """A new connection's books: payments on, nothing chosen yet; a non-US company also has tax codes."""
    return BooksView(
        payments_enabled=True,
        pay_from_account_id=None,
        pay_from_options=list(PAY_FROM),
        fees_on_contractor_bill=False,
        supplier_currency="contract",
        multicurrency_enabled=True,
        home_currency="USD",
        ap_choices={"EUR": [AccountOption("77", "A/P EUR"), AccountOption("78", "A/P EUR (old)")]},
        ap_chosen={},
        tax_codes=list(TAX_CODES) if tax_codes else [],
        default_tax_code_id="3" if tax_codes else None,
    )


CLASSES = [AccountOption("5000000000000010001", "Engineering"), AccountOption("5000000000000010002", "Sales")]
LOCATIONS = [AccountOption("5000000000000010011", "Latin America"), AccountOption("5000000000000010012", "Europe")]


def default_tracking(*, on: bool = True) -> TrackingView:
    """A company that tracks classes per line and locations (on), or neither; one concept and two workers."""
    return TrackingView(
        company_name="Acme Books",
        class_tracking=on,
        class_tracking_per_txn=False,
        track_departments=on,
        concepts=[ConceptClassRow("BONUS", "Bonus", None, None)],
        workers=[
            WorkerTrackingRow("agr-1", "Ana *Gómez*", CLASSES[0].account_id, "Engineering", None, None),
            WorkerTrackingRow("agr-2", "Ben Li", None, None, None, None),
        ],
    )


def sample_failures() -> list[InvoiceFailure]:
    return [
        InvoiceFailure(
            "inv-1",
            "ONT-1001",
            "Ana Gómez",
            Decimal("1250.00"),
            "USD",
            "Concept Bonus is not mapped",
            Fix(FixKind.MAP_CONCEPT, "bonus"),
        ),
        InvoiceFailure(
            "inv-2",
            "ONT-1002",
            "Ben Li",
            Decimal("980.50"),
            "USD",
            "Worker is not a supplier in QuickBooks",
            Fix(FixKind.CREATE_VENDOR, "agr-2", "Ben Li"),
        ),
        InvoiceFailure(
            "inv-3",
            "ONT-1003",
            "Caro Díaz",
            Decimal("77.10"),
            "USD",
            "QuickBooks timed out",
            Fix(FixKind.RETRY, "inv-3"),
        ),
    ]


def sample_run(run_id: int = 7, *, failures: list[InvoiceFailure] | None = None) -> RunSummary:
    failures = sample_failures() if failures is None else failures
    started = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
    return RunSummary(
        run_id=run_id,
        trigger=RunTrigger.MANUAL,
        status=RunStatus.PARTIAL if failures else RunStatus.SUCCEEDED,
        requested_by="U0ANN",
        queued_at=started,
        started_at=started,
        finished_at=datetime(2026, 11, 25, 14, 1, 5, tzinfo=UTC),
        invoices_seen=10 + len(failures),
        bills_created=10,
        already_synced=0,
        skipped=0,
        failed=len(failures),
        vendors_created=1,
        failures=failures,
    )


class FakeService:
    """The BotService shape, in memory. Thread-safe: the app calls it from the server's thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[Call] = []
        self._teams: dict[str, TeamState] = {}
        self._states: dict[str, tuple[TeamRef, str]] = {}
        self._run_ids = itertools.count(100)
        self._queued: dict[str, SyncRequest] = {}
        # Methods that wait until the test sets the event (to prove the ack came first).
        self.gates: dict[str, threading.Event] = {}
        # An invoice an admin left out of an earlier review: the preview offers to include it again.
        self.excluded_invoice = replace(sample_review_invoices()[1], invoice_id="inv-13", excluded=True)
        # Methods that raise this error (e.g. a refused save).
        self.failures: dict[str, Exception] = {}

    # --- test helpers ---------------------------------------------------------------------------------------

    def calls(self, method: str | None = None, *, team_id: str | None = None) -> list[Call]:
        with self._lock:
            return [
                c
                for c in self._calls
                if (method is None or c.method == method) and (team_id is None or c.team_id == team_id)
            ]

    def wait_for_call(self, method: str, count: int = 1, timeout_seconds: float = 15.0) -> list[Call]:
        """Poll until the app made `count` calls to `method` (work done after the ack); the timeout only bounds a
        failure, so it is generous."""
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            found = self.calls(method)
            if len(found) >= count:
                return found
            time.sleep(0.01)
        raise TimeoutError(f"expected {count} call(s) to {method}, got {len(self.calls(method))}")

    def team(self, team_id: str) -> TeamState:
        with self._lock:
            return self._team(TeamRef(team_id))

    def connect(self, team_id: str, company: str = "Acme Books LLC", *, finance_channel: str | None = "C0FIN") -> None:
        """Seed a connected workspace with concepts, a partial mapping and vendors."""
        with self._lock:
            state = self._team(TeamRef(team_id))
            state.connected_company = company
            state.ontop_email = ONTOP_EMAIL
            state.mapping = {"base_compensation": "60100"}
            state.settings = replace(state.settings, finance_channel_id=finance_channel)
            state.vendor_rows = [
                VendorPreviewRow("agr-1", "Ana Gómez", "ana@example.com", "CO", "USD", VendorMatch.LINKED, "Ana Gómez"),
                VendorPreviewRow("agr-2", "Ben Li", "ben@example.com", "MX", "USD", VendorMatch.WILL_CREATE, None),
                VendorPreviewRow(
                    "agr-3", "Caro Díaz", "caro@example.com", "AR", "USD", VendorMatch.MATCH_EMAIL, "C. Díaz"
                ),
            ]
            state.last_run = sample_run()

    def issue_state(self, team_id: str, user_id: str, purpose: str = "qbo") -> str:
        with self._lock:
            state = f"{purpose}-state-{team_id}-{user_id}-{len(self._states)}"
            self._states[state] = (TeamRef(team_id), user_id)
        return state

    def _usable(self, state: str, purpose: str) -> tuple[TeamRef, str]:
        with self._lock:
            bound = self._states.get(state) if state.startswith(f"{purpose}-state-") else None
        if bound is None:
            raise ServiceError("This link has expired or was already used. Run `/qbo connect` again.")
        return bound

    # --- internals ------------------------------------------------------------------------------------------

    def set_tracking(self, team_id: str, view: TrackingView) -> None:
        """What `/qbo tracking` shows for a workspace (e.g. a company that tracks nothing)."""
        with self._lock:
            self._team(TeamRef(team_id)).tracking = view

    def _team(self, team: TeamRef) -> TeamState:
        if team.team_id not in self._teams:
            self._teams[team.team_id] = TeamState(WorkspaceSettings(team, None, 6, "America/Bogota", [], False))
        return self._teams[team.team_id]

    async def _enter(self, method: str, team: TeamRef | None, **args: Any) -> None:
        with self._lock:
            self._calls.append(Call(method, team.team_id if team else None, args))
        gate = self.gates.get(method)
        if gate is not None:
            await asyncio.to_thread(gate.wait, 5.0)
        error = self.failures.get(method)
        if error is not None:
            raise error

    def _choices(self, state: TeamState) -> list[ConnectionChoice]:
        company = state.connected_company
        seeded = [ConnectionChoice(1, slug(company), company)] if company else []
        return seeded + list(state.other_connections)

    def _connected(self, team: TeamRef) -> TeamState:
        state = self._team(team)
        if state.connected_company is None:
            raise NotConnectedError("QuickBooks is not connected yet. Run `/qbo connect`.")
        return state

    # --- BotService -----------------------------------------------------------------------------------------

    async def ensure_workspace(self, team: TeamRef, team_name: str = "") -> WorkspaceSettings:
        await self._enter("ensure_workspace", team, team_name=team_name)
        with self._lock:
            return self._team(team).settings

    async def workspace_settings(self, team: TeamRef) -> WorkspaceSettings:
        await self._enter("workspace_settings", team)
        with self._lock:
            return self._team(team).settings

    async def which_connection(
        self, team: TeamRef, *, prefer_unfinished: bool = False, prefer_newest: bool = False
    ) -> TeamRef:
        # Not recorded as a call: every per-company command asks it first, and tests count the calls that matter.
        with self._lock:
            choices = self._choices(self._team(team))
        if team.connection_id is not None:
            if all(choice.connection_id != team.connection_id for choice in choices):
                raise UnknownConnectionError("That QuickBooks company is not connected to this workspace.")
            return team
        if team.connection:
            named = [choice for choice in choices if choice.name == team.connection]
            if not named:
                names = ", ".join(f"`{choice.name}`" for choice in choices)
                raise UnknownConnectionError(f"No QuickBooks company here is called `{team.connection}`: {names}.")
            return team.on(named[0].connection_id)
        if len(choices) > 1 and prefer_newest:
            return team.on(choices[-1].connection_id)
        if len(choices) > 1:
            raise ConnectionChoiceNeeded("This workspace has several QuickBooks companies connected.", choices)
        return team.on(choices[0].connection_id) if choices else team

    async def connections(self, team: TeamRef) -> list[ConnectionChoice]:
        with self._lock:
            return self._choices(self._team(team))

    async def statuses(self, team: TeamRef) -> list[ConnectionStatusView]:
        status = await self.status(team)
        return [status] if status is not None else []

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
        extra: dict[str, Any] = {"review": review} if review is not None else {}
        if connection_name is not None:
            extra["connection_name"] = connection_name
        await self._enter(
            "update_settings",
            team,
            user_id=user_id,
            finance_channel_id=finance_channel_id,
            sync_hour=sync_hour,
            timezone=timezone,
            admin_user_ids=admin_user_ids,
            auto_create_vendors=auto_create_vendors,
            **extra,
        )
        with self._lock:
            state = self._team(team)
            state.settings = WorkspaceSettings(
                team,
                finance_channel_id,
                sync_hour,
                timezone,
                admin_user_ids,
                auto_create_vendors,
                review=review or state.settings.review,
            )
            return state.settings

    async def start_qbo_connect(self, team: TeamRef, user_id: str) -> str:
        await self._enter("start_qbo_connect", team, user_id=user_id)
        state = self.issue_state(team.team_id, user_id)
        return f"https://appcenter.intuit.test/connect/oauth2?client_id=abc&state={state}"

    async def qbo_connect_page(self, team: TeamRef, user_id: str) -> str:
        await self._enter("qbo_connect_page", team, user_id=user_id)
        return f"{PUBLIC_BASE_URL}/qbo/start?state={self.issue_state(team.team_id, user_id)}"

    async def qbo_consent_url(self, state: str) -> str:
        await self._enter("qbo_consent_url", None, state=state)
        self._usable(state, "qbo")
        return f"https://appcenter.intuit.test/connect/oauth2?client_id=abc&state={state}"

    async def ontop_login_page(self, team: TeamRef, user_id: str) -> str:
        await self._enter("ontop_login_page", team, user_id=user_id)
        return f"{PUBLIC_BASE_URL}/ontop/credentials?state={self.issue_state(team.team_id, user_id, 'ontop')}"

    async def ontop_login_form(self, state: str) -> OntopLoginForm:
        await self._enter("ontop_login_form", None)  # the state is not recorded: it is what the page protects
        team, user_id = self._usable(state, "ontop")
        with self._lock:
            company = self._team(team).connected_company or ""
        return OntopLoginForm(team, user_id, company, date(2026, 11, 1))

    async def save_ontop_login(
        self, state: str, email: str, password: str, backfill_from: date | None = None
    ) -> OntopLoginForm:
        form = await self.ontop_login_form(state)
        await self.save_ontop_credentials(form.team, form.user_id, email, password, backfill_from)
        with self._lock:
            self._states.pop(state, None)  # used up only by a saved login: a refused one may be tried again
        return form

    async def complete_qbo_connect(self, state: str, code: str, realm_id: str) -> QboConnected:
        await self._enter("complete_qbo_connect", None, state=state, code=code, realm_id=realm_id)
        with self._lock:
            bound = self._states.pop(state, None)
            if bound is None:
                raise ServiceError("This QuickBooks link has expired or was already used. Run `/qbo connect` again.")
            team, user_id = bound
            team_state = self._team(team)
            team_state.connected_company = "Acme Books LLC"
            return QboConnected(team, user_id, "Acme Books LLC", 1)

    async def save_ontop_credentials(
        self, team: TeamRef, user_id: str, email: str, password: str, backfill_from: date | None = None
    ) -> None:
        await self._enter("save_ontop_credentials", team, user_id=user_id, email=email)  # never record the password
        if (email, password) != (ONTOP_EMAIL, ONTOP_PASSWORD):
            raise ServiceError("Ontop refused this email and password.", field="password")
        with self._lock:
            self._team(team).ontop_email = email

    async def status(self, team: TeamRef) -> ConnectionStatusView | None:
        await self._enter("status", team)
        with self._lock:
            state = self._team(team)
            if state.connected_company is None:
                return None
            unmapped = [label for concept, label in CONCEPTS if concept not in state.mapping]
            return ConnectionStatusView(
                connection_id=1,
                status="active",
                company_name=state.connected_company,
                realm_id="9130",
                home_currency="USD",
                multicurrency_enabled=False,
                ontop_connected=state.ontop_email is not None,
                mapped_concepts=len(state.mapping),
                unmapped_concepts=unmapped,
                vendors_linked=1,
                bills_created_total=42,
                failed_invoices=len(state.last_run.failures) if state.last_run else 0,
                last_run=state.last_run,
                open_failures=group_failures(list(state.last_run.failures)) if state.last_run else [],
                open_reviews=list(state.last_run.review_cases) if state.last_run else [],
                active_run=None,
                next_daily_run_at=datetime(2026, 11, 26, 11, 0, tzinfo=UTC),
                settings=state.settings,
            )

    async def vendor_preview(self, team: TeamRef) -> VendorPreview:
        await self._enter("vendor_preview", team)
        with self._lock:
            return VendorPreview(list(self._connected(team).vendor_rows))

    async def create_missing_vendors(
        self, team: TeamRef, user_id: str, agreement_ids: list[str] | None = None
    ) -> VendorCreateResult:
        await self._enter("create_missing_vendors", team, user_id=user_id, agreement_ids=agreement_ids)
        with self._lock:
            state = self._connected(team)
            created: list[str] = []
            linked: list[str] = []
            rows = []
            for row in state.vendor_rows:
                wanted = agreement_ids is None or row.agreement_id in agreement_ids
                if wanted and row.match is VendorMatch.WILL_CREATE:
                    created.append(row.worker_name)
                    row = replace(row, match=VendorMatch.LINKED, qbo_vendor_name=row.worker_name)
                elif wanted and row.match in (VendorMatch.MATCH_EMAIL, VendorMatch.MATCH_NAME):
                    linked.append(row.worker_name)
                    row = replace(row, match=VendorMatch.LINKED)
                rows.append(row)
            state.vendor_rows = rows
            return VendorCreateResult(created, linked, [])

    async def mapping_rows(self, team: TeamRef) -> list[MappingRow]:
        await self._enter("mapping_rows", team)
        with self._lock:
            return self._rows(self._connected(team))

    def _rows(self, state: TeamState) -> list[MappingRow]:
        names = {a.account_id: a.name for a in ACCOUNTS}
        return [
            MappingRow(concept, label, 3, state.mapping.get(concept), names.get(state.mapping.get(concept, "")))
            for concept, label in CONCEPTS
        ]

    async def account_options(self, team: TeamRef, search: str = "") -> list[AccountOption]:
        await self._enter("account_options", team, search=search)
        with self._lock:
            self._connected(team)
        return [a for a in ACCOUNTS if search.lower() in a.name.lower()]

    async def save_mappings(
        self, team: TeamRef, user_id: str, mapping: dict[str, str], tax_codes: dict[str, str] | None = None
    ) -> list[MappingRow]:
        await self._enter("save_mappings", team, user_id=user_id, mapping=dict(mapping), tax_codes=tax_codes)
        known = {a.account_id for a in ACCOUNTS}
        for concept, account_id in mapping.items():
            if account_id not in known:
                raise ServiceError("That account is not an expense account in QuickBooks.", field=concept)
        with self._lock:
            state = self._connected(team)
            state.mapping.update(mapping)
            return self._rows(state)

    async def books_view(self, team: TeamRef) -> BooksView:
        await self._enter("books_view", team)
        with self._lock:
            return self._connected(team).books

    async def save_books(self, team: TeamRef, user_id: str, choice: BooksChoice) -> BooksView:
        await self._enter("save_books", team, user_id=user_id, choice=choice)
        with self._lock:
            state = self._connected(team)
            books = state.books
            options = list(books.pay_from_options)
            if choice.pay_from == CREATE_WALLET:
                if WALLET not in options:
                    options.append(WALLET)
                pay_from: str | None = WALLET.account_id
            elif choice.pay_from == NO_PAYMENTS:
                pay_from = books.pay_from_account_id
            elif choice.pay_from in {option.account_id for option in options}:
                pay_from = choice.pay_from
            else:
                raise ServiceError("That account cannot pay bills.", field="pay_from")
            state.books = replace(
                books,
                payments_enabled=choice.pay_from != NO_PAYMENTS,
                pay_from_account_id=pay_from,
                pay_from_options=options,
                fees_on_contractor_bill=choice.fees_on_contractor_bill,
                supplier_currency=choice.supplier_currency,
                ap_chosen=dict(choice.ap_accounts),
                default_tax_code_id=choice.default_tax_code_id,
            )
            return state.books

    async def tracking_view(self, team: TeamRef) -> TrackingView:
        await self._enter("tracking_view", team)
        with self._lock:
            return self._connected(team).tracking

    async def tracking_options(self, team: TeamRef, kind: TrackingKind, search: str = "") -> list[AccountOption]:
        await self._enter("tracking_options", team, kind=kind, search=search)
        options = CLASSES if kind == "class" else LOCATIONS
        return [option for option in options if search.lower() in option.name.lower()]

    async def save_tracking(self, team: TeamRef, user_id: str, choice: TrackingChoice) -> TrackingView:
        await self._enter("save_tracking", team, user_id=user_id, choice=choice)
        names = {option.account_id: option.name for option in (*CLASSES, *LOCATIONS)}
        with self._lock:
            state = self._connected(team)
            view = state.tracking
            concepts = [
                replace(
                    row,
                    class_id=choice.concept_classes[row.concept],
                    class_name=names.get(choice.concept_classes[row.concept] or ""),
                )
                if row.concept in choice.concept_classes
                else row
                for row in view.concepts
            ]
            workers = []
            for row in view.workers:
                if row.agreement_id in choice.worker_classes:
                    class_id = choice.worker_classes[row.agreement_id]
                    row = replace(row, class_id=class_id, class_name=names.get(class_id or ""))
                if row.agreement_id in choice.worker_locations:
                    location_id = choice.worker_locations[row.agreement_id]
                    row = replace(row, location_id=location_id, location_name=names.get(location_id or ""))
                workers.append(row)
            state.tracking = replace(view, concepts=concepts, workers=workers)
            return state.tracking

    async def create_vendor_in_currency(
        self, team: TeamRef, user_id: str, agreement_id: str, currency: str
    ) -> VendorCreateResult:
        await self._enter(
            "create_vendor_in_currency", team, user_id=user_id, agreement_id=agreement_id, currency=currency
        )
        with self._lock:
            state = self._connected(team)
            row = next((row for row in state.vendor_rows if row.agreement_id == agreement_id), None)
            if row is None:
                raise ServiceError("That Ontop contract no longer exists.")
            state.vendors_in_currency.append((agreement_id, currency))
            return VendorCreateResult([f"{row.worker_name} ({currency})"], [], [])

    async def link_bill(self, team: TeamRef, user_id: str, invoice_id: str) -> str:
        await self._enter("link_bill", team, user_id=user_id, invoice_id=invoice_id)
        with self._lock:
            failure = self._failure(self._connected(team), invoice_id)
            self._team(team).linked_bills[invoice_id] = failure.invoice_number
            return failure.invoice_number

    async def skip_invoice(self, team: TeamRef, user_id: str, invoice_id: str) -> str:
        await self._enter("skip_invoice", team, user_id=user_id, invoice_id=invoice_id)
        with self._lock:
            failure = self._failure(self._connected(team), invoice_id)
            self._team(team).skipped_invoices.add(invoice_id)
            return failure.invoice_number

    def _failure(self, state: TeamState, invoice_id: str) -> InvoiceFailure:
        failures = state.last_run.failures if state.last_run else []
        found = next((failure for failure in failures if failure.invoice_id == invoice_id), None)
        if found is None:
            raise ServiceError("That invoice is not one of this workspace's failures.")
        return found

    async def request_sync(
        self,
        team: TeamRef,
        user_id: str | None,
        trigger: RunTrigger = RunTrigger.MANUAL,
        channel_id: str | None = None,
    ) -> SyncRequest:
        await self._enter("request_sync", team, user_id=user_id, trigger=trigger, channel_id=channel_id)
        with self._lock:
            self._connected(team)
            existing = self._queued.get(team.team_id)
            if existing is not None:
                return SyncRequest(existing.run_id, True, existing.status)
            request = SyncRequest(next(self._run_ids), False, RunStatus.QUEUED)
            self._queued[team.team_id] = request
            return request

    async def sync_preview(self, team: TeamRef) -> SyncPreview:
        await self._enter("sync_preview", team)
        with self._lock:
            self._connected(team)
        return SyncPreview(
            eligible=5,
            already_synced=40,
            not_final=3,
            blocked_unmapped={"bonus": 2},
            blocked_no_vendor=1,
            blocked_other=0,
            review=0,
            vendors_to_create=1,
            vendors_to_link=0,
            content=replace(sample_review().content, excluded=[self.excluded_invoice], excluded_count=1),
        )

    async def retry_invoice(self, team: TeamRef, user_id: str, invoice_id: str) -> SyncRequest:
        await self._enter("retry_invoice", team, user_id=user_id, invoice_id=invoice_id)
        with self._lock:
            self._connected(team)
        return SyncRequest(next(self._run_ids), False, RunStatus.QUEUED)

    async def reconcile(self, team: TeamRef, since: date | None = None, until: date | None = None) -> ReconcileReport:
        await self._enter("reconcile", team)
        now = datetime.now(UTC)
        return ReconcileReport(since=now, until=now, paid_invoices=3, matching=2, missing=["INV-1"])

    async def run_summary(self, team: TeamRef, run_id: int) -> RunSummary | None:
        await self._enter("run_summary", team, run_id=run_id)
        with self._lock:
            state = self._team(team)
            run = state.runs.get(run_id) or state.last_run
        return run if run is not None and run.run_id == run_id else None

    async def run_failures(self, team: TeamRef, run_id: int) -> tuple[list[InvoiceFailure], list[ReviewCase]]:
        run = await self.run_summary(team, run_id)
        if run is None:
            return [], []
        with self._lock:
            every = self._team(team).all_failures.get(run_id)
        return (list(every) if every is not None else list(run.failures)), list(run.review_cases)

    async def run_failures_csv(self, team: TeamRef, run_id: int) -> str:
        failures, reviews = await self.run_failures(team, run_id)
        rows = ["invoice,worker,reason"] + [f"{f.invoice_number},{f.worker_name},{f.reason}" for f in failures]
        rows += [f"{r.invoice_number},{r.worker_name},{r.reason}" for r in reviews]
        return "\n".join(rows) + "\n"

    def add_run(self, team_id: str, run: RunSummary, failures: list[InvoiceFailure] | None = None) -> None:
        """A finished run the service knows (with every failure, when the summary lists only a sample)."""
        with self._lock:
            state = self._team(TeamRef(team_id))
            state.runs[run.run_id] = run
            state.last_run = run
            if failures is not None:
                state.all_failures[run.run_id] = failures

    async def disconnect(self, team: TeamRef, user_id: str) -> ConnectionChoice:
        await self._enter("disconnect", team, user_id=user_id)
        with self._lock:
            state = self._connected(team)
            other = [one for one in state.other_connections if one.connection_id == team.connection_id]
            if other:  # one of the other companies: the seeded one stays
                state.other_connections.remove(other[0])
                return other[0]
            gone = self._choices(state)[0]
            state.connected_company = None
            state.mapping.clear()
            return gone

    async def webhook_address_known(self, path_token: str) -> bool:
        await self._enter("webhook_address_known", None, path_token=path_token)
        return path_token == WEBHOOK_TOKEN

    async def handle_ontop_webhook(self, path_token: str, headers: dict[str, str], body: bytes) -> bool:
        # Deliveries are specified against the real service (tests/security/test_webhooks.py, which signs them):
        # a fake that accepted some made-up signature would let a web-layer test pass for the wrong reason.
        await self._enter("handle_ontop_webhook", None, path_token=path_token)
        raise WebhookRejected("the fake service verifies no signature: use tests/security/realapp.py")

    async def forget_workspace(self, team: TeamRef) -> None:
        await self._enter("forget_workspace", team)
        with self._lock:
            state = self._team(team)
            state.forgotten = True
            state.connected_company = None

    # --- the approval gate and a run's invoices -------------------------------------------------------------

    def add_review(self, team_id: str, review: ReviewView, invoices: list[ReviewInvoice] | None = None) -> None:
        """A review the service knows (and the invoices its details modal lists)."""
        with self._lock:
            state = self._team(TeamRef(team_id))
            state.reviews[review.review_id] = review
            state.review_invoices[review.review_id] = list(invoices if invoices is not None else review.content.largest)

    def _review(self, team: TeamRef, review_id: int) -> ReviewView:
        found = self._team(team).reviews.get(review_id)
        if found is None:
            raise ServiceError("I can't find that review any more.")
        return found

    def _decide(self, team: TeamRef, user_id: str, review_id: int, state: ReviewState) -> ReviewView:
        with self._lock:
            current = self._review(team, review_id)
            if current.state != ReviewState.PENDING:
                raise ServiceError(f"This review was already {current.state}; nothing changed.")
            decided = replace(current, state=state, decided_by=user_id, decided_at=datetime.now(UTC))
            self._team(team).reviews[review_id] = decided
            return decided

    async def review(self, team: TeamRef, review_id: int) -> ReviewView | None:
        await self._enter("review", team, review_id=review_id)
        with self._lock:
            return self._team(team).reviews.get(review_id)

    async def review_page(self, team: TeamRef, review_id: int, page: int = 0) -> ReviewPage:
        await self._enter("review_page", team, review_id=review_id, page=page)
        with self._lock:
            view = self._review(team, review_id)
            invoices = self._team(team).review_invoices.get(review_id, [])
        pages = max(1, -(-len(invoices) // 50))
        page = min(max(page, 0), pages - 1)
        return ReviewPage(view, invoices[page * 50 : (page + 1) * 50], page, pages)

    async def approve_review(self, team: TeamRef, user_id: str, review_id: int) -> ReviewDecision:
        await self._enter("approve_review", team, user_id=user_id, review_id=review_id)
        decided = self._decide(team, user_id, review_id, ReviewState.APPROVED)
        return ReviewDecision(decided, SyncRequest(next(self._run_ids), False, RunStatus.QUEUED))

    async def skip_review(self, team: TeamRef, user_id: str, review_id: int) -> ReviewDecision:
        await self._enter("skip_review", team, user_id=user_id, review_id=review_id)
        return ReviewDecision(self._decide(team, user_id, review_id, ReviewState.SKIPPED))

    async def save_review_exclusions(
        self, team: TeamRef, user_id: str, review_id: int, shown: list[str], excluded: list[str]
    ) -> ReviewView:
        await self._enter(
            "save_review_exclusions", team, user_id=user_id, review_id=review_id, shown=shown, excluded=excluded
        )
        with self._lock:
            current = self._review(team, review_id)
            if current.state != ReviewState.PENDING:
                raise ServiceError(f"This review was already {current.state}; nothing changed.")
            state = self._team(team)
            invoices = [
                replace(invoice, excluded=invoice.invoice_id in excluded) if invoice.invoice_id in shown else invoice
                for invoice in state.review_invoices.get(review_id, [])
            ]
            state.review_invoices[review_id] = invoices
            left_out = [invoice for invoice in invoices if invoice.excluded]
            content = replace(
                current.content,
                bills=len(invoices) - len(left_out),
                excluded=left_out,
                excluded_count=len(left_out),
            )
            state.reviews[review_id] = replace(current, content=content)
            return state.reviews[review_id]

    async def request_review(self, team: TeamRef, user_id: str) -> ReviewView:
        await self._enter("request_review", team, user_id=user_id)
        with self._lock:
            self._connected(team)
            made = sample_review(review_id=next(self._run_ids), requested_by=user_id, run_id=None)
            self._team(team).reviews[made.review_id] = made
            return made

    async def include_invoice(self, team: TeamRef, user_id: str, invoice_id: str) -> str:
        await self._enter("include_invoice", team, user_id=user_id, invoice_id=invoice_id)
        with self._lock:
            self._connected(team).included_again.append(invoice_id)
        return f"ONT-{invoice_id}"

    async def run_details(self, team: TeamRef, run_id: int) -> RunDetails | None:
        await self._enter("run_details", team, run_id=run_id)
        with self._lock:
            state = self._team(team)
            run = state.runs.get(run_id) or state.last_run
        if run is None or run.run_id != run_id:
            return None
        return RunDetails(run, sample_ledger_rows(run))

    async def run_ledger_csv(self, team: TeamRef, run_id: int, links: QboLinks | None = None) -> str:
        await self._enter("run_ledger_csv", team, run_id=run_id, links=links)
        details = await self.run_details(team, run_id)
        rows = ["invoice,worker,outcome"] + [
            f"{row.invoice_number},{row.worker_name},{row.outcome}" for row in (details.rows if details else [])
        ]
        return "\n".join(rows) + "\n"

    async def run_history(self, team: TeamRef, limit: int = 20) -> list[RunSummary]:
        await self._enter("run_history", team, limit=limit)
        with self._lock:
            state = self._team(team)
            runs = dict(state.runs)
            if state.last_run is not None:
                runs.setdefault(state.last_run.run_id, state.last_run)
        return [runs[run_id] for run_id in sorted(runs, reverse=True)][:limit]


def sample_review_invoices() -> list[ReviewInvoice]:
    return [
        ReviewInvoice("inv-11", "ONT-2011", "Ana Gómez", Decimal("13750.00"), "BRL", Decimal("2682.93")),
        ReviewInvoice("inv-12", "ONT-2012", "Ben Li", Decimal("980.50"), "USD", Decimal("980.50")),
    ]


def sample_review(review_id: int = 3, *, requested_by: str | None = None, run_id: int | None = 7) -> ReviewView:
    """A pending review of two invoices (one in BRL), one blocked by an unmapped concept."""
    invoices = sample_review_invoices()
    created = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
    content = ReviewContent(
        bills=len(invoices),
        vendors_to_create=1,
        vendors_to_link=0,
        totals={"BRL": Decimal("13750.00"), "USD": Decimal("980.50")},
        usd_total=Decimal("3663.43"),
        largest=invoices,
        blocked=group_failures(sample_failures()[:1]),
        excluded=[],
    )
    return ReviewView(
        review_id=review_id,
        state=ReviewState.PENDING,
        content=content,
        created_at=created,
        expires_at=datetime(2026, 12, 2, 14, 0, tzinfo=UTC),
        invoices=len(invoices),
        run_id=run_id,
        requested_by=requested_by,
        message=None,
    )


def sample_ledger_rows(run: RunSummary) -> list[RunLedgerRow]:
    """The run's invoices: a bill for each one booked, then its failures with their fixes."""
    created = [
        RunLedgerRow(
            f"ok-{n}",
            f"ONT-9{n:03d}",
            "Dana Ruiz",
            Decimal("100.00"),
            "USD",
            Decimal("100.00"),
            RowOutcome.CREATED,
            "",
            bill_id=str(500 + n),
            payment_id=str(900 + n),
        )
        for n in range(run.bills_created)
    ]
    failed = [
        RunLedgerRow(
            failure.invoice_id,
            failure.invoice_number,
            failure.worker_name,
            failure.amount,
            failure.currency,
            failure.amount_usd,
            RowOutcome.FAILED,
            failure.reason,
            fix=failure.fix,
        )
        for failure in run.failures
    ]
    return created + failed
