"""`BotService`: the domain operations behind every Slack surface (see sync/api.py for the contract)."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, date, datetime, time

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import repos
from storage.db import transaction
from storage.models import (
    Connection,
    ConnectionStatus,
    InvoiceState,
    RunTrigger,
    SyncedInvoice,
    Workspace,
)
from sync import jobs, reports, scheduler
from sync.api import (
    AccountOption,
    ConnectionStatusView,
    MappingRow,
    NeedsReauthError,
    NotConnectedError,
    QboConnected,
    ReconcileReport,
    RunSummary,
    ServiceError,
    SyncPreview,
    SyncRequest,
    TeamRef,
    VendorCreateResult,
    VendorMatch,
    VendorPreview,
    VendorPreviewRow,
    WebhookRejected,
    WorkspaceSettings,
)
from sync.bills import Company, concept_key, waiting_reason
from sync.connections import ClientFactory
from sync.engine import create_vendor, load_vendor_directory, refresh_account_cache
from sync.ontop import webhooks
from sync.ontop.client import OntopCredentials
from sync.ontop.models import CONCEPT_LABELS, Concept, OntopAuthError, OntopError, Worker
from sync.qbo.auth import refresh_deadline
from sync.qbo.client import QboClient
from sync.qbo.errors import QboDuplicateName, QboError, QboInvalidGrant
from sync.reconcile import reconcile
from sync.vendors import VendorDirectory, decide, planned_vendor

log = structlog.get_logger(__name__)

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PREVIEW_LIMIT = 5000


def _not_connected() -> NotConnectedError:
    return NotConnectedError("QuickBooks is not connected yet. An admin can run `/qbo connect`.")


class Service:
    """Implements sync.api.BotService on the database, the QBO and Ontop clients and the job queue."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clients: ClientFactory,
        *,
        public_base_url: str | None = None,
        webhook_delay_seconds: int = webhooks.DEFAULT_SYNC_DELAY_SECONDS,
    ) -> None:
        self._sessions = sessions
        self._clients = clients
        self._public_base_url = public_base_url
        self._webhook_delay_seconds = webhook_delay_seconds

    def __repr__(self) -> str:
        return "Service()"

    # --- workspace --------------------------------------------------------------------------------------------

    async def ensure_workspace(self, team: TeamRef, team_name: str = "") -> WorkspaceSettings:
        async with transaction(self._sessions) as session:
            workspace = await repos.get_or_create_workspace(session, team.team_id, team.enterprise_id, team_name)
            return reports.workspace_settings(team, workspace)

    async def workspace_settings(self, team: TeamRef) -> WorkspaceSettings:
        return await self.ensure_workspace(team)

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
    ) -> WorkspaceSettings:
        if not 0 <= sync_hour <= 23:
            raise ServiceError("The sync hour must be between 0 and 23.", field="sync_hour")
        if not scheduler.is_time_zone(timezone):
            raise ServiceError(f"`{timezone}` is not a time zone name like America/Bogota.", field="timezone")
        async with transaction(self._sessions) as session:
            workspace = await repos.get_or_create_workspace(session, team.team_id, team.enterprise_id)
            workspace.finance_channel_id = finance_channel_id
            workspace.sync_hour = sync_hour
            workspace.timezone = timezone
            workspace.admin_user_ids = sorted(set(admin_user_ids))
            workspace.auto_create_vendors = auto_create_vendors
            repos.record_audit(session, workspace.id, user_id, "settings", None, sync_hour=sync_hour, timezone=timezone)
            return reports.workspace_settings(team, workspace)

    # --- connect ----------------------------------------------------------------------------------------------

    async def start_qbo_connect(self, team: TeamRef, user_id: str) -> str:
        async with transaction(self._sessions) as session:
            workspace = await repos.get_or_create_workspace(session, team.team_id, team.enterprise_id)
            state = await repos.issue_qbo_state(session, workspace.id, user_id)
        return self._clients.oauth().authorization_url(state)

    async def complete_qbo_connect(self, state: str, code: str, realm_id: str) -> QboConnected:
        if not state or not code or not realm_id:
            raise ServiceError("The QuickBooks answer was incomplete. Run `/qbo connect` again.")
        async with transaction(self._sessions) as session:
            owner = await repos.consume_qbo_state(session, state)
            if owner is None:
                raise ServiceError("This QuickBooks link has expired or was already used. Run `/qbo connect` again.")
            workspace_id, user_id = owner.workspace_id, owner.user_id
        try:
            tokens = await self._clients.oauth().exchange_code(code)
            company = await self._clients.qbo_client_with_tokens(realm_id, tokens).company_info()
        except (QboInvalidGrant, QboError) as exc:
            log.warning("qbo.connect_failed", error=type(exc).__name__)
            raise ServiceError("QuickBooks did not accept the sign-in. Run `/qbo connect` again.") from None
        async with transaction(self._sessions) as session:
            workspace = await repos.get_workspace(session, workspace_id)
            assert workspace is not None
            connection = await repos.connection_for_realm(session, workspace_id, realm_id)
            if connection is None:
                connection = Connection(workspace_id=workspace_id, realm_id=realm_id, token_version=0)
                session.add(connection)
            connection.company_name = company.company_name
            connection.home_currency = company.home_currency
            connection.multicurrency_enabled = company.multicurrency_enabled
            connection.connected_by = user_id
            connection.last_error = None
            repos.store_qbo_tokens(
                connection,
                self._clients.box,
                tokens.access_token,
                tokens.refresh_token,
                tokens.access_expires_at,
                refresh_deadline(tokens),
            )
            connection.status = (
                ConnectionStatus.ACTIVE if connection.ontop_credentials_encrypted else ConnectionStatus.PENDING
            )
            await session.flush()
            repos.record_audit(
                session, workspace_id, user_id, "connect_qbo", connection.id, company=company.company_name
            )
            connection_id = connection.id
            team = TeamRef(workspace.team_id, workspace.enterprise_id or None)
        await refresh_account_cache(self._sessions, self._clients.qbo_client(connection_id, realm_id), connection_id)
        return QboConnected(team, user_id, company.company_name, connection_id)

    async def save_ontop_credentials(
        self, team: TeamRef, user_id: str, email: str, password: str, backfill_from: date | None = None
    ) -> None:
        email = email.strip()
        if not EMAIL.match(email):
            raise ServiceError("Enter the email address of an Ontop admin.", field="email")
        if not password:
            raise ServiceError("Enter the password.", field="password")
        connection_id = await self._connection_id(team, allow=(ConnectionStatus.PENDING, ConnectionStatus.ACTIVE))
        client = self._clients.ontop_client(OntopCredentials(email=email, password=password))
        try:
            await client.check_credentials()
        except OntopAuthError:
            raise ServiceError(
                "Ontop did not accept this email and password. Use the login of an Ontop admin of the company.",
                field="password",
            ) from None
        except OntopError:
            raise ServiceError("Ontop could not be reached. Try again in a minute.", field="email") from None
        finally:
            await client.aclose()
        webhook_secret = secrets.token_urlsafe(32)
        async with transaction(self._sessions) as session:
            connection = await repos.get_connection(session, connection_id, for_update=True)
            assert connection is not None
            repos.store_ontop_credentials(connection, self._clients.box, {"email": email, "password": password})
            webhook_token = repos.issue_webhook_token(connection)
            connection.ontop_webhook_secret_encrypted = self._clients.box.encrypt(webhook_secret)
            connection.status = ConnectionStatus.ACTIVE
            if backfill_from is not None:
                connection.backfill_from = _midnight(backfill_from)
            elif connection.backfill_from is None:
                connection.backfill_from = start_of_month(datetime.now(UTC))
            repos.record_audit(session, connection.workspace_id, user_id, "connect_ontop", connection.id)
            await scheduler.enqueue_first_sync(session, connection.id, user_id)
        await self._register_webhook(email, password, webhook_token, webhook_secret)

    async def _register_webhook(self, email: str, password: str, token: str, secret: str) -> None:
        """Ask Ontop to call us on payments; best effort: without it the daily and manual syncs still run."""
        if not self._public_base_url:
            return
        url = f"{self._public_base_url.rstrip('/')}/ontop/webhook/{token}"
        client = self._clients.ontop_client(OntopCredentials(email=email, password=password))
        try:
            await client.register_webhook(url, secret)
        except OntopError as exc:
            log.warning("ontop.webhook_registration_failed", error=type(exc).__name__)
        finally:
            await client.aclose()

    # --- status -----------------------------------------------------------------------------------------------

    async def status(self, team: TeamRef) -> ConnectionStatusView | None:
        async with self._sessions() as session:
            workspace = await repos.find_workspace(session, team.team_id, team.enterprise_id)
            connection = await repos.current_connection(session, workspace.id) if workspace else None
            if workspace is None or connection is None:
                return None
            return await reports.connection_status(session, team, workspace, connection)

    # --- vendors ----------------------------------------------------------------------------------------------

    async def _suppliers_and_contracts(self, connection: Connection) -> tuple[QboClient, VendorDirectory, list[Worker]]:
        """QuickBooks' suppliers (and the names others hold) and every Ontop contract, read once."""
        qbo = self._clients.qbo_client(connection.id, connection.realm_id)
        try:
            directory = await load_vendor_directory(qbo)
            async with await self._clients.ontop_for_connection(connection.id) as ontop:
                workers = [worker async for worker in ontop.workers()]
        except (QboError, OntopError) as exc:
            raise _unavailable(exc) from None
        return qbo, directory, workers

    async def vendor_preview(self, team: TeamRef) -> VendorPreview:
        connection = await self._connection(team)
        _, directory, workers = await self._suppliers_and_contracts(connection)
        async with self._sessions() as session:
            links = await repos.get_vendor_links(session, connection.id)
        rows = []
        for worker in workers:
            link = links.get(str(worker.agreement_id))
            decision = decide(worker, link.qbo_vendor_id if link else None, directory)
            if decision.match == VendorMatch.WILL_CREATE:
                directory.add(planned_vendor(decision, worker))
            rows.append(
                VendorPreviewRow(
                    agreement_id=decision.agreement_id,
                    worker_name=worker.display_name or worker.email or decision.agreement_id,
                    email=worker.email,
                    country=worker.country,
                    currency=worker.currency,
                    match=decision.match,
                    qbo_vendor_name=(link.display_name if link else None)
                    or (decision.vendor.display_name if decision.vendor else decision.display_name),
                    note=decision.note,
                )
            )
        order = list(VendorMatch)
        rows.sort(key=lambda row: (order.index(row.match), row.worker_name.casefold()))
        return VendorPreview(rows)

    async def create_missing_vendors(
        self, team: TeamRef, user_id: str, agreement_ids: list[str] | None = None
    ) -> VendorCreateResult:
        connection = await self._connection(team)
        qbo, directory, workers = await self._suppliers_and_contracts(connection)
        wanted = set(agreement_ids) if agreement_ids is not None else None
        async with self._sessions() as session:
            linked_ids = set(await repos.get_vendor_links(session, connection.id))
        created: list[str] = []
        linked: list[str] = []
        failed: list[tuple[str, str]] = []
        company = _company(connection)
        for worker in workers:
            agreement_id = str(worker.agreement_id)
            if (wanted is not None and agreement_id not in wanted) or agreement_id in linked_ids:
                continue
            decision = decide(worker, None, directory)
            name = worker.display_name or worker.email or agreement_id
            if decision.match in (VendorMatch.MATCH_EMAIL, VendorMatch.MATCH_NAME) and decision.vendor:
                await self._link(
                    connection.id,
                    agreement_id,
                    worker.email,
                    decision.vendor.id,
                    decision.vendor.display_name,
                    "email" if decision.match == VendorMatch.MATCH_EMAIL else "name",
                )
                linked_ids.add(agreement_id)
                linked.append(decision.vendor.display_name)
            elif decision.match == VendorMatch.WILL_CREATE:
                try:
                    vendor = await create_vendor(qbo, connection.realm_id, company, worker, decision.display_name)
                except QboDuplicateName:
                    failed.append((name, "the name was taken in QuickBooks meanwhile; run `/qbo vendors` again"))
                    continue
                except QboError as exc:
                    failed.append((name, f"QuickBooks refused it: {exc.message}"))
                    continue
                directory.add(vendor)
                await self._link(
                    connection.id, agreement_id, worker.email, vendor.id, vendor.display_name, "created", True
                )
                linked_ids.add(agreement_id)
                created.append(vendor.display_name)
            elif wanted is not None or decision.match == VendorMatch.CONFLICT:
                failed.append((name, decision.note or "not ready"))
        async with transaction(self._sessions) as session:
            repos.record_audit(
                session,
                connection.workspace_id,
                user_id,
                "create_vendors",
                connection.id,
                created=len(created),
                linked=len(linked),
                failed=len(failed),
            )
            if created or linked:
                await self._enqueue_retry_if_blocked(session, connection.id, user_id, codes=("no_vendor",))
        return VendorCreateResult(created, linked, failed)

    async def _link(
        self,
        connection_id: int,
        agreement_id: str,
        email: str | None,
        vendor_id: str,
        name: str,
        how: str,
        created_by_bot: bool = False,
    ) -> None:
        async with transaction(self._sessions) as session:
            await repos.add_vendor_link(
                session,
                connection_id,
                agreement_id,
                vendor_id,
                name,
                how,
                worker_email=email,
                created_by_bot=created_by_bot,
            )

    # --- mapping ----------------------------------------------------------------------------------------------

    async def mapping_rows(self, team: TeamRef) -> list[MappingRow]:
        connection = await self._connection(team)
        async with self._sessions() as session:
            mappings = await repos.get_mappings(session, connection.id)
            blocked = await reports.blocked_concepts(session, connection.id)
        concepts = [str(concept) for concept in Concept] + sorted(set(blocked) | set(mappings))
        rows = []
        for concept in dict.fromkeys(concepts):
            mapping = mappings.get(concept)
            rows.append(
                MappingRow(
                    concept=concept,
                    label=CONCEPT_LABELS.get(concept, concept.replace("_", " ").title()),
                    invoices_seen=blocked.get(concept, 0),
                    account_id=mapping.qbo_account_id if mapping else None,
                    account_name=mapping.account_name if mapping else None,
                )
            )
        return rows

    async def account_options(self, team: TeamRef, search: str = "") -> list[AccountOption]:
        async with self._sessions() as session:
            workspace = await repos.find_workspace(session, team.team_id, team.enterprise_id)
            connection = await repos.current_connection(session, workspace.id) if workspace else None
            if connection is None:
                return []
            accounts = await repos.list_accounts(session, connection.id, search.strip()[:100])
        return [AccountOption(account.qbo_id, account.fully_qualified_name) for account in accounts[:100]]

    async def save_mappings(self, team: TeamRef, user_id: str, mapping: dict[str, str]) -> list[MappingRow]:
        connection = await self._connection(team)
        async with transaction(self._sessions) as session:
            accounts = {account.qbo_id: account for account in await repos.list_accounts(session, connection.id)}
            for concept, account_id in mapping.items():
                account = accounts.get(account_id)
                if account is None:
                    raise ServiceError(
                        f"That account is not an active expense account in {connection.company_name}.",
                        field=concept_key(concept),
                    )
                await repos.set_mapping(
                    session, connection.id, concept_key(concept), account_id, account.fully_qualified_name, user_id
                )
            repos.record_audit(
                session, connection.workspace_id, user_id, "map", connection.id, concepts=sorted(mapping)
            )
            await session.flush()
            first = await scheduler.enqueue_first_sync(session, connection.id, user_id)
            if first is None:
                await self._enqueue_retry_if_blocked(session, connection.id, user_id, codes=("unmapped_concept",))
        return await self.mapping_rows(team)

    # --- sync -------------------------------------------------------------------------------------------------

    async def request_sync(
        self, team: TeamRef, user_id: str | None, trigger: str = "manual", channel_id: str | None = None
    ) -> SyncRequest:
        connection = await self._connection(team, require_active=True)
        async with transaction(self._sessions) as session:
            run, joined = await jobs.enqueue_run(session, connection.id, trigger, user_id, channel_id=channel_id)
            repos.record_audit(
                session, connection.workspace_id, user_id or "system", "sync", connection.id, run_id=run.id
            )
            return SyncRequest(run.id, joined, jobs.run_summary(run).status)

    async def sync_preview(self, team: TeamRef) -> SyncPreview:
        connection = await self._connection(team, require_active=True)
        async with self._sessions() as session:
            mapping = {c: m.qbo_account_id for c, m in (await repos.get_mappings(session, connection.id)).items()}
            links = await repos.get_vendor_links(session, connection.id)
        eligible = already = no_vendor = not_final = 0
        blocked: dict[str, int] = {}
        try:
            async with await self._clients.ontop_for_connection(connection.id) as ontop:
                seen = 0
                async for page in ontop.invoices_changed_since(connection.watermark):
                    async with self._sessions() as session:
                        ledger = await repos.ledger_rows(session, connection.id, [str(i.id) for i in page])
                    for invoice in page:
                        seen += 1
                        row = ledger.get(str(invoice.id))
                        if row is not None and row.state == InvoiceState.CREATED:
                            already += 1
                        elif waiting_reason(invoice) is not None:
                            not_final += 1
                        elif str(invoice.agreement_id) not in links:
                            no_vendor += 1
                        else:
                            unmapped = {concept_key(line.concept) for line in invoice.lines} - set(mapping)
                            for concept in unmapped:
                                blocked[concept] = blocked.get(concept, 0) + 1
                            eligible += 0 if unmapped else 1
                    if seen >= PREVIEW_LIMIT:
                        break
        except OntopError as exc:
            raise _unavailable(exc) from None
        return SyncPreview(eligible, already, blocked, no_vendor, not_final)

    async def retry_invoice(self, team: TeamRef, user_id: str, invoice_id: str) -> SyncRequest:
        connection = await self._connection(team, require_active=True)
        async with self._sessions() as session:
            rows = await repos.ledger_rows(session, connection.id, [invoice_id])
        if invoice_id not in rows:
            raise ServiceError("That invoice is not part of this workspace's connection.")
        return await self.request_sync(team, user_id, RunTrigger.RETRY)

    async def reconcile(self, team: TeamRef, since: date | None = None, until: date | None = None) -> ReconcileReport:
        connection = await self._connection(team, require_active=True)
        start = _midnight(since) if since else (connection.backfill_from or start_of_month(datetime.now(UTC)))
        end = _midnight(until) if until else datetime.now(UTC)
        if end <= start:
            raise ServiceError("The end of the period must come after its start.")
        qbo = self._clients.qbo_client(connection.id, connection.realm_id)
        try:
            async with await self._clients.ontop_for_connection(connection.id) as ontop:
                return await reconcile(ontop, qbo, connection.home_currency, start, end)
        except (QboError, OntopError) as exc:
            raise _unavailable(exc) from None

    async def run_summary(self, team: TeamRef, run_id: int) -> RunSummary | None:
        async with self._sessions() as session:
            workspace = await repos.find_workspace(session, team.team_id, team.enterprise_id)
            run = await jobs.get_run(session, run_id)
            if workspace is None or run is None:
                return None
            connection = await repos.get_connection(session, run.connection_id)
            if connection is None or connection.workspace_id != workspace.id:
                return None  # never show another workspace's run
            return await reports.run_summary(session, run)

    # --- disconnect -------------------------------------------------------------------------------------------

    async def disconnect(self, team: TeamRef, user_id: str) -> None:
        async with self._sessions() as session:
            workspace = await repos.find_workspace(session, team.team_id, team.enterprise_id)
            connections = await repos.active_connections(session, workspace.id) if workspace else []
        if not connections:
            raise _not_connected()
        for connection in connections:
            await self._disconnect(connection.id, user_id)

    async def _disconnect(self, connection_id: int, actor: str) -> None:
        async with self._sessions() as session:
            connection = await repos.get_connection(session, connection_id)
            tokens = repos.read_qbo_tokens(connection, self._clients.box) if connection else None
        if tokens is not None:
            try:
                await self._clients.oauth().revoke(tokens.refresh_token)
            except Exception as exc:  # revoking is best effort: the tokens are deleted here either way
                log.warning("qbo.revoke_failed", connection_id=connection_id, error=type(exc).__name__)
        async with transaction(self._sessions) as session:
            connection = await repos.get_connection(session, connection_id, for_update=True)
            if connection is None:
                return
            await repos.forget_connection_data(session, connection)
            await jobs.cancel_queued_runs(session, connection_id, "disconnected")
            repos.record_audit(session, connection.workspace_id, actor, "disconnect", connection_id)

    async def forget_workspace(self, team: TeamRef) -> None:
        async with self._sessions() as session:
            workspace = await repos.find_workspace(session, team.team_id, team.enterprise_id)
            connections = await repos.active_connections(session, workspace.id) if workspace else []
        for connection in connections:
            await self._disconnect(connection.id, "system")
        if workspace is not None:
            async with transaction(self._sessions) as session:
                found = await session.get(Workspace, workspace.id)
                if found is not None:
                    found.uninstalled_at = datetime.now(UTC)

    # --- webhooks ---------------------------------------------------------------------------------------------

    async def webhook_address_known(self, path_token: str) -> bool:
        if not path_token:
            return False
        async with self._sessions() as session:
            connection = await repos.connection_for_webhook_token(session, path_token)
        return connection is not None and connection.status == ConnectionStatus.ACTIVE

    async def handle_ontop_webhook(self, path_token: str, headers: dict[str, str], body: bytes) -> bool:
        async with self._sessions() as session:
            connection = await repos.connection_for_webhook_token(session, path_token) if path_token else None
        if connection is None or connection.status != ConnectionStatus.ACTIVE:
            raise WebhookRejected("unknown webhook address")
        secret = (
            self._clients.box.decrypt(connection.ontop_webhook_secret_encrypted)
            if connection.ontop_webhook_secret_encrypted
            else None
        )
        async with transaction(self._sessions) as session:
            outcome = await webhooks.receive_webhook(
                connection_id=connection.id,
                path_token=path_token,
                expected_path_token=path_token,  # the path was matched by its hash above
                body=body,
                headers=headers,
                secret=secret,
                store=repos.DeliveryOrderStore(session, connection.id),
                delay_seconds=self._webhook_delay_seconds,
            )
            if outcome.status_code == 401:
                raise WebhookRejected(outcome.reason)
            if outcome.status_code != 200:
                raise ServiceError(outcome.reason)
            if isinstance(outcome.decision, webhooks.SyncSoon):
                await scheduler.enqueue_webhook_run(
                    session, connection.id, debounce_seconds=outcome.decision.delay_seconds
                )
                return True
        return False

    # --- helpers ----------------------------------------------------------------------------------------------

    async def _connection(self, team: TeamRef, *, require_active: bool = False) -> Connection:
        async with self._sessions() as session:
            workspace = await repos.find_workspace(session, team.team_id, team.enterprise_id)
            connection = await repos.current_connection(session, workspace.id) if workspace else None
        if connection is None:
            raise _not_connected()
        if connection.status == ConnectionStatus.NEEDS_REAUTH:
            raise NeedsReauthError(
                "QuickBooks no longer accepts this connection. An admin needs to run `/qbo connect`."
            )
        if require_active and connection.status != ConnectionStatus.ACTIVE:
            raise ServiceError("Ontop is not connected yet. An admin can finish with `/qbo connect`.")
        return connection

    async def _connection_id(self, team: TeamRef, *, allow: tuple[str, ...]) -> int:
        async with self._sessions() as session:
            workspace = await repos.find_workspace(session, team.team_id, team.enterprise_id)
            connection = await repos.current_connection(session, workspace.id) if workspace else None
        if connection is None:
            raise ServiceError("Connect QuickBooks first: run `/qbo connect` and press *Connect QuickBooks*.")
        if connection.status not in allow:
            raise NeedsReauthError("QuickBooks needs reconnecting first: run `/qbo connect`.")
        return connection.id

    async def _enqueue_retry_if_blocked(
        self, session: AsyncSession, connection_id: int, user_id: str, *, codes: tuple[str, ...]
    ) -> None:
        blocked = await session.scalar(
            select(SyncedInvoice.id)
            .where(
                SyncedInvoice.connection_id == connection_id,
                SyncedInvoice.state == InvoiceState.FAILED,
                SyncedInvoice.error_code.in_(codes),
            )
            .limit(1)
        )
        if blocked is not None:
            await jobs.enqueue_run(session, connection_id, RunTrigger.RETRY, user_id)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def start_of_month(moment: datetime) -> datetime:
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _company(connection: Connection) -> Company:
    return Company(connection.realm_id, connection.home_currency, connection.multicurrency_enabled)


def _unavailable(exc: Exception) -> ServiceError:
    where = "QuickBooks" if isinstance(exc, QboError) else "Ontop"
    log.warning("service.unavailable", service=where, error=type(exc).__name__)
    return ServiceError(f"{where} could not be reached just now. Try again in a minute.")
