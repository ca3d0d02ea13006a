"""Slack responsiveness and web throughput: signed requests to the real `/slack/events` on loopback.

Ack time is the HTTP round trip of a signed request (Bolt acknowledges in its HTTP response). Bursts of 50 at once
of four kinds: `/qbo help` (answered in the ack), `/qbo status` (acked, then read from the database and answered
through the response_url), account suggestions in the mapping modal (answered in the ack from the account cache),
and the App Home's "Map accounts" button (acked, then a modal opened and filled from the database). First with the
worker idle, then while a 10,000-invoice first sync runs in the same process (`qbo-bot serve`'s single-process
form: the web app with its embedded worker, devtools.stack). The requests come from another process
(bench/load_client.py), so the figures are the app's answer times, not the sender's.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.emulators import ontop_process, qbo_process
from bench.figures import percentile
from bench.load_client import LoadPlan, Round, Throughput, ThroughputAnswer, run_in_child
from bench.slack_flow import (
    concept_blocks,
    connect,
    contractors_option,
    open_mapping,
    summary_posted,
    wait_until,
    without_review_gate,
)
from devtools.fake_slack import FakeSlack
from devtools.signing import SlackClientSimulator, selected_option_state
from devtools.stack import (
    ADMIN_USER,
    BOT_TOKEN,
    FAKE_CLIENT_SECRET,
    FINANCE_CHANNEL,
    SIGNING_SECRET,
    LocalStack,
    StackOptions,
)
from handlers.ids import HomeIds, MappingIds

CONCURRENT_REQUESTS = 50
BURSTS = 3  # of each kind in each phase: the figure is the p99 of all their answers, the note each burst's own
SYNC_INVOICES = 10_000
WARMUP_REQUESTS = 5
SEQUENTIAL_REQUESTS = 20
THROUGHPUT_CONCURRENCY = 8
SETTLE_QUIET_SECONDS = 0.3  # the after-ack work is done when the fake Slack hears nothing more for this long
SETTLE_TIMEOUT_SECONDS = 60.0
# The load process starts after the trigger_ids are minted; Slack's 3 s would expire them on a busy machine.
TRIGGER_TTL_SECONDS = 600.0
# What the after-ack work of a burst calls on the fake Slack (a status reply, a modal opened and filled).
AFTER_ACK_METHODS = ("response_url", "views.open", "views.update")


@dataclass(frozen=True)
class Kind:
    """One kind of request in the bursts."""

    name: str  # as the figures say it
    interaction: bool  # an interaction (else a slash command)
    text: str = ""  # the command's text, or the suggestion's typed text


HELP = Kind("`/qbo help` command", False, "help")
STATUS = Kind("`/qbo status` command", False, "status")
SUGGESTION = Kind("account suggestion", True, "Contr")
BUTTON = Kind("App Home button press", True)
KINDS = (HELP, STATUS, SUGGESTION, BUTTON)


@dataclass(frozen=True)
class AckTimes:
    kind: str  # Kind.name
    phase: str  # "idle" or "during a 10,000-invoice sync"
    millis: list[float]  # every burst's answers, pooled
    concurrent: bool = True  # False: sent one at a time (the single-request cost)
    interaction: bool = False
    burst_p99s: list[float] = field(default_factory=list)  # each burst's own p99 (its slowest of 50)
    settle_ms: list[float] = field(default_factory=list)  # per burst: from its start until its after-ack work was done

    @property
    def p50(self) -> float:
        return percentile(self.millis, 0.50)

    @property
    def p99(self) -> float:
        return percentile(self.millis, 0.99)


@dataclass(frozen=True)
class SlackLoadResult:
    acks: list[AckTimes]
    throughputs: list[ThroughputAnswer]
    sync_still_running_after_busy_round: bool


@dataclass(frozen=True)
class Targets:
    """Where each kind of request points: the mapping modal (suggestions) and the App Home (buttons)."""

    mapping_view: dict[str, Any]
    home_view: dict[str, Any]


def patient_stack(options: StackOptions) -> LocalStack:
    """A LocalStack whose fake Slack keeps trigger_ids valid for minutes (see TRIGGER_TTL_SECONDS)."""
    stack = LocalStack(options)
    stack.fake_slack = FakeSlack(
        bot_token=BOT_TOKEN, client_secret=FAKE_CLIENT_SECRET, trigger_ttl_seconds=TRIGGER_TTL_SECONDS
    )
    return stack


def _after_ack_calls(stack: LocalStack) -> list[float]:
    """When the fake Slack received each call the after-ack work makes (time.time() seconds)."""
    return [call.at for method in AFTER_ACK_METHODS for call in stack.fake_slack.calls(method)]


async def _settled(stack: LocalStack, expected: int, before: int) -> float:
    """Wait until the fake Slack received at least `expected` more after-ack calls than `before`, then nothing more
    for a while (a modal's update follows its open); returns when the last of them arrived (time.time())."""
    started = time.monotonic()
    last_count, last_change = -1, started
    while time.monotonic() - started < SETTLE_TIMEOUT_SECONDS:
        calls = _after_ack_calls(stack)
        now = time.monotonic()
        if len(calls) != last_count:
            last_count, last_change = len(calls), now
        elif len(calls) - before >= expected and now - last_change >= SETTLE_QUIET_SECONDS:
            return max(calls)
        await asyncio.sleep(0.02)
    raise TimeoutError(f"the after-ack work did not finish: {last_count - before} of {expected} calls")


def _round(
    stack: LocalStack, slack: SlackClientSimulator, targets: Targets, kind: Kind, count: int, **how: Any
) -> Round:
    """`count` requests of `kind`, with trigger_ids and response_urls the fake Slack will accept."""
    fake, user = stack.fake_slack, slack.actor.user_id
    triggers = [fake.mint_trigger_id(user) for _ in range(count)]
    if kind is SUGGESTION:
        view = targets.mapping_view
        return Round("suggestion", count, kind.text, view, concept_blocks(view)[0], MappingIds.ACCOUNT.value, **how)
    if kind is BUTTON:
        view = targets.home_view
        block_id = _block_of(view, HomeIds.MAP.value)
        return Round("button", count, "", view, block_id, HomeIds.MAP.value, trigger_ids=triggers, **how)
    urls = [fake.new_response_url(channel_id=FINANCE_CHANNEL, user_id=user) for _ in range(count)]
    return Round("command", count, kind.text, trigger_ids=triggers, response_urls=urls, **how)


def _block_of(view: dict[str, Any], action_id: str) -> str:
    for block in view.get("blocks") or []:
        for element in block.get("elements") or []:
            if element.get("action_id") == action_id:
                return str(block.get("block_id") or "")
    raise LookupError(f"no {action_id} button in the App Home")


def _plan(stack: LocalStack, slack: SlackClientSimulator, rounds: list[Round], **more: Any) -> LoadPlan:
    return LoadPlan(
        app_url=stack.app_url,
        signing_secret=SIGNING_SECRET,
        actor=asdict(slack.actor),
        channel_id=FINANCE_CHANNEL,
        channel_name=stack.fake_slack.channel_ref(FINANCE_CHANNEL)["name"],
        rounds=rounds,
        **more,
    )


async def _measure_kind(
    stack: LocalStack,
    slack: SlackClientSimulator,
    targets: Targets,
    kind: Kind,
    phase: str,
    *,
    count: int,
    bursts: int,
) -> list[AckTimes]:
    """A warm-up, then `bursts` bursts of `count` (each waits for the previous one's after-ack work), then
    `SEQUENTIAL_REQUESTS` one at a time: no burst carries another's leftover work."""
    calls_per_request = {STATUS: 1, BUTTON: 2}.get(kind, 0)  # a status reply; a modal opened, then filled
    millis: list[float] = []
    burst_p99s: list[float] = []
    settles: list[float] = []
    for index in range(bursts):
        before = len(_after_ack_calls(stack))
        rounds = [_round(stack, slack, targets, kind, count)]
        if index == 0:
            rounds.insert(0, _round(stack, slack, targets, kind, WARMUP_REQUESTS))
        answer = await asyncio.to_thread(run_in_child, _plan(stack, slack, rounds))
        times, started_at = answer.rounds[-1], answer.started_at[-1]
        millis += times
        burst_p99s.append(percentile(times, 0.99))
        if calls_per_request:
            sent = sum(round_.count for round_ in rounds)
            done_at = await _settled(stack, sent * calls_per_request, before)
            settles.append((done_at - started_at) * 1000)
    before = len(_after_ack_calls(stack))
    one_by_one = _round(stack, slack, targets, kind, SEQUENTIAL_REQUESTS, sequential=True)
    sequential = await asyncio.to_thread(run_in_child, _plan(stack, slack, [one_by_one]))
    if calls_per_request:
        await _settled(stack, SEQUENTIAL_REQUESTS * calls_per_request, before)
    return [
        AckTimes(kind.name, phase, millis, interaction=kind.interaction, burst_p99s=burst_p99s, settle_ms=settles),
        AckTimes(kind.name, phase, sequential.rounds[0], concurrent=False, interaction=kind.interaction),
    ]


async def _measure_throughput(
    stack: LocalStack, slack: SlackClientSimulator, text: str, seconds: float
) -> ThroughputAnswer:
    """Closed-loop senders repeating `/qbo <text>`; a command answered after its ack counts once its answer arrived
    at its response_url (in the load process, not the fake Slack: in production Slack's CPU is not ours)."""
    phase = Throughput(text, seconds, THROUGHPUT_CONCURRENCY, until_reply=text != "help")
    answer = await asyncio.to_thread(run_in_child, _plan(stack, slack, [], throughputs=[phase]))
    return answer.throughputs[0]


async def _targets(stack: LocalStack, slack: SlackClientSimulator) -> Targets:
    mapping = await open_mapping(stack, slack)
    await slack.open_home()
    home: dict[str, Any] = await wait_until(
        lambda: _home_with_map(stack, slack.actor.user_id), "the App Home with its Map accounts button"
    )
    return Targets(mapping, home)


def _home_with_map(stack: LocalStack, user_id: str) -> dict[str, Any] | None:
    home = stack.fake_slack.last_view(user_id=user_id, view_type="home")
    if home is None:
        return None
    try:
        _block_of(home, HomeIds.MAP.value)
    except LookupError:
        return None
    return home


def measure_slack_load(
    *,
    sync_invoices: int = SYNC_INVOICES,
    count: int = CONCURRENT_REQUESTS,
    bursts: int = BURSTS,
    throughput_seconds: float = 5.0,
    kinds: tuple[Kind, ...] = KINDS,
) -> SlackLoadResult:
    """Idle acks and web throughput, then acks again while the first sync of `sync_invoices` invoices runs."""
    # QBO's limits off: the sync runs as fast as the bot can go, the heaviest load it can put on its own process.
    with (
        qbo_process(rate_limits=False, multicurrency=False) as qbo,
        ontop_process(workers=200, invoices=sync_invoices, months=12, pdfs=True) as ontop,
        patient_stack(StackOptions(time_scale=0.001, qbo_url=qbo.url, ontop_url=ontop.url)) as stack,
    ):

        async def run() -> SlackLoadResult:
            async with stack.slack(ADMIN_USER) as slack:
                await connect(stack, slack)
                await without_review_gate(stack)
                targets = await _targets(stack, slack)
                acks: list[AckTimes] = []
                for kind in kinds:
                    acks += await _measure_kind(stack, slack, targets, kind, "idle", count=count, bursts=bursts)
                throughputs = [
                    await _measure_throughput(stack, slack, text, throughput_seconds) for text in ("help", "status")
                ]
                await _start_first_sync(stack, slack, targets.mapping_view)
                busy_phase = f"during a {sync_invoices:,}-invoice sync"
                busy_targets = await _targets(stack, slack)
                for kind in kinds:
                    acks += await _measure_kind(
                        stack, slack, busy_targets, kind, busy_phase, count=count, bursts=bursts
                    )
                still_running = not summary_posted(stack)
            return SlackLoadResult(acks, throughputs, still_running)

        return asyncio.run(run())


async def _start_first_sync(stack: LocalStack, slack: SlackClientSimulator, view: dict[str, Any]) -> None:
    """Save the mapping (the first sync is queued and the embedded worker starts it), then wait until it runs."""
    option = await contractors_option(slack, view)
    state = selected_option_state(option["value"], option["text"]["text"])
    await slack.submit_view(
        str(view["id"]),
        {block_id: {MappingIds.ACCOUNT.value: state} for block_id in concept_blocks(view)},
    )
    await wait_until(lambda: _sync_in_progress(stack), "the first sync to report progress")


def _sync_in_progress(stack: LocalStack) -> bool:
    """The worker has updated the run's progress message at least once (the run is past its set-up)."""
    return any("invoices (" in str(call.params.get("text", "")) for call in stack.fake_slack.calls("chat.update"))
