"""First sync of a realistic company: minutes from the admin finishing setup in Slack to the run's summary message.

The whole product runs (web app, embedded worker, fake Slack) with the QBO and Ontop emulators in their own
processes; QBO enforces its published limits (scaled when `time_scale` < 1, then the time is extrapolated).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from bench.emulators import ontop_process, qbo_process, qbo_stats
from bench.slack_flow import (
    connect,
    map_everything,
    summary_posted,
    summary_text,
    wait_until,
    without_review_gate,
)
from devtools.stack import ADMIN_USER, LocalStack, StackOptions


@dataclass(frozen=True)
class FirstSyncResult:
    workers: int
    invoices: int
    months: int
    time_scale: float
    seconds: float  # from the mapping being saved (the first sync is queued then) to the summary message
    seconds_from_connect: float  # from the connect modal's submission (QBO and Ontop connected) to the summary
    summary: str
    qbo_requests: int
    throttled: int

    @property
    def minutes_at_real_limits(self) -> float:
        """Measured minutes, or at a time scale the measured time divided by it (an upper bound: only the
        rate-limited waiting shrinks with the scale, the bot's own work does not)."""
        return self.seconds / 60 / self.time_scale


def measure_first_sync(
    *, workers: int = 200, invoices: int = 2400, months: int = 12, time_scale: float = 1.0
) -> FirstSyncResult:
    with (
        qbo_process(time_scale=time_scale, multicurrency=False) as qbo,
        ontop_process(workers=workers, invoices=invoices, months=months, pdfs=True) as ontop,
        LocalStack(
            StackOptions(
                workers=workers,
                invoices=invoices,
                months=months,
                time_scale=time_scale,
                qbo_url=qbo.url,
                ontop_url=ontop.url,
            )
        ) as stack,
    ):

        async def run() -> FirstSyncResult:
            async with stack.slack(ADMIN_USER) as slack:
                await connect(stack, slack)
                await without_review_gate(stack)
                connected_at = time.monotonic()
                mapped_at = await map_everything(stack, slack)
                # Generous: 200 workers' first sync at real limits takes minutes; 30 min means something is stuck.
                await wait_until(lambda: summary_posted(stack), "the first sync's summary", timeout_seconds=1800)
                finished_at = time.monotonic()
            stats = qbo_stats(qbo.url)
            return FirstSyncResult(
                workers=workers,
                invoices=invoices,
                months=months,
                time_scale=time_scale,
                seconds=finished_at - mapped_at,
                seconds_from_connect=finished_at - connected_at,
                summary=summary_text(stack),
                qbo_requests=sum(stats["requests"].values()),
                throttled=int(stats["throttled"]),
            )

        return asyncio.run(run())
