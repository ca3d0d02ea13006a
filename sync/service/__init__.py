"""`Service`: sync.api.BotService, one feature per module, put together here.

Each feature (workspaces, connecting, suppliers, mapping, syncing, reports, webhooks) is a small class over a shared
`ServiceContext`; `Service` only forwards each operation of the contract to the feature that owns it.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sync.api import (
    AccountOption,
    BooksChoice,
    BooksView,
    ConnectionChoice,
    ConnectionStatusView,
    InvoiceFailure,
    MappingRow,
    OntopLoginForm,
    QboConnected,
    QboLinks,
    ReconcileReport,
    ReviewCase,
    ReviewDecision,
    ReviewPage,
    ReviewSettings,
    ReviewView,
    RunDetails,
    RunSummary,
    RunTrigger,
    SyncPreview,
    SyncRequest,
    TeamRef,
    TrackingChoice,
    TrackingKind,
    TrackingView,
    VendorCreateResult,
    VendorPreview,
    WorkspaceSettings,
)
from sync.connections import ClientFactory
from sync.ontop.webhooks import DEFAULT_SYNC_DELAY_SECONDS
from sync.service.base import ServiceContext
from sync.service.books import BooksSettings
from sync.service.connect import Connecting
from sync.service.fixes import Fixes
from sync.service.mapping import Mapping
from sync.service.reports import Reports
from sync.service.reviews import Reviews
from sync.service.suppliers import Suppliers
from sync.service.syncing import Syncing
from sync.service.tracking import Tracking
from sync.service.webhooks import Webhooks
from sync.service.workspaces import Workspaces

__all__ = ["Service"]


class Service:
    """Implements sync.api.BotService on the database, the QBO and Ontop clients and the job queue."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clients: ClientFactory,
        *,
        public_base_url: str | None = None,
        webhook_delay_seconds: int = DEFAULT_SYNC_DELAY_SECONDS,
    ) -> None:
        context = ServiceContext(sessions, clients, public_base_url, webhook_delay_seconds)
        self.workspaces = Workspaces(context)
        self.connecting = Connecting(context)
        self.suppliers = Suppliers(context)
        self.mapping = Mapping(context)
        self.books = BooksSettings(context)
        self.syncing = Syncing(context)
        self.reports = Reports(context)
        self.webhooks = Webhooks(context)
        self.fixes = Fixes(context)
        self.reviews = Reviews(context)
        self.tracking = Tracking(context)

    def __repr__(self) -> str:
        return "Service()"

    # --- workspace ------------------------------------------------------------------------------------------

    async def ensure_workspace(self, team: TeamRef, team_name: str = "") -> WorkspaceSettings:
        return await self.workspaces.ensure_workspace(team, team_name)

    async def workspace_settings(self, team: TeamRef) -> WorkspaceSettings:
        return await self.workspaces.ensure_workspace(team)

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
        return await self.workspaces.update_settings(
            team,
            user_id,
            finance_channel_id=finance_channel_id,
            sync_hour=sync_hour,
            timezone=timezone,
            admin_user_ids=admin_user_ids,
            auto_create_vendors=auto_create_vendors,
            review=review,
            connection_name=connection_name,
        )

    async def which_connection(
        self, team: TeamRef, *, prefer_unfinished: bool = False, prefer_newest: bool = False
    ) -> TeamRef:
        return await self.workspaces.which_connection(
            team, prefer_unfinished=prefer_unfinished, prefer_newest=prefer_newest
        )

    async def connections(self, team: TeamRef) -> list[ConnectionChoice]:
        return await self.reports.connections(team)

    async def statuses(self, team: TeamRef) -> list[ConnectionStatusView]:
        return await self.reports.statuses(team)

    # --- connecting -----------------------------------------------------------------------------------------

    async def start_qbo_connect(self, team: TeamRef, user_id: str) -> str:
        return await self.connecting.start_qbo_connect(team, user_id)

    async def qbo_connect_page(self, team: TeamRef, user_id: str) -> str:
        return await self.connecting.qbo_connect_page(team, user_id)

    async def qbo_consent_url(self, state: str) -> str:
        return await self.connecting.qbo_consent_url(state)

    async def complete_qbo_connect(self, state: str, code: str, realm_id: str) -> QboConnected:
        return await self.connecting.complete_qbo_connect(state, code, realm_id)

    async def ontop_login_page(self, team: TeamRef, user_id: str) -> str:
        return await self.connecting.ontop_login_page(team, user_id)

    async def ontop_login_form(self, state: str) -> OntopLoginForm:
        return await self.connecting.ontop_login_form(state)

    async def save_ontop_login(
        self, state: str, email: str, password: str, backfill_from: date | None = None
    ) -> OntopLoginForm:
        return await self.connecting.save_ontop_login(state, email, password, backfill_from)

    async def save_ontop_credentials(
        self, team: TeamRef, user_id: str, email: str, password: str, backfill_from: date | None = None
    ) -> None:
        await self.connecting.save_ontop_credentials(team, user_id, email, password, backfill_from)

    async def disconnect(self, team: TeamRef, user_id: str) -> ConnectionChoice:
        return await self.connecting.disconnect(team, user_id)

    async def forget_workspace(self, team: TeamRef) -> None:
        await self.connecting.forget_workspace(team)

    # --- suppliers and mapping ------------------------------------------------------------------------------

    async def vendor_preview(self, team: TeamRef) -> VendorPreview:
        return await self.suppliers.vendor_preview(team)

    async def create_missing_vendors(
        self, team: TeamRef, user_id: str, agreement_ids: list[str] | None = None
    ) -> VendorCreateResult:
        return await self.suppliers.create_missing_vendors(team, user_id, agreement_ids)

    async def create_vendor_in_currency(
        self, team: TeamRef, user_id: str, agreement_id: str, currency: str
    ) -> VendorCreateResult:
        return await self.suppliers.create_vendor_in_currency(team, user_id, agreement_id, currency)

    async def link_bill(self, team: TeamRef, user_id: str, invoice_id: str) -> str:
        return await self.fixes.link_bill(team, user_id, invoice_id)

    async def skip_invoice(self, team: TeamRef, user_id: str, invoice_id: str) -> str:
        return await self.fixes.skip_invoice(team, user_id, invoice_id)

    async def mapping_rows(self, team: TeamRef) -> list[MappingRow]:
        return await self.mapping.mapping_rows(team)

    async def account_options(self, team: TeamRef, search: str = "") -> list[AccountOption]:
        return await self.mapping.account_options(team, search)

    async def save_mappings(
        self, team: TeamRef, user_id: str, mapping: dict[str, str], tax_codes: dict[str, str] | None = None
    ) -> list[MappingRow]:
        return await self.mapping.save_mappings(team, user_id, mapping, tax_codes)

    async def books_view(self, team: TeamRef) -> BooksView:
        return await self.books.books_view(team)

    async def save_books(self, team: TeamRef, user_id: str, choice: BooksChoice) -> BooksView:
        return await self.books.save_books(team, user_id, choice)

    # --- class and location tracking --------------------------------------------------------------------------

    async def tracking_view(self, team: TeamRef) -> TrackingView:
        return await self.tracking.tracking_view(team)

    async def tracking_options(self, team: TeamRef, kind: TrackingKind, search: str = "") -> list[AccountOption]:
        return await self.tracking.tracking_options(team, kind, search)

    async def save_tracking(self, team: TeamRef, user_id: str, choice: TrackingChoice) -> TrackingView:
        return await self.tracking.save_tracking(team, user_id, choice)

    # --- syncing --------------------------------------------------------------------------------------------

    async def request_sync(
        self,
        team: TeamRef,
        user_id: str | None,
        trigger: RunTrigger = RunTrigger.MANUAL,
        channel_id: str | None = None,
    ) -> SyncRequest:
        return await self.syncing.request_sync(team, user_id, trigger, channel_id)

    async def sync_preview(self, team: TeamRef) -> SyncPreview:
        return await self.syncing.sync_preview(team)

    async def retry_invoice(self, team: TeamRef, user_id: str, invoice_id: str) -> SyncRequest:
        return await self.syncing.retry_invoice(team, user_id, invoice_id)

    async def reconcile(self, team: TeamRef, since: date | None = None, until: date | None = None) -> ReconcileReport:
        return await self.syncing.reconcile(team, since, until)

    # --- reports --------------------------------------------------------------------------------------------

    async def status(self, team: TeamRef) -> ConnectionStatusView | None:
        return await self.reports.status(team)

    async def run_summary(self, team: TeamRef, run_id: int) -> RunSummary | None:
        return await self.reports.run_summary(team, run_id)

    async def run_failures(self, team: TeamRef, run_id: int) -> tuple[list[InvoiceFailure], list[ReviewCase]]:
        return await self.reports.run_failures(team, run_id)

    async def run_failures_csv(self, team: TeamRef, run_id: int) -> str:
        return await self.reports.run_failures_csv(team, run_id)

    async def run_details(self, team: TeamRef, run_id: int) -> RunDetails | None:
        return await self.reports.run_details(team, run_id)

    async def run_ledger_csv(self, team: TeamRef, run_id: int, links: QboLinks | None = None) -> str:
        return await self.reports.run_ledger_csv(team, run_id, links)

    async def run_history(self, team: TeamRef, limit: int = 20) -> list[RunSummary]:
        return await self.reports.run_history(team, limit)

    # --- the approval gate ----------------------------------------------------------------------------------

    async def review(self, team: TeamRef, review_id: int) -> ReviewView | None:
        return await self.reviews.review(team, review_id)

    async def review_page(self, team: TeamRef, review_id: int, page: int = 0) -> ReviewPage:
        return await self.reviews.review_page(team, review_id, page)

    async def approve_review(self, team: TeamRef, user_id: str, review_id: int) -> ReviewDecision:
        return await self.reviews.approve_review(team, user_id, review_id)

    async def skip_review(self, team: TeamRef, user_id: str, review_id: int) -> ReviewDecision:
        return await self.reviews.skip_review(team, user_id, review_id)

    async def save_review_exclusions(
        self, team: TeamRef, user_id: str, review_id: int, shown: list[str], excluded: list[str]
    ) -> ReviewView:
        return await self.reviews.save_review_exclusions(team, user_id, review_id, shown, excluded)

    async def request_review(self, team: TeamRef, user_id: str) -> ReviewView:
        return await self.reviews.request_review(team, user_id)

    async def include_invoice(self, team: TeamRef, user_id: str, invoice_id: str) -> str:
        return await self.reviews.include_invoice(team, user_id, invoice_id)

    # --- webhooks -------------------------------------------------------------------------------------------

    async def webhook_address_known(self, path_token: str) -> bool:
        return await self.webhooks.webhook_address_known(path_token)

    async def handle_ontop_webhook(self, path_token: str, headers: dict[str, str], body: bytes) -> bool:
        return await self.webhooks.handle_ontop_webhook(path_token, headers, body)
