"""The per-realm limiter keeps the client under QBO's limits: counted by the emulator, not by timing."""

from __future__ import annotations

import asyncio
import heapq
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.runtime import build_runtime
from storage.crypto import generate_key
from sync.qbo.client import MemoryTokenSource
from sync.qbo.limiter import RateLimits, RealmLimiter
from tests.qbo.conftest import REALM, Emulator, RecordingSleep, make_client


class FakeClock:
    """A monotonic clock that only moves when the limiter sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sends: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


async def test_limiter_never_exceeds_per_minute_or_per_second_budget() -> None:
    clock = FakeClock()
    limiter = RealmLimiter(RateLimits(per_minute=20, per_second=4, max_in_flight=3), clock=clock, sleep=clock.sleep)

    async def call() -> None:
        async with limiter.slot(REALM):
            clock.sends.append(clock.now)

    await asyncio.gather(*(call() for _ in range(70)))
    sends = sorted(clock.sends)
    assert len(sends) == 70
    assert max(sum(1 for t in sends if start <= t < start + 60) for start in sends) <= 20
    assert max(sum(1 for t in sends if start <= t < start + 1) for start in sends) <= 4


async def test_batch_calls_have_their_own_budget() -> None:
    clock = FakeClock()
    limiter = RealmLimiter(
        RateLimits(per_minute=500, per_second=100, batch_per_minute=3), clock=clock, sleep=clock.sleep
    )
    for _ in range(7):
        async with limiter.slot(REALM, batch=True):
            clock.sends.append(clock.now)
    assert max(sum(1 for t in clock.sends if start <= t < start + 60) for start in clock.sends) <= 3


async def test_limited_client_is_never_throttled_by_the_emulator(
    emulator: Emulator, token_source: MemoryTokenSource
) -> None:
    state = emulator.state
    # A scaled "minute" of 0.3 s; per-second windows cannot be scaled below network jitter, so they stay wide.
    state.switches.update({"rate_limits_enabled": True, "per_minute": 4, "per_second": 100, "time_scale": 0.005})
    # The limiter stamps a request when it sends it, the emulator when it arrives (QBO does the same): the first
    # request of a burst can arrive later than the fifth, one window on. The margin pads each window by that
    # difference. On a busy 2-core machine it reached a few hundred ms, so the test pads by 1 s: what it checks is
    # the limiter's counting, not how fast this machine is (the product pads its real 60 s windows by 50 ms).
    margin_seconds = 1.0 / 0.005
    limiter = RealmLimiter(
        RateLimits(per_minute=4, per_second=100, max_in_flight=2, time_scale=0.005, margin_seconds=margin_seconds)
    )
    sleeps = RecordingSleep()  # only the client's retry sleeps; the limiter waits for real
    async with make_client(emulator, token_source, limiter=limiter, sleep=sleeps) as qbo:
        results = await asyncio.gather(*(qbo.preferences() for _ in range(6)))  # two windows: 4, then 2
    assert len(results) == 6
    assert state.throttled == 0
    assert sleeps.pauses == []
    assert state.request_counts[REALM] == 6
    assert state.max_in_flight[REALM] <= 2


async def test_unlimited_burst_is_throttled_by_the_emulator(
    emulator: Emulator, token_source: MemoryTokenSource
) -> None:
    # The control for the test above: the same burst without the limiter gets 429s.
    state = emulator.state
    state.switches.update({"rate_limits_enabled": True, "per_minute": 6, "per_second": 3, "time_scale": 100})
    async with make_client(emulator, token_source, sleep=RecordingSleep()) as qbo:
        await asyncio.gather(*(qbo.preferences() for _ in range(6)), return_exceptions=True)
    assert state.throttled > 0


def test_one_limiter_shared_by_two_event_loops_spends_one_budget() -> None:
    """`qbo-bot serve` runs the Slack side and the embedded worker on two threads, each with its own event loop;
    both spend the same realm's budget. 2 × 15 requests at 5 a (scaled) second need at least five whole windows
    after the first; two separate budgets would let them through in about two."""
    limits = RateLimits(per_minute=10_000, per_second=5, max_in_flight=4, time_scale=0.2)
    limiter = RealmLimiter(limits)

    async def fifteen_requests() -> None:
        for _ in range(15):
            async with limiter.slot(REALM):
                pass

    started = time.monotonic()
    threads = [threading.Thread(target=asyncio.run, args=(fifteen_requests(),)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert time.monotonic() - started >= 5 * limits.second * 0.95


def test_the_embedded_workers_runtime_shares_the_web_sides_rate_limiter(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}",
        encryption_keys=generate_key(),
        qbo_client_id="limiter-test",
    )
    runtime = build_runtime(settings)
    sibling = runtime.sibling()

    assert sibling.clients.limiter is runtime.clients.limiter
    assert sibling.clients.http is not runtime.clients.http, "HTTP pools belong to their own event loop"


class VirtualTime:
    """Simulated time for many concurrent tasks: when every task is asleep, time jumps to the earliest wake-up.

    The limiter's arithmetic runs unchanged; only its clock and its sleep are these."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._events = 0  # clock reads and sleeps: while they change, some task is still running

    def __call__(self) -> float:
        self._events += 1
        return self.now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._events += 1
        heapq.heappush(self._sleepers, (self.now + max(0.0, seconds), self._events, future))
        await future

    async def run(self, *coroutines: Coroutine[Any, Any, None]) -> None:
        tasks = [asyncio.create_task(coroutine) for coroutine in coroutines]
        while not all(task.done() for task in tasks):
            await self._settle()
            if not self._sleepers:
                break  # nothing asleep and nothing running: the tasks are done (or stuck, which gather reports)
            wake_at, _, future = heapq.heappop(self._sleepers)
            self.now = max(self.now, wake_at)
            future.set_result(None)
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=1)

    async def _settle(self) -> None:
        """Yield until no task reads the clock or falls asleep any more."""
        quiet = 0
        while quiet < 5:
            before = self._events
            await asyncio.sleep(0)
            quiet = quiet + 1 if self._events == before else 0


