"""One error handler for every listener: log the traceback with a reference, tell the user where they are.

The person only ever sees the short reference (in an ephemeral reply, or in the modal they were looking at);
the log line carries the same reference with the traceback, so support can find one from the other.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from handlers.views.common import result_view

log = structlog.get_logger(__name__)


def something_went_wrong(reference: str) -> str:
    """What a person reads about an unexpected error: the reference, never the details."""
    return f":warning: Something went wrong on my side (reference `{reference}`). Please try again."


def error_view(title: str, reference: str) -> dict[str, Any]:
    """The modal that replaces a loading or saving view when something unexpected failed."""
    return result_view(title, something_went_wrong(reference))


def log_failure(error: BaseException, **context: Any) -> str:
    """Log the traceback under a new short reference and return that reference (what the person is told)."""
    reference = uuid.uuid4().hex[:8]
    log.error("listener_failed", reference=reference, exc_info=error, **context)
    return reference


async def report_listener_error(error: Exception, body: dict[str, Any], respond: AsyncRespond | None) -> None:
    """Log the traceback under a short reference and tell the user that reference where a reply can go."""
    reference = log_failure(error, request_type=body.get("type"))
    await _reply(reference, body, respond)


async def _reply(reference: str, body: dict[str, Any], respond: AsyncRespond | None) -> None:
    if respond is None or not (body.get("response_url") or body.get("response_urls")):
        return  # no place for a reply (a view submission, an App Home button): modals show their own error view
    try:
        await respond(response_type="ephemeral", text=something_went_wrong(reference))
    except Exception as failed:  # telling the user is best effort; the error is logged above
        log.warning("error_reply_failed", reference=reference, error=type(failed).__name__)


Listener = Callable[..., Awaitable[None]]


def reported(listener: Listener) -> Listener:
    """Report errors raised by a listener here. Bolt 1.30 drops an ack already given when its listener raises
    afterwards, and Slack then sees a 404 after 3 s instead of the answer it already had."""

    @functools.wraps(listener)  # Bolt reads the wrapped listener's parameters to inject its arguments
    async def guarded(*args: Any, **kwargs: Any) -> None:
        try:
            await listener(*args, **kwargs)
        except Exception as error:
            payload = kwargs.get("body") or kwargs.get("command") or {}  # a command's payload has its response_url
            reference = log_failure(error, request_type=payload.get("type"))
            ack = kwargs.get("ack")
            if payload.get("type") == "view_submission" and isinstance(ack, AsyncAck) and ack.response is None:
                # Failed before the ack: the ack itself can still put the reference in the modal.
                title = str(((payload.get("view") or {}).get("title") or {}).get("text") or "Error")
                await ack(response_action="update", view=error_view(title, reference))
                return
            await _reply(reference, payload, kwargs.get("respond"))

    return guarded


def register(app: AsyncApp) -> None:
    app.error(report_listener_error)
