"""Connecting QuickBooks (OAuth) and Ontop (a checked login), and disconnecting."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, date, datetime
from urllib.parse import urlencode

import structlog

from storage.db import transaction
from storage.models import ConnectionStatus
from storage.records import ConnectionRecord
from storage.repos.audit import AuditRepo
from storage.repos.connections import ConnectionRepo
from storage.repos.oauth_states import OAuthStateRepo, StateOwner, StatePurpose
from storage.repos.runs import RunRepo
from storage.repos.workspaces import WorkspaceRepo
from sync import messages, scheduler
from sync.api import ConnectionChoice, NotConnectedError, OntopLoginForm, QboConnected, ServiceError, TeamRef
from sync.books import company_of, refresh_caches
from sync.naming import short_name
from sync.ontop.client import OntopCredentials
from sync.ontop.models import OntopAuthError, OntopError
from sync.qbo.auth import refresh_deadline
from sync.qbo.errors import QboError, QboInvalidGrant
from sync.service.base import (
    NeedsReauthError,
    ServiceContext,
    choice_of,
    midnight,
    resolve_connection,
    start_of_month,
)

log = structlog.get_logger(__name__)

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
LOCAL_BASE_URL = "http://127.0.0.1:3000"  # where `qbo-bot serve` listens when PUBLIC_BASE_URL is not set
QBO_START_PATH = "/qbo/start"
ONTOP_LOGIN_PATH = "/ontop/credentials"


class Connecting:
    def __init__(self, context: ServiceContext) -> None:
        self._context = context

    # --- the browser flows: a state per person, then a page of the bot's own ----------------------------------

    def _page(self, path: str, state: str) -> str:
        base = (self._context.public_base_url or LOCAL_BASE_URL).rstrip("/")
        return f"{base}{path}?{urlencode({'state': state})}"

    async def _issue(self, team: TeamRef, user_id: str, purpose: StatePurpose) -> str:
        """A state for this workspace and person; an Ontop login state is bound to the connection the request names
        (one that names none finishes the workspace's unfinished connection, see `_login_connection`)."""
        async with transaction(self._context.sessions) as session:
            workspace = await WorkspaceRepo(session).get_or_create(team.team_id, team.enterprise_id)
            bound = None
            if purpose is StatePurpose.ONTOP_LOGIN and (team.connection or team.connection_id):
                connection = await resolve_connection(session, workspace.id, team)
                bound = connection.id if connection is not None else None
            return await OAuthStateRepo(session).issue(workspace.id, user_id, purpose=purpose, connection_id=bound)

    async def start_qbo_connect(self, team: TeamRef, user_id: str) -> str:
        state = await self._issue(team, user_id, StatePurpose.QBO_CONSENT)
        return self._context.clients.oauth().authorization_url(state)

    async def qbo_connect_page(self, team: TeamRef, user_id: str) -> str:
        return self._page(QBO_START_PATH, await self._issue(team, user_id, StatePurpose.QBO_CONSENT))

    async def qbo_consent_url(self, state: str) -> str:
        async with self._context.sessions() as session:
            owner = await OAuthStateRepo(session).is_usable(state) if state else None
        if owner is None:
            raise ServiceError(messages.QBO_LINK_EXPIRED)
        return self._context.clients.oauth().authorization_url(state)

    async def complete_qbo_connect(self, state: str, code: str, realm_id: str) -> QboConnected:
        if not state or not code or not realm_id:
            raise ServiceError(messages.QBO_ANSWER_INCOMPLETE)
        async with transaction(self._context.sessions) as session:
            owner = await OAuthStateRepo(session).consume(state)
            # Refused before the code is exchanged: a company stays with the workspace that connected it until it
            # is disconnected there (otherwise a consent link sent to a victim would move their company).
            taken = owner is not None and await ConnectionRepo(session).is_realm_open_elsewhere(
                owner.workspace_id, realm_id
            )
        if owner is None:
            raise ServiceError(messages.QBO_LINK_EXPIRED)
        if taken:
            log.warning("qbo.connect_refused_realm_elsewhere", workspace_id=owner.workspace_id)
            raise ServiceError(messages.QBO_REALM_ELSEWHERE)
        clients = self._context.clients
        try:
            tokens = await clients.oauth().exchange_code(code)
            company = await clients.qbo_client_with_tokens(realm_id, tokens).company_info()
        except (QboInvalidGrant, QboError) as exc:
            log.warning("qbo.connect_failed", error=type(exc).__name__)
            raise ServiceError(messages.QBO_SIGN_IN_REFUSED) from None
        async with transaction(self._context.sessions) as session:
            workspace = await WorkspaceRepo(session).get(owner.workspace_id)
            assert workspace is not None
            connections = ConnectionRepo(session)
            if await connections.is_realm_open_elsewhere(workspace.id, realm_id):  # connected meanwhile elsewhere
                raise ServiceError(messages.QBO_REALM_ELSEWHERE)
            connection = await connections.for_realm(workspace.id, realm_id)
            if connection is None:  # another company: a connection of its own, named after it
                names = [one.name for one in await connections.list_open(workspace.id)]
                connection = await connections.create(workspace.id, realm_id, short_name(company.company_name, names))
            await connections.save_company(
                connection.id,
                company_name=company.company_name,
                home_currency=company.home_currency,
                multicurrency_enabled=company.multicurrency_enabled,
            )
            await connections.store_qbo_tokens(
                connection.id,
                clients.box,
                access_token=tokens.access_token,
                refresh_token=tokens.refresh_token,
                access_expires_at=tokens.access_expires_at,
                refresh_expires_at=refresh_deadline(tokens),
            )
            await connections.save_country(connection.id, company.country or "USA")
            connected = await connections.mark_connected_to_qbo(connection.id, owner.user_id)
            AuditRepo(session).record(
                workspace.id, owner.user_id, "connect_qbo", connection.id, company=company.company_name
            )
            team = TeamRef(workspace.team_id, workspace.enterprise_id or None).on(connection.id)
        qbo = clients.qbo_client(connection.id, realm_id)
        await refresh_caches(self._context.sessions, qbo, connection.id, company_of(connected))
        return QboConnected(team, owner.user_id, company.company_name, connection.id, connected.name)

    async def ontop_login_page(self, team: TeamRef, user_id: str) -> str:
        return self._page(ONTOP_LOGIN_PATH, await self._issue(team, user_id, StatePurpose.ONTOP_LOGIN))

    async def _login_owner(self, state: str) -> tuple[StateOwner, TeamRef]:
        async with self._context.sessions() as session:
            owner = await OAuthStateRepo(session).is_usable(state, purpose=StatePurpose.ONTOP_LOGIN) if state else None
            workspace = await WorkspaceRepo(session).get(owner.workspace_id) if owner else None
        if owner is None or workspace is None:
            raise ServiceError(messages.ONTOP_LINK_EXPIRED)
        return owner, TeamRef(workspace.team_id, workspace.enterprise_id or None).on(owner.connection_id)

    async def _login_connection(self, team: TeamRef) -> ConnectionRecord | None:
        """The connection an Ontop login is for: the one named; else the newest still waiting for its Ontop login
        (a `/qbo connect` being finished, also one started with `/qbo connect new`); else the only one."""
        if team.connection or team.connection_id:
            return await self._context.find_connection(team)
        async with self._context.sessions() as session:
            workspace = await WorkspaceRepo(session).find(team.team_id, team.enterprise_id)
            open_ones = await ConnectionRepo(session).list_open(workspace.id) if workspace else []
        unfinished = [one for one in open_ones if one.status == ConnectionStatus.PENDING]
        if unfinished:
            return unfinished[-1]
        return await self._context.find_connection(team)

    async def ontop_login_form(self, state: str) -> OntopLoginForm:
        owner, team = await self._login_owner(state)
        connection = await self._login_connection(team)
        if connection is not None:
            team = team.on(connection.id)
        first_day = connection.backfill_from if connection and connection.backfill_from else None
        return OntopLoginForm(
            team=team,
            user_id=owner.user_id,
            company_name=(connection.company_name or "") if connection else "",
            backfill_from=(first_day or start_of_month(datetime.now(UTC))).date(),
        )

    async def save_ontop_login(
        self, state: str, email: str, password: str, backfill_from: date | None = None
    ) -> OntopLoginForm:
        form = await self.ontop_login_form(state)
        if backfill_from is not None and backfill_from > datetime.now(UTC).date():
            raise ServiceError(messages.BACKFILL_IN_FUTURE, field="backfill")
        await self.save_ontop_credentials(form.team, form.user_id, email, password, backfill_from, state=state)
        return form

    async def save_ontop_credentials(
        self,
        team: TeamRef,
        user_id: str,
        email: str,
        password: str,
        backfill_from: date | None = None,
        *,
        state: str | None = None,
    ) -> None:
        """Check the login with Ontop, then store it; with `state` (the login page's), that state is used up in the
        same transaction, so two submissions of one page cannot both save."""
        email = email.strip()
        if not EMAIL.match(email):
            raise ServiceError(messages.ONTOP_EMAIL_INVALID, field="email")
        if not password:
            raise ServiceError(messages.ONTOP_PASSWORD_MISSING, field="password")
        connection = await self._login_connection(team)
        if connection is None:
            raise ServiceError(messages.CONNECT_QBO_FIRST)
        if connection.status not in ("pending", "active"):
            raise NeedsReauthError(messages.RECONNECT)
        client = self._context.clients.ontop_client(OntopCredentials(email=email, password=password))
        try:
            await client.check_credentials()
        except OntopAuthError:
            raise ServiceError(messages.ONTOP_LOGIN_REFUSED, field="password") from None
        except OntopError:
            raise ServiceError(messages.ONTOP_UNREACHABLE_AT_LOGIN, field="email") from None
        finally:
            await client.aclose()
        webhook_secret = secrets.token_urlsafe(32)
        async with transaction(self._context.sessions) as session:
            if (
                state is not None
                and await OAuthStateRepo(session).consume(state, purpose=StatePurpose.ONTOP_LOGIN) is None
            ):
                raise ServiceError(messages.ONTOP_LINK_EXPIRED)
            connections = ConnectionRepo(session)
            await connections.get(connection.id, for_update=True)
            webhook_token = await connections.store_ontop_credentials(
                connection.id, self._context.clients.box, email=email, password=password, webhook_secret=webhook_secret
            )
            if backfill_from is not None:
                await connections.set_backfill(connection.id, midnight(backfill_from))
            else:
                await connections.set_backfill(connection.id, start_of_month(datetime.now(UTC)), only_if_unset=True)
            AuditRepo(session).record(connection.workspace_id, user_id, "connect_ontop", connection.id)
            await scheduler.enqueue_first_sync(session, connection.id, user_id)
        await self._register_webhook(email, password, webhook_token, webhook_secret)

    async def _register_webhook(self, email: str, password: str, token: str, secret: str) -> None:
        """Ask Ontop to call us on payments; best effort: without it the daily and manual syncs still run."""
        if not self._context.public_base_url:
            return
        url = f"{self._context.public_base_url.rstrip('/')}/ontop/webhook/{token}"
        client = self._context.clients.ontop_client(OntopCredentials(email=email, password=password))
        try:
            await client.register_webhook(url, secret)
        except OntopError as exc:
            log.warning("ontop.webhook_registration_failed", error=type(exc).__name__)
        finally:
            await client.aclose()

    # --- disconnecting --------------------------------------------------------------------------------------

    async def disconnect(self, team: TeamRef, user_id: str) -> ConnectionChoice:
        """Disconnect the connection the request is about; the workspace's other companies are left as they are.
        Returns which one it was (the confirmation names it)."""
        connection = await self._context.find_connection(team)
        if connection is None or connection.status == ConnectionStatus.DISCONNECTED:
            raise NotConnectedError(messages.QBO_NOT_CONNECTED)
        await self._disconnect(connection.id, user_id)
        return choice_of(connection)

    async def forget_workspace(self, team: TeamRef) -> None:
        """app_uninstalled / tokens_revoked: disconnect everything and stop scheduling."""
        async with self._context.sessions() as session:
            workspace = await WorkspaceRepo(session).find(team.team_id, team.enterprise_id)
            connections = await ConnectionRepo(session).list_open(workspace.id) if workspace else []
        for connection in connections:
            await self._disconnect(connection.id, "system")
        if workspace is not None:
            async with transaction(self._context.sessions) as session:
                await WorkspaceRepo(session).mark_uninstalled(workspace.id)

    async def _disconnect(self, connection_id: int, actor: str) -> None:
        clients = self._context.clients
        async with self._context.sessions() as session:
            tokens = await ConnectionRepo(session).read_qbo_tokens(connection_id, clients.box)
        if tokens is not None:
            try:
                await clients.oauth().revoke(tokens.refresh_token)
            except Exception as exc:  # revoking is best effort: the tokens are deleted here either way
                log.warning("qbo.revoke_failed", connection_id=connection_id, error=type(exc).__name__)
        async with transaction(self._context.sessions) as session:
            connections = ConnectionRepo(session)
            connection = await connections.get(connection_id, for_update=True)
            if connection is None:
                return
            await connections.forget(connection_id)
            await RunRepo(session).cancel_queued(connection_id, "disconnected")
            AuditRepo(session).record(connection.workspace_id, actor, "disconnect", connection_id)
