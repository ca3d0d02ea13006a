"""A real sync worker in its own process, for kill tests: `python -m tests.reliability.worker_process SETTINGS_JSON`.

It is `qbo-bot worker` (the real engine, queue, notifier and Slack client) with two test knobs: QBO's rate windows
shrunk by --time-scale and a short --lease-seconds, so a killed worker's run is taken over in about a second.
SETTINGS_JSON holds the keyword arguments of bot.config.Settings. SIGTERM stops it gracefully.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from pathlib import Path

from bot.app import SlackInstallation
from bot.config import Settings
from bot.runtime import SlackRunNotifier, build_runtime
from handlers.notify import SlackNotifier
from sync.qbo.limiter import RateLimits
from sync.worker import run_jobs


async def main(arguments: argparse.Namespace, settings: Settings) -> None:
    runtime = build_runtime(
        settings,
        rate_limits=RateLimits(time_scale=arguments.time_scale),
        throttle_wait_seconds=60 * arguments.time_scale,
    )
    installation = SlackInstallation(settings, runtime.engine, runtime.box)
    notifier = SlackRunNotifier(runtime, SlackNotifier(installation.client_for, runtime.service))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await run_jobs(
            runtime.sessions,
            runtime.executor,
            notifier,
            stop,
            lease_seconds=arguments.lease_seconds,
            poll_seconds=0.05,
            with_scheduler=False,
            shutdown_grace_seconds=1.0,
        )
    finally:
        await runtime.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("settings_json")
    parser.add_argument("--time-scale", type=float, default=0.01)
    parser.add_argument("--lease-seconds", type=float, default=1.5)
    parsed = parser.parse_args()
    asyncio.run(main(parsed, Settings(_env_file=None, **json.loads(Path(parsed.settings_json).read_text()))))
