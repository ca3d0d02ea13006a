"""Drive the product like a finance admin, over signed HTTP: `/qbo connect`, consent, Ontop login, `/qbo map`.

Used by the first-sync and Slack responsiveness benchmarks; everything goes through the real `/slack/events` endpoint,
the QBO emulator's consent page and the app's `/qbo/callback`.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from typing import Any

import httpx

from bot.runtime import build_runtime
from devtools.browser import ONTOP_LOGIN_PATH, QBO_START_PATH, Browser, link_in
from devtools.demo import books_answers
from devtools.signing import SlackClientSimulator, view_state
from devtools.stack import ADMIN_USER, FINANCE_CHANNEL, TEAM_ID, LocalStack
from emulators.ontop.app import DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD
from emulators.ontop.generator import DEFAULT_START
from handlers.ids import ConnectIds, MappingIds
from sync.api import ReviewSettings, TeamRef

WAIT_SECONDS = 30.0
POLL_SECONDS = 0.02


async def wait_until(check: Any, what: str, timeout_seconds: float = WAIT_SECONDS) -> Any:
    """Poll `check()` until it returns something truthy (work the app does after its ack)."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(POLL_SECONDS)


def _expect_ok(response: httpx.Response, what: str) -> None:
    if response.status_code != 200:
        raise RuntimeError(f"{what}: HTTP {response.status_code} {response.text[:300]}")


async def connect(stack: LocalStack, slack: SlackClientSimulator) -> None:
    """`/qbo connect`, then the modal's two buttons in one browser, as the admin would: QuickBooks (the app's
    /qbo/start, consent at the QBO emulator, back to our /qbo/callback) and the app's Ontop login page."""
    _expect_ok(await slack.command("connect", channel_id=FINANCE_CHANNEL), "/qbo connect")

    def connect_view() -> dict[str, Any] | None:
        view = stack.fake_slack.last_view(ConnectIds.CALLBACK)
        return view if view and _has_link(view, QBO_START_PATH) else None

    view = await wait_until(connect_view, "the connect modal")
    async with Browser() as browser:  # one browser: the cookie /qbo/start sets must come back to the callback
        page = await browser.open(link_in(view, QBO_START_PATH))
        if page.status != 200:
            raise RuntimeError(f"QuickBooks was not connected: HTTP {page.status} {page.text[:300]}")
        page = await browser.fill_ontop_login(
            link_in(view, ONTOP_LOGIN_PATH),
            DEFAULT_ADMIN_EMAIL,
            DEFAULT_ADMIN_PASSWORD,
            DEFAULT_START.date().isoformat(),  # the generated company from its first day, not this month
        )
        if page.status != 200:
            raise RuntimeError(f"the Ontop login was refused: HTTP {page.status} {page.text[:300]}")


def _has_link(view: dict[str, Any], path: str) -> bool:
    try:
        link_in(view, path)
    except LookupError:
        return False
    return True


async def without_review_gate(stack: LocalStack) -> None:
    """Switch the approval gate off for the connection (a benchmark times the engine, not a person approving), through
    the service on the stack's database, as tests/reliability does; nothing to do on a product without the gate."""
    assert stack.settings is not None
    runtime = build_runtime(stack.settings)
    try:
        update: Any = runtime.service.update_settings
        if "review" not in inspect.signature(update).parameters:
            return
        team = TeamRef(TEAM_ID)
        current = await runtime.service.workspace_settings(team)
        await update(
            team,
            ADMIN_USER,
            finance_channel_id=current.finance_channel_id,
            sync_hour=current.sync_hour,
            timezone=current.timezone,
            admin_user_ids=current.admin_user_ids,
            auto_create_vendors=current.auto_create_vendors,
            review=ReviewSettings(first_sync=False, later_runs=False),
        )
    finally:
        await runtime.aclose()


