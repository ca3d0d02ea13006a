"""Per-realm client-side throttle that keeps under QBO's published limits (reference §14).

One limiter serves a whole process, whatever event loops it runs: `qbo-bot serve` answers Slack on one loop and runs
its embedded worker on another thread's loop, and both spend the same realm's budget. The windows are kept under a
thread lock (no await inside it); only the in-flight cap is per event loop.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass, field, replace

MIN_MARGIN_SECONDS = 0.005
# Batch calls have no headroom (the client sends 40 a minute, QBO's own limit), so their window is padded by at least
# this much whatever the time scale: the jitter between our clock and QBO's arrival stamps does not shrink with it.
BATCH_MARGIN_SECONDS = 0.1


@dataclass(frozen=True)
class RateLimits:
    """The client's budget per realm: under QBO's 500/min, 10/s and 40 batch/min, with ≤4 requests in flight.

    `time_scale` multiplies every window (0.01 makes a "minute" 0.6 s) so tests can exercise the limiter fast.
    """

    per_minute: int = 450
    per_second: int = 8
    max_in_flight: int = 4
    batch_per_minute: int = 40
    time_scale: float = 1.0
    # Added to every window: QBO timestamps requests on arrival, so network jitter must not let it count more.
    margin_seconds: float = 0.05

    def scaled(self, time_scale: float) -> RateLimits:
        """The same limits with every window multiplied by `time_scale`."""
        return replace(self, time_scale=time_scale)

    @property
    def minute(self) -> float:
        """The per-minute window in seconds, after scaling."""
        return 60.0 * self.time_scale

    @property
    def second(self) -> float:
        """The per-second window in seconds, after scaling."""
        return 1.0 * self.time_scale


@dataclass
class _RealmWindow:
    max_in_flight: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    sent: deque[float] = field(default_factory=deque)
    batches: deque[float] = field(default_factory=deque)
    batches_waiting: int = 0  # batch calls waiting for their slot: background requests hold back for them
    semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _InFlight] = field(
        default_factory=weakref.WeakKeyDictionary
    )

    def in_flight(self) -> _InFlight:
        """This event loop's in-flight caps (an asyncio semaphore belongs to one loop)."""
        loop = asyncio.get_running_loop()
        with self.lock:
            found = self.semaphores.get(loop)
            if found is None:
                found = self.semaphores[loop] = _InFlight(self.max_in_flight)
            return found


class _InFlight:
    """Requests in flight on one event loop, and the share of them background requests may hold: a background
    request waits for its rate slot while holding one, so they must never hold them all and keep a batch call from
    even asking for its slot."""

    def __init__(self, max_in_flight: int) -> None:
        self.any = asyncio.Semaphore(max_in_flight)
        self.background = asyncio.Semaphore(max(1, max_in_flight - 1))


class RealmLimiter:
    """Sliding-window limits and a concurrency cap per realm; `async with limiter.slot(realm):` around each call."""

    def __init__(
        self,
        limits: RateLimits | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.limits = limits or RateLimits()
        # The margin shrinks with the windows it pads, but never below the jitter between two processes; the batch
        # calls' window keeps at least BATCH_MARGIN_SECONDS.
        self._margin = max(self.limits.margin_seconds * self.limits.time_scale, MIN_MARGIN_SECONDS)
        self._batch_margin = max(self._margin, BATCH_MARGIN_SECONDS)
        self._clock = clock
        self._sleep = sleep
        self._realms: dict[str, _RealmWindow] = {}
        self._realms_lock = threading.Lock()

    def _window(self, realm_id: str) -> _RealmWindow:
        with self._realms_lock:
            window = self._realms.get(realm_id)
            if window is None:
                window = self._realms[realm_id] = _RealmWindow(self.limits.max_in_flight)
            return window

    @asynccontextmanager
    async def slot(self, realm_id: str, *, batch: bool = False, background: bool = False) -> AsyncIterator[None]:
        """Wait until a request for this realm fits every limit, then hold an in-flight slot while it runs.

        background: a request that yields to batch calls (PDF uploads sent while bills or payments go out): while
        batch calls go out it leaves room for those the minute still allows and one request a second, so a stream
        of uploads never delays the batch calls that post the bills; alone, it may use the whole budget.
        """
        window = self._window(realm_id)
        in_flight = window.in_flight()
        async with in_flight.background if background else nullcontext(), in_flight.any:
            await self._reserve(window, batch, background)
            yield

    async def _reserve(self, window: _RealmWindow, batch: bool, background: bool = False) -> None:
        if batch:
            with window.lock:
                window.batches_waiting += 1
        try:
            while True:
                with window.lock:  # held for arithmetic only: never across an await
                    now = self._clock()
                    wait = self._wait(window, now, batch, background)
                    if wait <= 0:
                        window.sent.append(now)
                        if batch:
                            window.batches.append(now)
                        return
                await self._sleep(wait)
        finally:
            if batch:
                with window.lock:
                    window.batches_waiting -= 1

    def _wait(self, window: _RealmWindow, now: float, batch: bool, background: bool) -> float:
        """Seconds until this request fits every limit (0 or less: now). Called under the window's lock."""
        limits, margin, batch_margin = self.limits, self._margin, self._batch_margin
        while window.sent and window.sent[0] <= now - limits.minute - margin:
            window.sent.popleft()
        while window.batches and window.batches[0] <= now - limits.minute - batch_margin:
            window.batches.popleft()
        per_minute, per_second = limits.per_minute, limits.per_second
        # Batch calls the minute allows from the moment request slots free up (the batch window's wider margin still
        # holds calls that no longer count for that).
        blocking = sum(1 for at in window.batches if at > now - limits.minute - margin)
        room_for_batches = limits.batch_per_minute - blocking
        if background and (window.batches or window.batches_waiting) and room_for_batches > 0:
            # Batch calls are going out: leave room for those the batch limit still allows in this minute, and one
            # request a second. With none going out, or none allowed until the window moves on, background requests
            # may use the whole budget; a batch call that then arrives takes the next free slot, because background
            # requests hold back while it waits.
            per_minute = max(1, per_minute - room_for_batches)
            per_second = max(1, per_second - 1)
        waits = [0.0]
        if len(window.sent) >= per_minute:
            waits.append(window.sent[-per_minute] + limits.minute + margin - now)
        recent = [at for at in window.sent if at > now - limits.second - margin]
        if len(recent) >= per_second:
            waits.append(recent[-per_second] + limits.second + margin - now)
        if batch and len(window.batches) >= limits.batch_per_minute:
            waits.append(window.batches[-limits.batch_per_minute] + limits.minute + batch_margin - now)
        return max(waits)
