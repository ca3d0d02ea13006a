"""Slack responsiveness and web throughput: signed requests to the real `/slack/events` on loopback.

Ack time is the HTTP round trip of a signed request (Bolt acknowledges in its HTTP response): 50 slash commands
at once and 50 interactions (external-select suggestions in the mapping modal, answered from the account cache)
at once, first with the worker idle, then while a 10,000-invoice first sync runs in the same process. The requests
come from another process (bench/load_client.py), so the figures are the app's answer times, not the sender's.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from typing import Any

from bench.emulators import ontop_process, qbo_process
from bench.figures import percentile
from bench.load_client import LoadAnswer, LoadPlan, Round, run_in_child
from bench.slack_flow import (
    concept_blocks,
    connect,
    contractors_option,
    open_mapping,
    summary_posted,
    wait_until,
)
from devtools.signing import SlackClientSimulator, selected_option_state
from devtools.stack import ADMIN_USER, FINANCE_CHANNEL, SIGNING_SECRET, LocalStack, StackOptions
from handlers.ids import MappingIds

CONCURRENT_REQUESTS = 50
SYNC_INVOICES = 10_000
WARMUP_REQUESTS = 5
SEQUENTIAL_REQUESTS = 20
THROUGHPUT_CONCURRENCY = 8


@dataclass(frozen=True)
class AckTimes:
    kind: str  # "slash command" or "interaction"
    phase: str  # "idle" or "during a 10,000-invoice sync"
    millis: list[float]
    concurrent: bool = True  # False: sent one at a time (the single-request cost)

    @property
    def p50(self) -> float:
        return percentile(self.millis, 0.50)

    @property
    def p99(self) -> float:
        return percentile(self.millis, 0.99)


@dataclass(frozen=True)
class SlackLoadResult:
    acks: list[AckTimes]
    requests_per_second: float
    throughput_requests: int
    throughput_concurrency: int
    sync_still_running_after_busy_round: bool


def _plan(
    stack: LocalStack,
    slack: SlackClientSimulator,
    view: dict[str, Any],
    count: int,
    *,
    throughput_seconds: float = 0.0,
) -> LoadPlan:
    """Warm-up, then `count` commands at once, then `count` suggestions at once (then, optionally, throughput)."""
    block_id, action_id = concept_blocks(view)[0], MappingIds.ACCOUNT.value
    return LoadPlan(
        app_url=stack.app_url,
        signing_secret=SIGNING_SECRET,
        actor=asdict(slack.actor),
        channel_id=FINANCE_CHANNEL,
        channel_name=stack.fake_slack.channel_ref(FINANCE_CHANNEL)["name"],
        rounds=[
            Round("command", WARMUP_REQUESTS, "help"),
            Round("suggestion", WARMUP_REQUESTS, "Contr", view, block_id, action_id),
            Round("command", count, "help"),
            Round("suggestion", count, "Contr", view, block_id, action_id),
            # One at a time: the cost of a single request, which a burst of 50 pays about 50 times over.
            Round("command", SEQUENTIAL_REQUESTS, "help", sequential=True),
            Round("suggestion", SEQUENTIAL_REQUESTS, "Contr", view, block_id, action_id, sequential=True),
        ],
        throughput_seconds=throughput_seconds,
        throughput_concurrency=THROUGHPUT_CONCURRENCY,
    )


def _acks(answer: LoadAnswer, phase: str) -> list[AckTimes]:
    # Rounds 0 and 1 warm connections and caches up; they are not reported.
    return [
        AckTimes("slash command", phase, answer.rounds[2]),
        AckTimes("interaction", phase, answer.rounds[3]),
        AckTimes("slash command", phase, answer.rounds[4], concurrent=False),
        AckTimes("interaction", phase, answer.rounds[5], concurrent=False),
    ]


def measure_slack_load(
    *, sync_invoices: int = SYNC_INVOICES, count: int = CONCURRENT_REQUESTS, throughput_seconds: float = 5.0
) -> SlackLoadResult:
    """Idle acks and web throughput, then acks again while the first sync of `sync_invoices` invoices runs."""
    # QBO's limits off: the sync runs as fast as the bot can go, the heaviest load it can put on its own process.
    with (
        qbo_process(rate_limits=False, multicurrency=False) as qbo,
        ontop_process(workers=200, invoices=sync_invoices, months=12, pdfs=True) as ontop,
        LocalStack(StackOptions(time_scale=0.001, qbo_url=qbo.url, ontop_url=ontop.url)) as stack,
    ):

        async def run() -> SlackLoadResult:
            async with stack.slack(ADMIN_USER) as slack:
                await connect(stack, slack)
                view = await open_mapping(stack, slack)
                idle = await asyncio.to_thread(
                    run_in_child, _plan(stack, slack, view, count, throughput_seconds=throughput_seconds)
                )
                # Save the mapping: the first sync is queued and the embedded worker starts it.
                option = await contractors_option(slack, view)
                state = selected_option_state(option["value"], option["text"]["text"])
                await slack.submit_view(
                    str(view["id"]),
                    {block_id: {MappingIds.ACCOUNT.value: state} for block_id in concept_blocks(view)},
                )
                await wait_until(lambda: _sync_in_progress(stack), "the first sync to report progress")
                busy_view = await open_mapping(stack, slack)
                busy = await asyncio.to_thread(run_in_child, _plan(stack, slack, busy_view, count))
                still_running = not summary_posted(stack)
            return SlackLoadResult(
                acks=[*_acks(idle, "idle"), *_acks(busy, f"during a {sync_invoices:,}-invoice sync")],
                requests_per_second=idle.throughput_requests / idle.throughput_seconds,
                throughput_requests=idle.throughput_requests,
                throughput_concurrency=THROUGHPUT_CONCURRENCY,
                sync_still_running_after_busy_round=still_running,
            )

        return asyncio.run(run())


def _sync_in_progress(stack: LocalStack) -> bool:
    """The worker has updated the run's progress message at least once (the run is past its set-up)."""
    return any("invoices (" in str(call.params.get("text", "")) for call in stack.fake_slack.calls("chat.update"))
