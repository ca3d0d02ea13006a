"""The long-running processes behind `qbo-bot serve`, `worker` and `socket`."""

from __future__ import annotations

import asyncio
import contextlib
import signal

import structlog

from bot.app import SlackInstallation
from bot.config import Settings
from bot.logs import configure_logging
from bot.runtime import Runtime, SlackRunNotifier, build_runtime, run_worker_until, upgrade_if_sqlite
from bot.server import run_server, run_socket_mode
from handlers.notify import SlackNotifier

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


def _notifier(runtime: Runtime) -> SlackRunNotifier:
    installation = SlackInstallation(runtime.settings, runtime.engine, runtime.box)
    return SlackRunNotifier(runtime, SlackNotifier(installation.client_for, runtime.service))


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
        if self._enabled:
            self._stop = asyncio.Event()  # created here: it belongs to the server's event loop
            worker = run_worker_until(
                self._runtime, _notifier(self._runtime), self._stop, poll_seconds=self._poll_seconds
            )
            self._task = asyncio.create_task(worker)

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
        await run_worker_until(runtime, _notifier(runtime), stop)
    finally:
        await runtime.aclose()
