"""Slack responsiveness and web throughput: signed requests to the real `/slack/events` on loopback.

Ack time is the HTTP round trip of a signed request (Bolt acknowledges in its HTTP response): 50 slash commands
at once and 50 interactions (external-select suggestions in the mapping modal, answered from the account cache)
at once, first with the worker idle, then while a 10,000-invoice first sync runs in the same process. The load
generator shares the process (and its GIL) with the app, so every figure includes some client time: a pessimistic
measure.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from bench.emulators import ontop_process, qbo_process
from bench.figures import percentile
from bench.slack_flow import (
    concept_blocks,
    connect,
    contractors_option,
    open_mapping,
    summary_posted,
    wait_until,
)
from bot.devtools.signing import SlackClientSimulator, selected_option_state
from bot.devtools.stack import ADMIN_USER, FINANCE_CHANNEL, LocalStack, StackOptions
from handlers.ids import MappingIds

CONCURRENT_REQUESTS = 50
SYNC_INVOICES = 10_000
WARMUP_REQUESTS = 5


@dataclass(frozen=True)
class AckTimes:
    kind: str  # "slash command" or "interaction"
    phase: str  # "idle" or "during a 10,000-invoice sync"
    millis: list[float]

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


async def concurrent_ack_millis(send: Callable[[], Awaitable[httpx.Response]], count: int) -> list[float]:
    """Send `count` requests at once; each one's round trip in ms (a non-200 answer is an error, not a time)."""

    async def one() -> float:
        started = time.perf_counter()
        answer = await send()
        elapsed = (time.perf_counter() - started) * 1000
        if answer.status_code != 200:
            raise RuntimeError(f"HTTP {answer.status_code}: {answer.text[:200]}")
        return elapsed

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def requests_per_second(
    send: Callable[[], Awaitable[httpx.Response]], *, concurrency: int, seconds: float
) -> tuple[float, int]:
    """Closed loop: `concurrency` senders repeat for `seconds`; (answered requests per second, count)."""
    deadline = time.monotonic() + seconds
    answered = 0

    async def sender() -> None:
        nonlocal answered
        while time.monotonic() < deadline:
            answer = await send()
            if answer.status_code != 200:
                raise RuntimeError(f"HTTP {answer.status_code}: {answer.text[:200]}")
            answered += 1

    started = time.monotonic()
    await asyncio.gather(*(sender() for _ in range(concurrency)))
    return answered / (time.monotonic() - started), answered


async def _ack_round(
    slack: SlackClientSimulator, view: dict[str, object], phase: str, count: int
) -> tuple[AckTimes, AckTimes]:
    block_id = concept_blocks(view)[0]
    view_id = str(view["id"])

    async def command() -> httpx.Response:
        return await slack.command("help", channel_id=FINANCE_CHANNEL)

    async def interaction() -> httpx.Response:
        return await slack.suggest(view_id, block_id, MappingIds.ACCOUNT, "Contr")

    commands = await concurrent_ack_millis(command, count)
    interactions = await concurrent_ack_millis(interaction, count)
    return AckTimes("slash command", phase, commands), AckTimes("interaction", phase, interactions)


def measure_slack_load(
    *, sync_invoices: int = SYNC_INVOICES, count: int = CONCURRENT_REQUESTS, throughput_seconds: float = 5.0
) -> SlackLoadResult:
    """Idle acks, web throughput, then acks again while the first sync of `sync_invoices` invoices runs."""
    # QBO's limits off: the sync runs as fast as the bot can go, the heaviest load it can put on its own process.
    with (
        qbo_process(rate_limits=False, multicurrency=False) as qbo,
        ontop_process(workers=200, invoices=sync_invoices, months=12, pdfs=True) as ontop,
        LocalStack(StackOptions(time_scale=0.001, qbo_url=qbo.url, ontop_url=ontop.url)) as stack,
    ):

        async def run() -> SlackLoadResult:
            limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
            async with (
                httpx.AsyncClient(base_url=stack.app_url, timeout=30, limits=limits) as http,
                SlackClientSimulator(
                    stack.app_url, "local-stack-signing-secret", "T0001", ADMIN_USER, stack.fake_slack, http=http
                ) as slack,
            ):
                await connect(stack, slack)
                view = await open_mapping(stack, slack)
                await _ack_round(slack, view, "warm-up", WARMUP_REQUESTS)
                idle = await _ack_round(slack, view, "idle", count)

                async def help_command() -> httpx.Response:
                    return await slack.command("help", channel_id=FINANCE_CHANNEL)

                rate, answered = await requests_per_second(help_command, concurrency=8, seconds=throughput_seconds)

                # Save the mapping: the first sync is queued and the embedded worker starts it.
                option = await contractors_option(slack, view)
                state = selected_option_state(option["value"], option["text"]["text"])
                await slack.submit_view(
                    str(view["id"]), {block_id: {MappingIds.ACCOUNT.value: state} for block_id in concept_blocks(view)}
                )
                await wait_until(lambda: _sync_in_progress(stack), "the first sync to report progress")
                busy_view = await open_mapping(stack, slack)
                busy = await _ack_round(slack, busy_view, f"during a {sync_invoices:,}-invoice sync", count)
                still_running = not summary_posted(stack)
            return SlackLoadResult(
                acks=[*idle, *busy],
                requests_per_second=rate,
                throughput_requests=answered,
                throughput_concurrency=8,
                sync_still_running_after_busy_round=still_running,
            )

        return asyncio.run(run())


def _sync_in_progress(stack: LocalStack) -> bool:
    """The worker has updated the run's progress message at least once (the run is past its set-up)."""
    return any("invoices (" in str(call.params.get("text", "")) for call in stack.fake_slack.calls("chat.update"))
