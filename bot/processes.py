"""The long-running processes behind `qbo-bot serve`, `worker` and `socket`."""

from __future__ import annotations

import asyncio
import contextlib
import signal

import structlog

from bot.app import SlackInstallation
from bot.config import Settings
from bot.logs import configure_logging
from bot.runtime import (
    Runtime,
    SlackRunNotifier,
    build_outbox,
    build_runtime,
    run_worker_until,
    slack_links,
    upgrade_if_sqlite,
)
from bot.server import run_server, run_socket_mode
from handlers.notify import SlackNotifier
from sync.outbox import Outbox

log = structlog.get_logger(__name__)


def _known_secrets(settings: Settings) -> tuple[str, ...]:
    """Configured secrets masked literally in logs, whatever shape they have."""
    values = [
        settings.slack_signing_secret,
        settings.slack_client_secret,
        settings.slack_bot_token,
        settings.slack_app_token,
        settings.qbo_client_secret,
    ]
    return tuple(value.get_secret_value() for value in values if value is not None)


def _slack_side(runtime: Runtime) -> tuple[SlackRunNotifier, Outbox]:
    """The run notifier and the outbox of this process, sharing one Slack notifier."""
    installation = SlackInstallation(runtime.settings, runtime.engine, runtime.box)
    slack = SlackNotifier(installation.client_for, runtime.service, slack_links(runtime.settings))
    outbox = build_outbox(runtime, slack)
    return SlackRunNotifier(runtime, slack, outbox), outbox


class EmbeddedWorker:
    """The worker and scheduler running inside the web process (started and stopped with it)."""

    def __init__(
        self, runtime: Runtime, enabled: bool, *, poll_seconds: float = 1.0, close_runtime: bool = True
    ) -> None:
        self._runtime = runtime
        self._enabled = enabled
        self._poll_seconds = poll_seconds
        self._close_runtime = close_runtime
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await upgrade_if_sqlite(self._runtime)
        self._stop = asyncio.Event()  # created here: it belongs to the server's event loop
        notifier, outbox = _slack_side(self._runtime)
        if self._enabled:
            work = run_worker_until(self._runtime, notifier, self._stop, outbox=outbox, poll_seconds=self._poll_seconds)
        else:  # a web-only process still delivers what the workspaces are owed
            work = outbox.run_forever(self._stop)
        self._task = asyncio.create_task(work)

    async def stop(self) -> None:
        if self._stop is not None:
            self._stop.set()
        if self._task is not None:
            await self._task
        if self._close_runtime:
            await self._runtime.aclose()


def serve(settings: Settings, host: str, port: int, *, with_worker: bool) -> None:
    configure_logging(settings.log_level, settings.log_format, known_secrets=_known_secrets(settings))
    runtime = build_runtime(settings)
    embedded = EmbeddedWorker(runtime, with_worker)
    run_server(
        settings,
        host,
        port,
        service=runtime.service,
        engine=runtime.engine,
        box=runtime.box,
        on_startup=[embedded.start],
        on_shutdown=[embedded.stop],
    )


def socket(settings: Settings) -> None:
    configure_logging(settings.log_level, settings.log_format, known_secrets=_known_secrets(settings))
    runtime = build_runtime(settings)
    embedded = EmbeddedWorker(runtime, True)
    run_socket_mode(
        settings,
        service=runtime.service,
        engine=runtime.engine,
        box=runtime.box,
        on_startup=[embedded.start],
        on_shutdown=[embedded.stop],
    )


def worker(settings: Settings) -> None:
    configure_logging(settings.log_level, settings.log_format, known_secrets=_known_secrets(settings))
    asyncio.run(_worker(settings))


async def _worker(settings: Settings) -> None:
    runtime = build_runtime(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    try:
        await upgrade_if_sqlite(runtime)
        log.info("worker.starting")
        notifier, outbox = _slack_side(runtime)
        await run_worker_until(runtime, notifier, stop, outbox=outbox)
    finally:
        await runtime.aclose()
