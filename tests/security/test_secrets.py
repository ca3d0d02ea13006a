"""A whole scenario at debug level leaves no token, password, client secret or Authorization value in the logs, in
Slack, in error messages, or in the database file. The Ontop password is typed where a person types it: the app's
login page, submitted as a browser submits it."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from sqlalchemy import select

from bot.logs import configure_logging
from devtools.browser import Browser
from devtools.stack import BOT_TOKEN, SIGNING_SECRET, LocalStack
from emulators.ontop.app import DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD
from emulators.qbo.state import DEFAULT_CLIENT_SECRET
from storage.models import Connection, SyncedInvoice, SyncRun
from tests.reliability.support import ADMIN_USER, TEAM, Driver, assert_nothing_lost_nor_doubled
from tests.security.support import small_options


@pytest.fixture
def debug_log() -> Iterator[io.StringIO]:
    """Logging configured as `qbo-bot serve` does (JSON, known secrets masked) at debug, into a buffer."""
    saved_config = structlog.get_config()
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    buffer = io.StringIO()
    configure_logging("debug", "json", stream=buffer, known_secrets=(SIGNING_SECRET, BOT_TOKEN, DEFAULT_CLIENT_SECRET))
    yield buffer
    structlog.configure(**saved_config)
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)
    logging.getLogger("httpx").setLevel(logging.WARNING)


@pytest.fixture
def recording_stack(debug_log: io.StringIO) -> Iterator[LocalStack]:
    with LocalStack(small_options(log_level="debug")) as started:
        yield started


def issued_ontop_tokens(stack: LocalStack) -> list[str]:
    """Wrap the Ontop emulator's token minting so the test knows every bearer token it handed out."""
    ontop = stack.ontop_state
    assert ontop is not None
    issued: list[str] = []
    mint = ontop.issue_token

    def recording() -> str:
        token = mint()
        issued.append(token)
        return token

    ontop.issue_token = recording  # type: ignore[method-assign]
    return issued


def qbo_tokens(stack: LocalStack) -> set[str]:
    qbo = stack.qbo_state
    assert qbo is not None
    with qbo.lock:
        tokens = set(qbo.access_tokens)
        for grant in qbo.grants.values():
            tokens.add(grant.refresh_token)
            tokens.update(grant.superseded)
    return tokens


def database_bytes(workdir: Path) -> bytes:
    """The SQLite database file with its WAL and journal, as anyone with disk access would read them."""
    return b"".join(path.read_bytes() for path in sorted(workdir.glob("qbo-bot.sqlite3*")))


async def test_no_secret_appears_in_logs_slack_errors_or_the_database(
    recording_stack: LocalStack, debug_log: io.StringIO
) -> None:
    stack = recording_stack
    ontop_tokens = issued_ontop_tokens(stack)
    driver = Driver(stack)
    try:
        assert stack.qbo_state is not None
        stack.qbo_state.switches.rotate_after_hours = 0  # every refresh rotates the refresh token too
        # The password goes where a person types it: the app's login page, never Slack (and a typo of it too).
        await driver.connect(ontop_in_browser=True)
        async with Browser() as browser:
            page_url = await driver.runtime.service.ontop_login_page(TEAM, ADMIN_USER)
            typo = await browser.fill_ontop_login(page_url, DEFAULT_ADMIN_EMAIL, f"{DEFAULT_ADMIN_PASSWORD}-typo")
        assert typo.status == 400 and "did not accept" in typo.text
        await driver.wait_for_runs_to_settle()
        seen_qbo_tokens = qbo_tokens(stack)
        stack.qbo_state.inject("*", "expire_token", 1)  # a refresh mid-run: new access and refresh tokens
        stack.qbo_state.inject("*/query", 500, 1)
        assert stack.ontop_state is not None
        stack.ontop_state.expire_tokens()  # and a re-login at Ontop
        first = next(iter(stack.ontop_state.generator.invoice_rows(stack.ontop_state.now)))
        stack.ontop_state.touch_invoice(int(first["invoiceId"]))
        await driver.request_sync_in_slack()
        await driver.wait_for_runs_to_settle(at_least=2)
        await assert_nothing_lost_nor_doubled(driver)
        async with driver.runtime.sessions() as session:
            connection = await session.scalar(select(Connection))
            assert connection is not None and connection.ontop_webhook_secret_encrypted
            webhook_secret = driver.runtime.box.decrypt(connection.ontop_webhook_secret_encrypted)
            errors = [run.error_summary for run in (await session.scalars(select(SyncRun))).all()]
            errors += [row.error_message for row in (await session.scalars(select(SyncedInvoice))).all()]
        await driver.runtime.service.disconnect(TEAM, ADMIN_USER)
    finally:
        await driver.aclose()

    assert stack.settings is not None and stack.settings.encryption_keys is not None
    secrets = {
        "QBO client secret": {DEFAULT_CLIENT_SECRET},
        "QBO access/refresh tokens": seen_qbo_tokens | qbo_tokens(stack),
        "Ontop password": {DEFAULT_ADMIN_PASSWORD},
        "Ontop bearer tokens": set(ontop_tokens),
        "Slack bot token": {BOT_TOKEN},
        "Slack signing secret": {SIGNING_SECRET},
        "encryption key": {stack.settings.encryption_keys.get_secret_value()},
        "Ontop webhook secret": {webhook_secret},
    }
    assert len(secrets["QBO access/refresh tokens"]) >= 4 and len(ontop_tokens) >= 2, "tokens were rotated"

    logs = debug_log.getvalue()
    assert "qbo.request" in logs and '"level": "debug"' in logs, "the scenario logged at debug level"
    slack = json.dumps([call.params for call in stack.fake_slack.calls()], default=str)
    database = await asyncio.to_thread(database_bytes, stack.workdir)
    places: dict[str, Any] = {"logs": logs, "Slack": slack, "errors": json.dumps(errors), "database": database}
    leaks = [
        f"{kind} in {place}"
        for kind, values in secrets.items()
        for value in values
        for place, haystack in places.items()
        if (value.encode() if isinstance(haystack, bytes) else value) in haystack
    ]
    assert not leaks, leaks
    assert "Bearer " not in logs or "Bearer ***" in logs, "Authorization values are masked"