# Ten times smaller than the product's budget, so a simulated minute holds few requests; windows unpadded; no
# in-flight cap (a task waiting for one is not asleep, and the simulation only moves time when every task sleeps).
SMALL = RateLimits(per_minute=45, per_second=100, max_in_flight=1000, batch_per_minute=4, margin_seconds=0.0)
MARGIN = 0.005  # the limiter's floor for the margin


def most_in_any_minute(times: list[float]) -> int:
    return max((sum(1 for t in times if start <= t < start + 60 + MARGIN) for start in times), default=0)


async def send_batches(limiter: RealmLimiter, clock: VirtualTime, count: int, sent: list[float]) -> None:
    for _ in range(count):
        async with limiter.slot(REALM, batch=True):
            sent.append(clock.now)


async def send_uploads(limiter: RealmLimiter, clock: VirtualTime, count: int, sent: list[float]) -> None:
    async def one() -> None:
        async with limiter.slot(REALM, background=True):
            sent.append(clock.now)

    await asyncio.gather(*(one() for _ in range(count)))


async def test_uploads_alone_use_the_whole_per_minute_budget() -> None:
    clock = VirtualTime()
    limiter = RealmLimiter(SMALL, clock=clock, sleep=clock.sleep)
    uploads: list[float] = []

    await clock.run(send_uploads(limiter, clock, 90, uploads))

    assert sum(1 for t in uploads if t < 60) == 45, "no batch call is going out: nothing to leave room for"
    assert most_in_any_minute(uploads) <= 45


