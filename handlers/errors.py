"""One error handler for every listener: log the traceback with a reference, tell the user where they are."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.respond.async_respond import AsyncRespond

log = structlog.get_logger(__name__)


async def report_listener_error(error: Exception, body: dict[str, Any], respond: AsyncRespond | None) -> None:
    """Log the traceback under a short reference and tell the user that reference, never the details."""
    reference = uuid.uuid4().hex[:8]
    log.error("listener_failed", reference=reference, request_type=body.get("type"), exc_info=error)
    if respond is not None and (body.get("response_url") or body.get("response_urls")):
        try:
            await respond(
                response_type="ephemeral",
                text=f":warning: Something went wrong on my side (reference `{reference}`). Please try again.",
            )
        except Exception as failed:  # telling the user is best effort; the error is logged above
            log.warning("error_reply_failed", reference=reference, error=type(failed).__name__)


Listener = Callable[..., Awaitable[None]]


def reported(listener: Listener) -> Listener:
    """Report errors raised after the ack here. Bolt 1.30 drops an ack already given when its listener raises
    afterwards, and Slack then sees a 404 after 3 s instead of the answer it already had."""

    @functools.wraps(listener)  # Bolt reads the wrapped listener's parameters to inject its arguments
    async def guarded(*args: Any, **kwargs: Any) -> None:
        try:
            await listener(*args, **kwargs)
        except Exception as error:
            payload = kwargs.get("body") or kwargs.get("command") or {}  # a command's payload has its response_url
            await report_listener_error(error, payload, kwargs.get("respond"))

    return guarded


def register(app: AsyncApp) -> None:
    app.error(report_listener_error)
