"""Run the bot: the web app under uvicorn (HTTP mode) or the same Bolt app over Socket Mode (development)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

import structlog
import uvicorn
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from bot.app import SlackInstallation, create_bolt_app
from bot.config import Settings
from bot.metrics import AppMetrics
from bot.web import create_metrics_app, create_web_app
from handlers.notify import SlackNotifier
from storage.crypto import SecretBox
from sync.api import BotService, QboLinks

log = structlog.get_logger(__name__)

Hook = Callable[[], Awaitable[Any]]


def secret_box(settings: Settings) -> SecretBox | None:
    return SecretBox(settings.encryption_keys.get_secret_value()) if settings.encryption_keys else None


def build_web_app(
    settings: Settings,
    service: BotService,
    engine: AsyncEngine,
    box: SecretBox | None,
    *,
    metrics: AppMetrics | None = None,
    on_startup: Sequence[Hook] = (),
    on_shutdown: Sequence[Hook] = (),
) -> Starlette:
    """Bolt app + notifier + web app wired together, as `qbo-bot serve` runs them (its metrics: `web.state.metrics`,
    served by `create_metrics_app` on the private port)."""
    installation = SlackInstallation(settings, engine, box)
    bolt_app = create_bolt_app(settings, service, engine, box, installation=installation)
    notifier = SlackNotifier(installation.client_for, service, QboLinks(settings.qbo_app_url))
    return create_web_app(
        settings,
        bolt_app,
        service,
        engine,
        notifier=notifier,
        is_admin=notifier.is_admin,
        metrics=metrics or AppMetrics(),
        on_startup=on_startup,
        on_shutdown=on_shutdown,
    )


class FollowerServer(uvicorn.Server):
    """A uvicorn server that leaves SIGINT/SIGTERM to the main one and is stopped by it (the metrics port)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_http(
    settings: Settings,
    host: str,
    port: int,
    *,
    service: BotService,
    engine: AsyncEngine,
    box: SecretBox | None = None,
    on_startup: Sequence[Hook] = (),
    on_shutdown: Sequence[Hook] = (),
) -> None:
    """Serve the web app on host:port and /metrics on METRICS_HOST:METRICS_PORT until stopped.

    SIGINT/SIGTERM are handled by the web server (in-flight requests finish first); the metrics server stops after it.
    """
    metrics = AppMetrics()
    web = build_web_app(
        settings,
        service,
        engine,
        box or secret_box(settings),
        metrics=metrics,
        on_startup=on_startup,
        on_shutdown=on_shutdown,
    )
    # access_log off: uvicorn would log raw paths, and /ontop/webhook/{token} carries a secret.
    config = uvicorn.Config(web, host=host, port=port, access_log=False, log_config=None, lifespan="on")
    metrics_config = uvicorn.Config(
        create_metrics_app(metrics),
        host=settings.metrics_host,
        port=settings.metrics_port,
        access_log=False,
        log_config=None,
        lifespan="off",
    )
    # Bound before anything starts: a taken metrics port stops `serve` at once (uvicorn logs it, exit status 1).
    metrics_socket = metrics_config.bind_socket()
    metrics_server = FollowerServer(metrics_config)
    log.info("serving", host=host, port=port, metrics_host=settings.metrics_host, metrics_port=settings.metrics_port)
    metrics_task = asyncio.create_task(metrics_server.serve(sockets=[metrics_socket]))
    try:
        await uvicorn.Server(config).serve()
    finally:
        metrics_server.should_exit = True
        await metrics_task


def run_server(
    settings: Settings,
    host: str,
    port: int,
    *,
    service: BotService,
    engine: AsyncEngine,
    box: SecretBox | None = None,
    on_startup: Sequence[Hook] = (),
    on_shutdown: Sequence[Hook] = (),
) -> None:
    """Blocking entry point for `qbo-bot serve`."""
    asyncio.run(
        serve_http(
            settings,
            host,
            port,
            service=service,
            engine=engine,
            box=box,
            on_startup=on_startup,
            on_shutdown=on_shutdown,
        )
    )


async def serve_socket_mode(
    settings: Settings,
    *,
    service: BotService,
    engine: AsyncEngine,
    box: SecretBox | None = None,
    on_startup: Sequence[Hook] = (),
    on_shutdown: Sequence[Hook] = (),
) -> None:
    """The same listeners over a Socket Mode websocket (no public URL; needs SLACK_APP_TOKEN and SLACK_BOT_TOKEN)."""
    if settings.slack_app_token is None:
        raise ValueError("Socket Mode needs SLACK_APP_TOKEN (an xapp- token with connections:write)")
    bolt_app = create_bolt_app(settings, service, engine, box or secret_box(settings), socket_mode=True)
    handler = AsyncSocketModeHandler(bolt_app, settings.slack_app_token.get_secret_value())
    for hook in on_startup:
        await hook()
    try:
        await handler.start_async()
    finally:
        await handler.close_async()
        for hook in on_shutdown:
            await hook()


def run_socket_mode(
    settings: Settings,
    *,
    service: BotService,
    engine: AsyncEngine,
    box: SecretBox | None = None,
    on_startup: Sequence[Hook] = (),
    on_shutdown: Sequence[Hook] = (),
) -> None:
    """Blocking entry point for `qbo-bot socket`."""
    asyncio.run(
        serve_socket_mode(
            settings, service=service, engine=engine, box=box, on_startup=on_startup, on_shutdown=on_shutdown
        )
    )
