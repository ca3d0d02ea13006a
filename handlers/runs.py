"""A run's drill-down: the *Details* button on every summary (and `/qbo run N`) opens the run's invoices by outcome;
*Download CSV* sends its ledger rows to the person's direct messages (files:write, im:write).

Listeners ack first, then check the admin afresh; the run id from a button or private_metadata is only ever looked
up within the workspace that sent the request.
"""

from __future__ import annotations

import re
from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from handlers import flows
from handlers.deps import Deps, number_of, team_of, user_of
from handlers.errors import reported
from handlers.ids import RunIds
from handlers.notify import open_dm
from handlers.views.runs import csv_sent_note, run_details_view, run_metadata
from sync.api import ServiceError, TeamRef

log = structlog.get_logger(__name__)

TITLE = "Sync details"
PURPOSE = "see a sync's invoices"
RUN_GONE = "I can't find that sync. `/qbo history` lists the latest ones."
RUN_NUMBER_MISSING = "Give the sync's number, like `/qbo run 12` (`/qbo history` lists them)."


def run_details_builder(deps: Deps, team: TeamRef, run_id: int | None, page: int = 0) -> flows.ViewBuilder:
    async def build() -> dict[str, Any]:
        if run_id is None:
            raise ServiceError(RUN_NUMBER_MISSING)
        details = await deps.service.run_details(team, run_id)
        if details is None:
            raise ServiceError(RUN_GONE)
        return run_details_view(details, page, deps.links)

    return build


async def send_run_csv(deps: Deps, client: AsyncWebClient, team: TeamRef, user_id: str, run_id: int) -> bool:
    """The run's ledger rows as a CSV file in the person's direct messages; False when nobody can be written to."""
    content = await deps.service.run_ledger_csv(team, run_id, deps.links)
    channel = await open_dm(client, [user_id])
    if channel is None:
        return False
    await client.files_upload_v2(
        channel=channel,
        content=content,
        filename=f"qbo-sync-{run_id}.csv",
        title=f"Sync #{run_id}: every invoice",
        initial_comment=f"Sync #{run_id}: each invoice it wrote about, with its bill and payment.",
    )
    return True


def register(app: AsyncApp, deps: Deps) -> None:
    async def open_run_details(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        await ack()
        team = team_of(context)
        await flows.show_modal(
            deps,
            client,
            trigger_id=str(body.get("trigger_id")),
            team=team,
            user_id=user_of(body),
            title=TITLE,
            action=PURPOSE,
            build=run_details_builder(deps, team, number_of(action.get("value"))),
            push=(body.get("view") or {}).get("type") == "modal",
        )

    async def turn_run_page(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        await ack()
        team, user_id = team_of(context), user_of(body)

        async def show_page(session: flows.ModalSession, view: dict[str, Any]) -> None:
            run_id, _ = run_metadata(view)
            await session.show(await run_details_builder(deps, team, run_id, number_of(action.get("value")) or 0)())

        await flows.in_modal_as_admin(deps, client, body, team, user_id, TITLE, PURPOSE, show_page)

    async def download_run_csv(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        """*Download CSV*: the file goes to the person's DM with the bot; the modal then says where it is."""
        await ack()
        team, user_id = team_of(context), user_of(body)

        async def send_and_say_so(session: flows.ModalSession, view: dict[str, Any]) -> None:
            run_id, page = run_metadata(view)
            if run_id is None or await deps.service.run_details(team, run_id) is None:
                raise ServiceError(RUN_GONE)
            if not await send_run_csv(deps, client, team, user_id, run_id):
                raise ServiceError("I could not open a direct message with you to send the file.")
            shown = await run_details_builder(deps, team, run_id, page)()
            shown["blocks"] = [*shown["blocks"][:-1], csv_sent_note(run_id), shown["blocks"][-1]][:100]
            try:
                await session.show(shown)
            except SlackApiError as error:  # the file is sent; the note is a courtesy
                log.info("csv_note_not_shown", error=error.response.get("error"))

        await flows.in_modal_as_admin(deps, client, body, team, user_id, TITLE, PURPOSE, send_and_say_so)

    app.action(RunIds.DETAILS.value)(reported(open_run_details))
    app.action(re.compile(f"^{RunIds.PAGE.value}-"))(reported(turn_run_page))
    app.action(RunIds.CSV.value)(reported(download_run_csv))
