"""Secrets never reach the logs, whichever path they take to get there."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
import structlog

from bot.logs import bind_context, clear_context, configure_logging

BOT_TOKEN = "xoxb-123456789012-abcdefSECRET"
ACCESS_TOKEN = "eyJhbGciOiJkaXIifQ.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
REFRESH_TOKEN = "AB11790000000000refreshSECRETvalue"
PASSWORD = "hunter2-but-longer"
CLIENT_SECRET = "qbo-client-secret-value"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide state; put it back so later tests see the defaults."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.reset_defaults()
    root.handlers[:] = handlers
    root.setLevel(level)


def _capture(fmt: str) -> io.StringIO:
    stream = io.StringIO()
    configure_logging(level="debug", fmt=fmt, stream=stream, known_secrets=(CLIENT_SECRET,))
    return stream


def _log_secrets_every_way() -> None:
    log = structlog.get_logger("test")
    log.info("connected", access_token=ACCESS_TOKEN, refresh_token=REFRESH_TOKEN)
    log.info(
        "login", body={"email": "a@b.c", "password": PASSWORD}, headers={"Authorization": f"Bearer {ACCESS_TOKEN}"}
    )
    log.info(f"calling slack with {BOT_TOKEN}")
    log.warning("token exchange", url=f"https://x/oauth?code=abc&client_secret={CLIENT_SECRET}&refresh_token=zz")
    log.info("secret in a list", items=[BOT_TOKEN, {"nested": {"password": PASSWORD}}])
    bind_context(workspace="T1", authorization=f"Basic {CLIENT_SECRET}")
    log.info("with context")
    clear_context()
    logging.getLogger("httpx").warning("HTTP Request: POST %s %s", f"https://x?access_token={ACCESS_TOKEN}", BOT_TOKEN)
    try:
        raise RuntimeError(f"refresh failed for {REFRESH_TOKEN} with secret {CLIENT_SECRET}")
    except RuntimeError:
        log.exception("refresh failed")
        logging.getLogger("stdlib").exception("stdlib failure")


def _assert_clean(output: str) -> None:
    for secret in (BOT_TOKEN, ACCESS_TOKEN, REFRESH_TOKEN, PASSWORD, CLIENT_SECRET):
        assert secret not in output, secret
    assert "***" in output


def test_json_logs_mask_secrets_on_every_path() -> None:
    stream = _capture("json")
    _log_secrets_every_way()
    output = stream.getvalue()
    _assert_clean(output)
    assert '"workspace": "T1"' in output  # context binding still works
    assert output.count("\n") >= 8


def test_console_logs_mask_secrets_on_every_path() -> None:
    stream = _capture("console")
    _log_secrets_every_way()
    _assert_clean(stream.getvalue())


def test_a_logged_exception_keeps_its_traceback_with_the_secret_masked() -> None:
    stream = _capture("json")
    try:
        raise ValueError(f"token {BOT_TOKEN} refused")
    except ValueError as error:
        structlog.get_logger("test").error("listener_failed", exc_info=error)
    output = stream.getvalue()
    assert "Traceback" in output and "ValueError" in output
    assert BOT_TOKEN not in output


def test_harmless_values_are_left_alone() -> None:
    stream = _capture("json")
    structlog.get_logger("test").info("synced", invoices=12, amount="1234.50", realm_id="9130350000000000")
    output = stream.getvalue()
    assert "1234.50" in output and "9130350000000000" in output
