"""The long-running processes behind `qbo-bot serve`, `worker` and `socket`."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import threading

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
from handlers.errors import finish_after_ack_work
from handlers.notify import SlackNotifier
from sync.outbox import Outbox

log = structlog.get_logger(__name__)

LISTENER_DRAIN_SECONDS = 10.0


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
    """The worker, scheduler and outbox inside the web process (started and stopped with it).

    They run on a thread of their own with their own event loop and their own Runtime (database pool, HTTP clients,
    QBO limiter), as `qbo-bot worker` would in a process of its own: a sync's CPU work (parsing pages, building
    bills, SQLite) then never sits in the web app's event loop ahead of a Slack request waiting for its ack. They
    share the process's interpreter (and its GIL) with the web app, nothing else.
    """

    def __init__(
        self, runtime: Runtime, enabled: bool, *, poll_seconds: float = 1.0, close_runtime: bool = True
    ) -> None:
        self._runtime = runtime
        self._enabled = enabled
        self._poll_seconds = poll_seconds
        self._close_runtime = close_runtime
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._failure: BaseException | None = None

    async def start(self) -> None:
        await upgrade_if_sqlite(self._runtime)  # before the worker's first query, on the web app's engine
        self._thread = threading.Thread(target=self._run_thread, name="embedded-worker", daemon=True)
        self._thread.start()
        await asyncio.to_thread(self._started.wait)
        if self._failure is not None:
            raise self._failure

    def _run_thread(self) -> None:
        try:
            asyncio.run(self._work())
        except BaseException as failure:  # kept for stop() (or start(), if it never got going) to raise
            self._failure = failure
            log.exception("embedded_worker_failed")
        finally:
            self._started.set()

    async def _work(self) -> None:
        runtime = self._runtime.sibling()
        try:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            notifier, outbox = _slack_side(runtime)
            self._started.set()
            if self._enabled:
                await run_worker_until(runtime, notifier, self._stop, outbox=outbox, poll_seconds=self._poll_seconds)
            else:  # a web-only process still delivers what the workspaces are owed
                await outbox.run_forever(self._stop)
        finally:
            await runtime.aclose()

    async def stop(self) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed between the check and the call
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
        if self._close_runtime:
            await self._runtime.aclose()
        if self._failure is not None:
            raise self._failure


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
        on_startup=[embedded.start, freeze_startup_heap],
        on_shutdown=[_finish_listeners, embedded.stop],
    )


async def freeze_startup_heap() -> None:
    """Move what start-up built (modules, the app, the caches) out of the garbage collector's view: a full collection
    then walks only what requests and syncs allocate, and its pauses no longer hold up a burst of Slack requests
    (measured: one burst in three waited 140-200 ms for its slowest ack before, at most about 115 ms after). Garbage is
    collected first, so nothing left over from start-up is kept for good."""
    gc.collect()
    gc.freeze()


async def _finish_listeners() -> None:
    """Listeners answer Slack first and work after (handlers/errors.py): let that work end before the exit."""
    await finish_after_ack_work(LISTENER_DRAIN_SECONDS)


def socket(settings: Settings) -> None:
    configure_logging(settings.log_level, settings.log_format, known_secrets=_known_secrets(settings))
    runtime = build_runtime(settings)
    embedded = EmbeddedWorker(runtime, True)
    run_socket_mode(
        settings,
        service=runtime.service,
        engine=runtime.engine,
        box=runtime.box,
        on_startup=[embedded.start, freeze_startup_heap],
        on_shutdown=[_finish_listeners, embedded.stop],
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