async def test_batch_calls_go_out_at_their_own_pace_through_a_stream_of_uploads() -> None:
    alone: list[float] = []
    clock = VirtualTime()
    limiter = RealmLimiter(SMALL, clock=clock, sleep=clock.sleep)
    await clock.run(send_batches(limiter, clock, 8, alone))

    batches: list[float] = []
    uploads: list[float] = []
    clock = VirtualTime()
    limiter = RealmLimiter(SMALL, clock=clock, sleep=clock.sleep)
    await clock.run(send_batches(limiter, clock, 8, batches), send_uploads(limiter, clock, 200, uploads))

    assert batches == alone, "the uploads delayed a batch call"
    assert most_in_any_minute(batches + uploads) <= SMALL.per_minute
    assert most_in_any_minute(batches) <= SMALL.batch_per_minute
    # While the batch calls go out the uploads take the rest of each minute; once they are done, all of it.
    first_minute = sum(1 for t in uploads if t < 60)
    assert first_minute == SMALL.per_minute - SMALL.batch_per_minute
    last_batch = max(batches)
    after = sorted(t for t in uploads if t > last_batch + 60 + MARGIN)
    assert sum(1 for t in after if t < after[0] + 60) == SMALL.per_minute


async def test_a_batch_call_that_arrives_after_the_uploads_filled_the_minute_takes_the_first_free_slot() -> None:
    batches: list[float] = []
    uploads: list[float] = []
    clock = VirtualTime()
    limiter = RealmLimiter(SMALL, clock=clock, sleep=clock.sleep)

    async def batch_later() -> None:
        await clock.sleep(10)
        await send_batches(limiter, clock, 1, batches)

    await clock.run(send_uploads(limiter, clock, 120, uploads), batch_later())

    assert sum(1 for t in uploads if t < 60) == 45
    assert batches == [pytest.approx(60 + MARGIN)], "the batch call waited behind uploads that came after it"
    assert most_in_any_minute(batches + uploads) <= SMALL.per_minute


async def test_background_requests_never_hold_every_in_flight_slot() -> None:
    """A background request waits for its rate slot while holding an in-flight one; if they could hold them all, a
    batch call could not even ask for its slot."""
    limiter = RealmLimiter(RateLimits(per_minute=1000, per_second=1000, max_in_flight=2))
    release = asyncio.Event()
    inside: list[int] = []

    async def upload() -> None:
        async with limiter.slot(REALM, background=True):
            inside.append(1)
            await release.wait()

    uploads = [asyncio.create_task(upload()) for _ in range(3)]
    await asyncio.sleep(0.05)
    assert len(inside) == 1
    async with asyncio.timeout(5), limiter.slot(REALM, batch=True):
        pass  # the slot the uploads may not take
    release.set()
    await asyncio.gather(*uploads)
    assert len(inside) == 3


async def test_uploads_and_batch_calls_together_use_the_whole_budget_at_the_products_limits() -> None:
    """With QBO's real limits and the product's margins: once a minute's batch calls are out, nothing more needs
    room kept for it, so the uploads take all the rest (per second too)."""
    limits = RateLimits(max_in_flight=10_000)  # 450/min, 8/s, 40 batch calls/min, 50 ms margins
    clock = VirtualTime()
    limiter = RealmLimiter(limits, clock=clock, sleep=clock.sleep)
    batches: list[float] = []
    uploads: list[float] = []

    await clock.run(send_batches(limiter, clock, 80, batches), send_uploads(limiter, clock, 1000, uploads))

    for start in (0, 60):
        in_minute = [t for t in batches + uploads if start <= t < start + 60]
        assert sum(1 for t in batches if start <= t < start + 60) == limits.batch_per_minute
        assert len(in_minute) == limits.per_minute, "requests the budget allowed were not sent"
    assert most_in_any_minute(batches + uploads) <= limits.per_minute


async def test_batch_calls_keep_a_tenth_of_a_second_of_margin_at_any_time_scale() -> None:
    """QBO's batch limit is the client's too (40 a minute, no headroom), and the jitter between our clock and QBO's
    arrival stamps does not shrink when tests and benchmarks shrink the minute."""
    clock = VirtualTime()
    limiter = RealmLimiter(RateLimits(time_scale=0.01), clock=clock, sleep=clock.sleep)  # a minute of 0.6 s
    batches: list[float] = []

    await clock.run(send_batches(limiter, clock, 41, batches))

    assert batches[-1] - batches[0] >= 0.6 + 0.1
