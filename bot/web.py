"""The ASGI web app: Slack's one request URL, the install flow, the connect pages (bot/pages.py: QuickBooks consent
and callback, the Ontop login form), the Ontop webhook, health and readiness; and the metrics app, served apart on
a private port.

Routes are measured by their template (`/ontop/webhook/{token}`), never by the raw path: the webhook token is a
secret and must not reach logs or metric labels.

Nothing unauthenticated costs more than a bounded read: bodies are limited per route before anything reads them
(`BodyLimit`), Slack signatures are checked on the raw bytes before any parsing, and an unknown webhook address is
refused before its body is read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import structlog
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler, to_starlette_response
from slack_bolt.async_app import AsyncApp
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.app import MalformedSlackRequest, SlackRequest, slack_headers_problem, slack_signature_valid
from bot.config import Settings
from bot.metrics import OTHER, AppMetrics
from bot.pages import AdminCheck, connect_routes, html_page
from handlers.notify import SlackNotifier
from storage.db import ping
from sync.api import BotService, ServiceError, TeamRef, WebhookRejected

log = structlog.get_logger(__name__)

READY_TIMEOUT_SECONDS = 2.0
KiB = 1024
MiB = 1024 * KiB
SLACK_BODY_LIMIT = 1 * MiB  # Slack's largest payloads (big modal states) are tens of KiB
WEBHOOK_BODY_LIMIT = 256 * KiB  # an Ontop event is a few hundred bytes
DEFAULT_BODY_LIMIT = 16 * KiB  # every other route takes no body at all
BODY_LIMITS = {"/slack/events": SLACK_BODY_LIMIT, "/ontop/webhook/{token}": WEBHOOK_BODY_LIMIT}

Hook = Callable[[], Awaitable[Any]]
RouteOf = Callable[[Scope], str]


async def nobody_is_admin(team: TeamRef, user_id: str) -> bool:
    """The admin check of an app built without one: the Ontop login page then saves nothing."""
    return False


def slack_request_kind(body: dict[str, Any]) -> str:
    """command, block_actions, view_submission, block_suggestion, event_callback, ... for the ack metric."""
    if "command" in body:
        return "command"
    kind = body.get("type")
    return kind if isinstance(kind, str) else OTHER  # AppMetrics keeps only the kinds it knows


# --- refusing early -----------------------------------------------------------------------------------------


class BodyTooLarge(Exception):
    """Raised from `receive` once a request body passes its route's limit."""


