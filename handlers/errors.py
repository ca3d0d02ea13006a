"""One error handler for every listener: log the traceback with a reference, tell the user where they are."""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.respond.async_respond import AsyncRespond

log = structlog.get_logger(__name__)


def register(app: AsyncApp) -> None:
    async def report_error(error: Exception, body: dict[str, Any], respond: AsyncRespond | None) -> None:
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

    app.error(report_error)
