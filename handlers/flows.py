"""What happens after the ack, shared by /qbo, App Home buttons and fix buttons: open a modal, queue a sync.

Modals follow slack.md §5: open a light "Loading…" view with the trigger_id at once (it expires in 3 s), then
check permission, call the service, and `views.update` with the real view or a polite refusal. Whatever fails
after that, the loading view is replaced (`guarded`): a person never stares at "Loading…" forever.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import structlog
from slack_sdk.web.async_client import AsyncWebClient

from handlers import blocks
from handlers.deps import Deps, with_connection
from handlers.errors import error_view, log_failure
from handlers.views.common import loading_view, result_view
from handlers.views.connect import ConnectProgress, connect_view
from handlers.views.connections import choose_connection_view
from handlers.views.disconnect import disconnect_view
from handlers.views.mapping import mapping_view
from handlers.views.settings import settings_view
from handlers.views.tracking import tracking_view
from handlers.views.vendors import vendors_view
from sync import messages
from sync.api import ConnectionChoiceNeeded, NotConnectedError, RunTrigger, ServiceError, TeamRef

log = structlog.get_logger(__name__)

ViewBuilder = Callable[[], Awaitable[dict[str, Any]]]
ShowView = Callable[[dict[str, Any]], Awaitable[None]]


class ModalSession:
    """A modal opened with a loading view; `show` replaces its content (views.update guarded by hash).

    Once it is about one connection, every view it shows carries that connection (private_metadata), so what is
    submitted or pressed in it acts on the same company.
    """

    def __init__(
        self, client: AsyncWebClient, view_id: str, view_hash: str | None, connection_id: int | None = None
    ) -> None:
        self.client = client
        self.view_id = view_id
        self.view_hash = view_hash
        self.connection_id = connection_id

    async def show(self, view: dict[str, Any]) -> None:
        view = with_connection(view, self.connection_id)
        response = await self.client.views_update(view_id=self.view_id, hash=self.view_hash, view=view)
        self.view_hash = (response.get("view") or {}).get("hash")


async def open_loading(
    client: AsyncWebClient, trigger_id: str, title: str, text: str = "Loading…", *, push: bool = False
) -> ModalSession:
    """Open the loading view; `push` stacks it on the modal the click came from (views.open is for new modals)."""
    view = loading_view(title, text)
    if push:
        response = await client.views_push(trigger_id=trigger_id, view=view)
    else:
        response = await client.views_open(trigger_id=trigger_id, view=view)
    opened = response.get("view") or {}
    return ModalSession(client, str(opened.get("id")), opened.get("hash"))


def refusal_view(title: str, action: str) -> dict[str, Any]:
    return result_view(title, f":lock: {blocks.refusal_message(action).text}")


def problem_view(title: str, error: ServiceError) -> dict[str, Any]:
    """The service's message, made inert: it may quote a company name or what the person typed."""
    return result_view(title, f":warning: {blocks.escape(error.message)}")


@contextlib.asynccontextmanager
async def guarded(show: ShowView, title: str) -> AsyncIterator[None]:
    """Run the body; if it fails, replace the modal with the service's message, or with an error reference.

    For the work that follows a loading or saving view: any exception, not only a ServiceError, must replace
    that view. The traceback is logged under the reference the modal shows; the exception text never is shown.
    """
    try:
        yield
    except ServiceError as error:
        await _show_or_log(show, problem_view(title, error), None)
    except Exception as error:
        reference = log_failure(error, modal=title)
        await _show_or_log(show, error_view(title, reference), reference)


async def in_modal_as_admin(
    deps: Deps,
    client: AsyncWebClient,
    body: dict[str, Any],
    team: TeamRef,
    user_id: str,
    title: str,
    action: str,
    work: Callable[[ModalSession, dict[str, Any]], Awaitable[None]],
) -> None:
    """A button inside an open modal that only admins may press: asked afresh, then `work(session, view)`, with any
    failure shown in the modal (see `guarded`)."""
    view = body.get("view") or {}
    session = ModalSession(client, str(view.get("id")), view.get("hash"))
    async with guarded(session.show, title):
        if not await deps.admins.is_admin(client, team, user_id):
            await session.show(refusal_view(title, action))
            return
        await work(session, view)


async def _show_or_log(show: ShowView, view: dict[str, Any], reference: str | None) -> None:
    try:
        await show(view)
    except Exception as failed:  # the modal may be closed or gone; nothing more can be shown
        log.warning("error_view_failed", reference=reference, error=type(failed).__name__)