async def refuse(send: Send, status: int, error: str) -> None:
    """A small JSON answer that closes the connection: whatever body the client still sends is never read."""
    body = json.dumps({"error": error}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def refused(status: int, error: str) -> JSONResponse:
    """The same answer from an endpoint that leaves the body unread (closing stops the client streaming it)."""
    return JSONResponse({"error": error}, status_code=status, headers={"connection": "close"})


def declared_length(scope: Scope) -> int | None:
    """The Content-Length header as a number (None when absent); ValueError when it is not one."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            if not value.isdigit():
                raise ValueError("malformed content-length")
            return int(value)
    return None


class BodyLimit:
    """Pure ASGI middleware: a request body over its route's limit is answered 413 before anything reads it.

    A declared Content-Length over the limit is refused at once; a chunked or undeclared body is counted as it
    streams in and cut off as soon as it passes the limit. uvicorn reads ahead only a little (flow control), so
    memory per request stays near the limit however much the client sends.
    """

    def __init__(self, app: ASGIApp, limit_for: Callable[[Scope], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        try:
            declared = declared_length(scope)
        except ValueError:
            await refuse(send, 400, "bad request")
            return
        if declared is not None and declared > limit:
            await refuse(send, 413, "request body too large")
            return
        received = 0
        responding = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        async def watched_send(message: Message) -> None:
            nonlocal responding
            responding = responding or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except BodyTooLarge:
            if responding:  # cannot happen with these routes (none answers while reading); never hide it
                raise
            await refuse(send, 413, "request body too large")
        except ClientDisconnect:
            if not responding:  # the client left mid-body: nobody reads this answer, but the metric shows it
                await refuse(send, 400, "client disconnected")


class RequestMetrics:
    """Pure ASGI middleware: count and time every request by route template, method and status."""

    def __init__(self, app: ASGIApp, metrics: AppMetrics, route_of: RouteOf) -> None:
        self.app = app
        self.metrics = metrics
        self.route_of = route_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what ServerErrorMiddleware answers when something raises before a response starts

        async def watched_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        finally:
            elapsed = time.perf_counter() - started
            self.metrics.observe_request(self.route_of(scope), scope["method"], status, elapsed)


def route_matcher(routes: Sequence[Route]) -> RouteOf:
    """The template of the route a request is for ("other" when none): a fixed label, whatever the path."""

    def route_of(scope: Scope) -> str:
        for route in routes:
            match, _ = route.matches(scope)
            if match is not Match.NONE:  # PARTIAL: the right path with another method (405)
                return route.path
        return OTHER

    return route_of


async def read_body(request: Request) -> bytes:
    """The body (BodyLimit bounds it) as chunks, joined once complete: nothing is copied while it streams in."""
    chunks = [chunk async for chunk in request.stream()]
    return b"".join(chunks)


def create_web_app(
    settings: Settings,
    bolt_app: AsyncApp,
    service: BotService,
    engine: AsyncEngine,
    *,
    notifier: SlackNotifier | None = None,
    is_admin: AdminCheck | None = None,
    metrics: AppMetrics | None = None,
    on_startup: Sequence[Hook] = (),
    on_shutdown: Sequence[Hook] = (),
) -> Starlette:
    """The Starlette app uvicorn serves (tests serve it too, on loopback).

    Args:
        is_admin: asked afresh before the Ontop login page saves anything; without it nobody may save there.
    """
    metrics = metrics or AppMetrics()
    oauth_handler = AsyncSlackRequestHandler(bolt_app)
    signing_secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""

    async def slack_events(request: Request) -> Response:
        started = time.perf_counter()
        timestamp = request.headers.get("x-slack-request-timestamp")
        signature = request.headers.get("x-slack-signature")
        problem = slack_headers_problem(timestamp, signature, time.time())
        if problem is not None or not signing_secret:
            log.info("slack_request_refused", reason=problem or "no signing secret configured")
            return refused(401, "invalid request")
        assert timestamp is not None and signature is not None
        raw = await read_body(request)
        if not slack_signature_valid(signing_secret, timestamp, signature, raw):
            log.info("slack_request_refused", reason="signature mismatch")
            return JSONResponse({"error": "invalid request"}, status_code=401)
        # Signed by Slack from here on: whatever its shape, a bad body is the sender's error (400), never a 500.
        try:
            bolt_request = SlackRequest(
                body=raw.decode("utf-8"), query=dict(request.query_params), headers=request.headers
            )
        except UnicodeDecodeError:
            return _malformed("body is not UTF-8")
        except MalformedSlackRequest as error:
            return _malformed(str(error))
        except (TypeError, KeyError, IndexError, AttributeError, ValueError) as error:
            # Bolt's context extraction met a shape the check above does not know about.
            return _malformed(f"unreadable fields ({type(error).__name__})")
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

    async def ontop_webhook(request: Request) -> Response:
        token = request.path_params["token"]
        if not await service.webhook_address_known(token):
            # Before the body is read: an address guessed at costs a database lookup, nothing more.
            return webhook_refused("unknown webhook address")
        signature = request.headers.get("x-ontop-signature")
        if signature is not None and not signature.isascii():
            return webhook_refused("malformed signature")  # hmac.compare_digest raises on non-ASCII text
        body = await read_body(request)
        headers = {key.lower(): value for key, value in request.headers.items()}
        try:
            accepted = await service.handle_ontop_webhook(token, headers, body)
        except WebhookRejected as rejected:
            return webhook_refused(str(rejected), close=False)
        except ServiceError as error:
            # Signed, so from Ontop, but unreadable: 400 tells Ontop not to retry what cannot succeed.
            return webhook_unreadable(error.message)
        except (ValueError, RecursionError) as error:
            # The same, from parsing that raised before it could say why (a bad number, nesting past the stack).
            return webhook_unreadable(f"unreadable body ({type(error).__name__})")
        outcome = "accepted" if accepted else "duplicate"
        metrics.webhooks.labels(outcome=outcome).inc()
        return JSONResponse({"status": outcome})

    def webhook_refused(reason: str, *, close: bool = True) -> Response:
        metrics.webhooks.labels(outcome="rejected").inc()
        log.warning("ontop_webhook_rejected", reason=reason)
        if close:
            return refused(401, "unauthorized")
        return JSONResponse({"error": "unauthorized"}, status_code=401)

    def webhook_unreadable(reason: str) -> Response:
        metrics.webhooks.labels(outcome="unreadable").inc()
        log.warning("ontop_webhook_unreadable", reason=reason)
        return JSONResponse({"error": "unreadable delivery"}, status_code=400)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        try:
            async with asyncio.timeout(READY_TIMEOUT_SECONDS):
                await ping(engine)
        except Exception as error:  # any failure to reach the database means "not ready"
            log.warning("not_ready", error=type(error).__name__)
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ready", "database": "ok"})

    routes = [
        Route("/slack/events", slack_events, methods=["POST"]),
        Route("/slack/install", slack_oauth, methods=["GET"]),
        Route("/slack/oauth_redirect", slack_oauth, methods=["GET"]),
        *connect_routes(
            settings, service, notifier=notifier, is_admin=is_admin or nobody_is_admin, read_body=read_body
        ),
        Route("/ontop/webhook/{token}", ontop_webhook, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
    ]
    route_of = route_matcher(routes)

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
        routes=routes,
        lifespan=lifespan,
        middleware=[
            # Outermost first: a 413 from BodyLimit is counted like any other answer.
            Middleware(RequestMetrics, metrics=metrics, route_of=route_of),
            Middleware(BodyLimit, limit_for=lambda scope: BODY_LIMITS.get(route_of(scope), DEFAULT_BODY_LIMIT)),
        ],
    )
    web.state.metrics = metrics
    return web


def create_metrics_app(metrics: AppMetrics) -> Starlette:
    """GET /metrics alone, for the private metrics port (METRICS_HOST:METRICS_PORT), never the public one."""

    async def metrics_endpoint(request: Request) -> Response:
        return PlainTextResponse(metrics.render(), media_type=AppMetrics.content_type)

    return Starlette(
        routes=[Route("/metrics", metrics_endpoint, methods=["GET"])],
        middleware=[Middleware(BodyLimit, limit_for=lambda scope: 0)],
    )


def _malformed(reason: str) -> Response:
    """A signed Slack request whose body cannot be read: logged with why (no content), answered 400."""
    log.info("slack_request_malformed", reason=reason)
    return JSONResponse({"error": "malformed request"}, status_code=400)
