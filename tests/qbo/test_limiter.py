"""The per-realm limiter keeps the client under QBO's limits: counted by the emulator, not by timing."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

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
