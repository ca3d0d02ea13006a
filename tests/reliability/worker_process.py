"""A real sync worker in its own process, for kill tests: `python -m tests.reliability.worker_process SETTINGS_JSON`.

It is `qbo-bot worker` (the real engine, queue, notifier and Slack client) with two test knobs: QBO's rate windows
shrunk by --time-scale and a short --lease-seconds, so a killed worker's run is taken over in about a second.
SETTINGS_JSON holds the keyword arguments of bot.config.Settings. SIGTERM stops it gracefully.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
from pathlib import Path

from bot.app import SlackInstallation
from bot.config import Settings
from bot.runtime import SlackRunNotifier, build_runtime
from handlers.notify import SlackNotifier
from sync.outbox import Outbox
from sync.qbo.limiter import RateLimits
from sync.worker import run_jobs


class DyingNotifier(SlackRunNotifier):
    """Killed in the worst millisecond: the run's final state is committed, its summary not yet posted."""

    async def run_finished(self, run_id: int, ref: object) -> None:
        os.kill(os.getpid(), signal.SIGKILL)


async def main(arguments: argparse.Namespace, settings: Settings) -> None:
    runtime = build_runtime(
        settings,
        rate_limits=RateLimits(time_scale=arguments.time_scale),
        throttle_wait_seconds=60 * arguments.time_scale,
    )
    installation = SlackInstallation(settings, runtime.engine, runtime.box)
    slack = SlackNotifier(installation.client_for, runtime.service)
    # Every worker process delivers the outbox too: a summary owed by a killed worker is posted by another one.
    outbox = Outbox(runtime.sessions, slack, owner=f"outbox-{os.getpid()}", poll_seconds=0.2, lease_seconds=2.0)
    notifier = DyingNotifier(runtime, slack) if arguments.die_after_finish else SlackRunNotifier(runtime, slack, outbox)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await asyncio.gather(
            run_jobs(
                runtime.sessions,
                runtime.executor,
                notifier,
                stop,
                lease_seconds=arguments.lease_seconds,
                poll_seconds=0.05,
                with_scheduler=False,
                shutdown_grace_seconds=1.0,
            ),
            *([] if arguments.die_after_finish else [outbox.run_forever(stop)]),
        )
    finally:
        await runtime.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("settings_json")
    parser.add_argument("--time-scale", type=float, default=0.01)
    parser.add_argument("--lease-seconds", type=float, default=1.5)
    parser.add_argument("--die-after-finish", action="store_true", help="SIGKILL itself once a run is finished")
    parsed = parser.parse_args()
    asyncio.run(main(parsed, Settings(_env_file=None, **json.loads(Path(parsed.settings_json).read_text()))))
