"""The ASGI web app: Slack's one request URL, the install flow, the QuickBooks callback, the Ontop webhook,
health, readiness and metrics.

Routes are measured by their template (`/ontop/webhook/{token}`), never by the raw path: the webhook token is a
secret and must not reach logs or metric labels.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import structlog
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler, to_starlette_response
from slack_bolt.async_app import AsyncApp
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.app import SlackRequest
from bot.config import Settings
from bot.metrics import AppMetrics
from handlers.notify import SlackNotifier
from sync.api import BotService, ServiceError, WebhookRejected

log = structlog.get_logger(__name__)

READY_TIMEOUT_SECONDS = 2.0

Endpoint = Callable[[Request], Awaitable[Response]]
Hook = Callable[[], Awaitable[Any]]


def html_page(title: str, message: str, *, status: int) -> HTMLResponse:
    """A small, friendly page for people who land here from a browser (escaped: nothing of theirs runs)."""
    body = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;"
        "line-height:1.5}</style></head>"
        f"<body><h1>{html.escape(title)}</h1><p>{html.escape(message)}</p></body></html>"
    )
    return HTMLResponse(body, status_code=status)


def slack_request_kind(body: dict[str, Any]) -> str:
    """command, block_actions, view_submission, block_suggestion, event_callback, ... for the ack metric."""
    if "command" in body:
        return "command"
    kind = body.get("type")
    return str(kind) if isinstance(kind, str) else "unknown"


def create_web_app(
    settings: Settings,
    bolt_app: AsyncApp,
    service: BotService,
    engine: AsyncEngine,
    *,
    notifier: SlackNotifier | None = None,
    metrics: AppMetrics | None = None,
    on_startup: Sequence[Hook] = (),
    on_shutdown: Sequence[Hook] = (),
) -> Starlette:
    """The Starlette app uvicorn serves (tests serve it too, on loopback)."""
    metrics = metrics or AppMetrics()
    oauth_handler = AsyncSlackRequestHandler(bolt_app)

    async def slack_events(request: Request) -> Response:
        started = time.perf_counter()
        raw = await request.body()
        timestamp = request.headers.get("x-slack-request-timestamp", "")
        if not timestamp.isdigit():
            # Bolt would crash on a non-numeric timestamp; such a request is unauthenticated whatever it carries.
            return JSONResponse({"error": "invalid request"}, status_code=401)
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            return JSONResponse({"error": "invalid request"}, status_code=400)
        bolt_request = SlackRequest(body=body, query=dict(request.query_params), headers=request.headers)
        bolt_response = await bolt_app.async_dispatch(bolt_request)
        # Bolt answers as soon as the listener calls ack(): this is the ack latency Slack sees.
        metrics.observe_ack(slack_request_kind(bolt_request.body), time.perf_counter() - started)
        return to_starlette_response(bolt_response)

    async def slack_oauth(request: Request) -> Response:
        if bolt_app.oauth_flow is None:
            return html_page(
                "Not available", "This bot serves a single workspace; there is nothing to install.", status=404
            )
        return await oauth_handler.handle(request)

    async def qbo_callback(request: Request) -> Response:
        params = request.query_params
        if params.get("error"):
            log.info("qbo_connect_declined", error=params.get("error"))
            return html_page(
                "QuickBooks was not connected",
                "The connection was cancelled in QuickBooks. Run /qbo connect in Slack to try again.",
                status=400,
            )
        state, code, realm_id = params.get("state"), params.get("code"), params.get("realmId")
        if not state or not code or not realm_id:
            return html_page(
                "This link is incomplete",
                "Start again from Slack with /qbo connect: the link QuickBooks sent back is missing a part.",
                status=400,
            )
        try:
            connected = await service.complete_qbo_connect(state, code, realm_id)
        except ServiceError as error:
            log.info("qbo_connect_refused", reason=error.message)
            return html_page("QuickBooks was not connected", _plain(error.message), status=400)
        if notifier is not None:
            try:
                await notifier.qbo_connected(connected)
            except Exception:  # the connection is saved; a Slack hiccup must not turn the page into an error
                log.exception("qbo_connected_announcement_failed", team_id=connected.team.team_id)
        return html_page(
            "QuickBooks connected",
            f"{connected.company_name} is connected. You can close this tab and go back to Slack.",
            status=200,
        )

    async def ontop_webhook(request: Request) -> Response:
        body = await request.body()
        headers = {key.lower(): value for key, value in request.headers.items()}
        try:
            accepted = await service.handle_ontop_webhook(request.path_params["token"], headers, body)
        except WebhookRejected as rejected:
            metrics.webhooks.labels(outcome="rejected").inc()
            log.warning("ontop_webhook_rejected", reason=str(rejected))
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        outcome = "accepted" if accepted else "duplicate"
        metrics.webhooks.labels(outcome=outcome).inc()
        return JSONResponse({"status": outcome})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        try:
            async with asyncio.timeout(READY_TIMEOUT_SECONDS), engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception as error:  # any failure to reach the database means "not ready"
            log.warning("not_ready", error=type(error).__name__)
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ready", "database": "ok"})

    async def metrics_endpoint(request: Request) -> Response:
        return PlainTextResponse(metrics.render(), media_type=AppMetrics.content_type)

    def measured(route: str, endpoint: Endpoint) -> Endpoint:
        async def wrapper(request: Request) -> Response:
            started = time.perf_counter()
            status = 500
            try:
                response = await endpoint(request)
                status = response.status_code
                return response
            finally:
                metrics.observe_request(route, request.method, status, time.perf_counter() - started)

        return wrapper

    routes = [
        ("/slack/events", slack_events, ["POST"]),
        ("/slack/install", slack_oauth, ["GET"]),
        ("/slack/oauth_redirect", slack_oauth, ["GET"]),
        ("/qbo/callback", qbo_callback, ["GET"]),
        ("/ontop/webhook/{token}", ontop_webhook, ["POST"]),
        ("/healthz", healthz, ["GET"]),
        ("/readyz", readyz, ["GET"]),
        ("/metrics", metrics_endpoint, ["GET"]),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        for hook in on_startup:
            await hook()
        try:
            yield
        finally:
            for hook in on_shutdown:
                await hook()

    web = Starlette(
        routes=[Route(path, measured(path, endpoint), methods=methods) for path, endpoint, methods in routes],
        lifespan=lifespan,
    )
    web.state.metrics = metrics
    return web


def _plain(message: str) -> str:
    """A Slack mrkdwn message as plain text for an HTML page."""
    return message.replace("*", "").replace("`", "").strip()