async def open_mapping(stack: LocalStack, slack: SlackClientSimulator) -> dict[str, Any]:
    """`/qbo map` and wait for the modal with its concept inputs."""
    _expect_ok(await slack.command("map", channel_id=FINANCE_CHANNEL), "/qbo map")

    def mapping_view() -> dict[str, Any] | None:
        view = stack.fake_slack.last_view(MappingIds.CALLBACK)
        if view and concept_blocks(view):
            return view
        return None

    found: dict[str, Any] = await wait_until(mapping_view, "the mapping modal")
    return found


def concept_blocks(view: dict[str, Any]) -> list[str]:
    return [
        str(block["block_id"])
        for block in view.get("blocks") or []
        if str(block.get("block_id", "")).startswith(MappingIds.BLOCK_PREFIX)
    ]


async def contractors_option(slack: SlackClientSimulator, view: dict[str, Any]) -> dict[str, Any]:
    """What the account select offers for "Contractors" (answered from the cached chart of accounts)."""
    block_id = concept_blocks(view)[0]
    answer = await slack.suggest(view["id"], block_id, MappingIds.ACCOUNT, "Contractors")
    _expect_ok(answer, "the account suggestions")
    options: list[dict[str, Any]] = answer.json().get("options") or []
    if not options:
        raise RuntimeError("no account matches 'Contractors'")
    return options[0]


async def map_everything(stack: LocalStack, slack: SlackClientSimulator) -> float:
    """Map every concept to Contractors and answer the books part as the demo does (bills paid from a new "Ontop
    wallet", fees on the Ontop supplier), so the first sync pays its bills; returns the monotonic time the
    submission was acknowledged."""
    view = await open_mapping(stack, slack)
    option = await contractors_option(slack, view)
    answers: dict[str, Any] = {block_id: option for block_id in concept_blocks(view)}
    answers.update(books_answers(view)[0])
    submitted = await slack.submit_view(view["id"], view_state(view, answers))
    _expect_ok(submitted, "the mapping submission")
    return time.monotonic()


def _summary_part(params: dict[str, Any]) -> bool:
    """The post or update carries the run summary's metadata (part "top"; handlers/notify.py `_metadata`)."""
    metadata: Any = params.get("metadata") or {}
    if isinstance(metadata, str):  # form-encoded calls carry it as JSON text
        try:
            metadata = json.loads(metadata)
        except ValueError:
            return False
    payload = metadata.get("event_payload") if isinstance(metadata, dict) else None
    return isinstance(payload, dict) and payload.get("part") == "top" and "run_id" in payload


def summary_calls(stack: LocalStack) -> list[Any]:
    """Every successful post or update of a run summary, oldest first."""
    return [
        call
        for method in ("chat.postMessage", "chat.update")
        for call in stack.fake_slack.calls(method)
        if call.status == 200 and _summary_part(call.params)
    ]


def summary_posted(stack: LocalStack) -> bool:
    """The outbox delivered a run's summary (found by its message metadata, not by its wording)."""
    return bool(summary_calls(stack))


def _summary_run_id(params: dict[str, Any]) -> int | None:
    metadata: Any = params.get("metadata") or {}
    if isinstance(metadata, str):
        metadata = json.loads(metadata)
    return int(metadata["event_payload"]["run_id"])


def summary_run_ids(stack: LocalStack) -> list[int]:
    """The runs whose summary reached Slack, in the order their first summary did."""
    ids = [_summary_run_id(call.params) for call in summary_calls(stack)]
    return list(dict.fromkeys(run_id for run_id in ids if run_id is not None))


def summary_text_of(stack: LocalStack, run_id: int) -> str:
    """A run's latest summary text."""
    calls = [call for call in summary_calls(stack) if _summary_run_id(call.params) == run_id]
    return " ".join(str(calls[-1].params.get("text") or "").split())[:300] if calls else ""


def summary_text(stack: LocalStack) -> str:
    """The summary's notification text, e.g. "QuickBooks sync #1 finished in 4m 2s: 2,041 bills booked ..."."""
    calls = summary_calls(stack)
    return " ".join(str(calls[-1].params.get("text") or "").split())[:300] if calls else ""
