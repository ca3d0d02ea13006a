"""Drive the product like a finance admin, over signed HTTP: `/qbo connect`, consent, Ontop login, `/qbo map`.

Used by the first-sync and Slack responsiveness benchmarks; everything goes through the real `/slack/events` endpoint,
the QBO emulator's consent page and the app's `/qbo/callback`.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

import httpx

from devtools.signing import SlackClientSimulator, selected_option_state
from devtools.stack import FINANCE_CHANNEL, LocalStack
from emulators.ontop.app import DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD
from emulators.ontop.generator import DEFAULT_START
from handlers.ids import ConnectIds, MappingIds

# The connect modal's "first sync reads from" date picker (when the product has it).
BACKFILL_BLOCK = "connect-backfill-from"
BACKFILL_INPUT = "connect-backfill-from-input"
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
    """`/qbo connect`, sign in at the QBO emulator, follow its redirect to our callback, then save the Ontop login."""
    _expect_ok(await slack.command("connect", channel_id=FINANCE_CHANNEL), "/qbo connect")

    def consent_view() -> dict[str, Any] | None:
        view = stack.fake_slack.last_view(ConnectIds.CALLBACK)
        if view and json.loads(view.get("private_metadata") or "{}").get("consent_url"):
            return view
        return None

    view = await wait_until(consent_view, "the connect modal")
    consent_url = json.loads(view["private_metadata"])["consent_url"]
    async with httpx.AsyncClient(timeout=30) as http:
        consent = await http.get(consent_url, follow_redirects=False)
        callback = await http.get(consent.headers["location"], follow_redirects=False)
    _expect_ok(callback, "the QBO callback")
    values: dict[str, dict[str, dict[str, Any]]] = {
        ConnectIds.EMAIL_BLOCK: {ConnectIds.EMAIL: {"type": "email_text_input", "value": DEFAULT_ADMIN_EMAIL}},
        ConnectIds.PASSWORD_BLOCK: {ConnectIds.PASSWORD: {"type": "plain_text_input", "value": DEFAULT_ADMIN_PASSWORD}},
    }
    if BACKFILL_BLOCK in {block.get("block_id") for block in view.get("blocks") or []}:
        # Read the generated company from its first day (the modal's default is the current month's start).
        values[BACKFILL_BLOCK] = {
            BACKFILL_INPUT: {"type": "datepicker", "selected_date": DEFAULT_START.date().isoformat()}
        }
    submitted = await slack.submit_view(view["id"], values)
    _expect_ok(submitted, "the connect modal submission")
    if submitted.content and "errors" in submitted.text:
        raise RuntimeError(f"the Ontop login was refused: {submitted.text[:300]}")


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
    """Map every concept to Contractors; returns the monotonic time the submission was acknowledged."""
    view = await open_mapping(stack, slack)
    option = await contractors_option(slack, view)
    state = selected_option_state(option["value"], option["text"]["text"])
    values: dict[str, dict[str, dict[str, Any]]] = {
        block_id: {MappingIds.ACCOUNT.value: state} for block_id in concept_blocks(view)
    }
    submitted = await slack.submit_view(view["id"], values)
    _expect_ok(submitted, "the mapping submission")
    return time.monotonic()


def summary_posted(stack: LocalStack) -> bool:
    """The worker turned the run's progress message into its summary (or posted one)."""
    for method in ("chat.update", "chat.postMessage"):
        for call in stack.fake_slack.calls(method):
            if call.status == 200 and "bill(s) created" in json.dumps(call.params.get("blocks") or ""):
                return True
    return False


SUMMARY_TITLE = re.compile(r"QuickBooks sync #\d+ \w+(?: in [^*]+)?")
SUMMARY_COUNTS = re.compile(
    r"\d+ bill\(s\) created, \d+ already synced, \d+ skipped, \d+ failed(?:, \d+ supplier\(s\) created)?"
)


def summary_text(stack: LocalStack) -> str:
    """The summary's title and counts, e.g. "QuickBooks sync #1 partial in 4m 2s: 2,041 bill(s) created, ..."."""
    for method in ("chat.update", "chat.postMessage"):
        for call in reversed(stack.fake_slack.calls(method)):
            blocks = json.dumps(call.params.get("blocks") or "")
            counts = SUMMARY_COUNTS.search(blocks)
            if counts:
                title = SUMMARY_TITLE.search(blocks)
                return f"{title.group(0) if title else 'summary'}: {counts.group(0)}"
    return ""