async def show_modal(
    deps: Deps,
    client: AsyncWebClient,
    *,
    trigger_id: str,
    team: TeamRef,
    user_id: str,
    title: str,
    action: str,
    build: ViewBuilder | None = None,
    admin_only: bool = True,
    prepare: Callable[[], Awaitable[object]] | None = None,
    push: bool = False,
    make: Callable[[TeamRef], ViewBuilder] | None = None,
    then: dict[str, Any] | None = None,
    session: ModalSession | None = None,
    prefer_unfinished: bool = False,
) -> ModalSession:
    """Open the loading view now, then the real one (or a refusal / the service's message / an error reference).

    Args:
        build: the view, for what is about no connection in particular (or one `team` already names by id).
        make: instead of `build`, for what acts on one connection: the connection is resolved first (the one `team`
            names, or the only one), and when the workspace has several and `team` names none, the modal asks which
            (a select that continues with `then`).
        prepare: work that must precede the check but may be slow (e.g. creating the workspace row).
        push: the click came from a modal: stack the new view on it.
        session: a modal already open (a choice made in it): shown there instead of opening another.
    """
    if session is None:
        session = await open_loading(client, trigger_id, title, push=push)
    else:
        await session.show(loading_view(title))
    async with guarded(session.show, title):
        if prepare is not None:
            await prepare()
        if admin_only and not await deps.admins.is_admin(client, team, user_id):
            log.info("refused_non_admin", team_id=team.team_id, user_id=user_id, action=action)
            await session.show(refusal_view(title, action))
            return session
        if make is not None:
            try:
                team = await deps.service.which_connection(team, prefer_unfinished=prefer_unfinished)
            except ConnectionChoiceNeeded as choice:
                if then is None:
                    raise
                await session.show(choose_connection_view(title, choice.message, choice.choices, then))
                return session
            build = make(team)
        session.connection_id = team.connection_id
        if build is not None:
            await session.show(await build())
    return session


# --- the modals, as builders over the service -------------------------------------------------------------


async def connect_progress(deps: Deps, team: TeamRef) -> ConnectProgress:
    """What the connect modal shows as done: QuickBooks (unless it must be reconnected) and Ontop."""
    status = await deps.service.status(team)
    if status is None or status.status in ("disconnected", "needs_reauth"):
        return ConnectProgress()
    return ConnectProgress(company_name=status.company_name, ontop_connected=status.ontop_connected, name=status.name)


def connect_builder(
    deps: Deps, team: TeamRef, user_id: str, note: str | None = None, *, new: bool = False
) -> ViewBuilder:
    """The connect modal with fresh links (each a new single-use state for this person) and what is done.

    new: another company (`/qbo connect new`): nothing shown as done; the Ontop link then finishes whichever
    connection the QuickBooks link makes.
    """

    async def build() -> dict[str, Any]:
        qbo_url = await deps.service.qbo_connect_page(team, user_id)
        ontop_url = await deps.service.ontop_login_page(team, user_id)
        progress = ConnectProgress() if new else await connect_progress(deps, team)
        return connect_view(qbo_url, ontop_url, progress, note=note)

    return build


def vendors_builder(deps: Deps, team: TeamRef, page: int = 0) -> ViewBuilder:
    async def build() -> dict[str, Any]:
        return vendors_view(await deps.service.vendor_preview(team), page)

    return build


def mapping_builder(deps: Deps, team: TeamRef, focus: str | None = None) -> ViewBuilder:
    async def build() -> dict[str, Any]:
        rows = await deps.service.mapping_rows(team)
        return mapping_view(rows, await deps.service.books_view(team), focus=focus)

    return build


def tracking_builder(deps: Deps, team: TeamRef) -> ViewBuilder:
    async def build() -> dict[str, Any]:
        return tracking_view(await deps.service.tracking_view(team))

    return build


def settings_builder(deps: Deps, team: TeamRef) -> ViewBuilder:
    async def build() -> dict[str, Any]:
        return settings_view(await deps.service.workspace_settings(team))

    return build


def disconnect_builder(deps: Deps, team: TeamRef) -> ViewBuilder:
    async def build() -> dict[str, Any]:
        status = await deps.service.status(team)
        if status is None or status.status == "disconnected":
            raise NotConnectedError(messages.NOTHING_TO_DISCONNECT)
        return disconnect_view(status.company_name)

    return build


def sync_builder(deps: Deps, team: TeamRef, user_id: str, channel_id: str | None = None) -> ViewBuilder:
    """For surfaces without a response_url (App Home): the queued-sync answer shown in a modal."""

    async def build() -> dict[str, Any]:
        request = await deps.service.request_sync(team, user_id, RunTrigger.MANUAL, channel_id)
        return result_view("Sync", blocks.sync_queued_message(request).text)

    return build
