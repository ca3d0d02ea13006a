"""Sync throughput against the ceiling QBO's published limits allow, batched (the engine) and the simple way.

The QBO emulator runs in its own process enforcing 500 req/min, 10 req/s and 40 batch calls/min per realm; a
`time_scale` below 1 shrinks every window on both sides (the emulator and the client limiter), which raises every
limit by one factor. Rates are reported per QBO minute (one window), so they compare directly with the real limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import func, select

from bench.emulators import ontop_process, qbo_process, qbo_stats
from bench.figures import Samples, SteadyRate, steady_rate
from bench.world import EngineWorld, WorldOptions
from storage.models import InvoiceState, SyncedInvoice
from sync.bills import Booking, Books, Company, VendorForBill, build_booking, request_id_for
from sync.plan import triage
from sync.qbo.client import QboClient
from sync.qbo.models import BillDraft, NewVendor

# QBO's published limits (../shared/reference/qbo-api.md §14).
QBO_REQUESTS_PER_MINUTE = 500
QBO_REQUESTS_PER_SECOND = 10
QBO_BATCH_CALLS_PER_MINUTE = 40  # per realm and app (the realm-wide 120 is looser)
QBO_BATCH_SIZE = 30
BILLED_SHARE = 0.85  # about this share of generated invoices is PAID and becomes a bill (measured: 848 of 1,000)


def batched_ceiling(*, pdfs: bool) -> float:
    """Bills per minute QBO's limits allow when bills go 30 to a batch call (plus one upload per bill with PDFs)."""
    by_batch_calls = QBO_BATCH_CALLS_PER_MINUTE * QBO_BATCH_SIZE
    requests = min(QBO_REQUESTS_PER_MINUTE, QBO_REQUESTS_PER_SECOND * 60)
    # Each bill costs 1/30 of a batch call, plus one upload request when it carries its PDF.
    requests_per_bill = 1 / QBO_BATCH_SIZE + (1 if pdfs else 0)
    return min(by_batch_calls, requests / requests_per_bill)


def simple_ceiling() -> float:
    """Bills per minute QBO's limits allow with one create request per bill (no batching, no PDFs)."""
    return float(min(QBO_REQUESTS_PER_MINUTE, QBO_REQUESTS_PER_SECOND * 60))


def invoices_for(bills_per_window: float, windows: float) -> int:
    """How many generated invoices give about `bills_per_window × windows` bills."""
    return math.ceil(bills_per_window * windows / BILLED_SHARE)


@dataclass(frozen=True)
class ThroughputResult:
    mode: str  # "batched, with PDFs", ...
    bills: int
    rate: SteadyRate  # bills per QBO minute
    ceiling: float
    wall_seconds: float
    throttled: int  # 429s the emulator answered
    qbo_requests: int

    @property
    def ratio(self) -> float:
        return self.rate.per_window / self.ceiling


class _Sampler:
    """Counts progress every `interval` seconds while a run goes on."""

    def __init__(self, count: Callable[[], Awaitable[int]], interval: float) -> None:
        self._count = count
        self._interval = interval
        self.samples = Samples()
        self._started = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        self._started = time.monotonic()
        while not stop.is_set():
            self.samples.add(time.monotonic() - self._started, await self._count())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._interval)
        self.samples.add(time.monotonic() - self._started, await self._count())


async def _created_bills(world: EngineWorld) -> int:
    async with world.sessions() as session:
        count = await session.scalar(
            select(func.count()).select_from(SyncedInvoice).where(SyncedInvoice.state == InvoiceState.CREATED)
        )
    return int(count or 0)


async def _while_sampling(work: Awaitable[object], sampler: _Sampler) -> float:
    stop = asyncio.Event()
    sampling = asyncio.create_task(sampler.run(stop))
    started = time.monotonic()
    try:
        await work
    finally:
        stop.set()
        await sampling
    return time.monotonic() - started


def measure_engine(
    *, time_scale: float, pdfs: bool, warmup_windows: int = 1, measure_windows: int = 2
) -> ThroughputResult:
    """The engine's first sync of a generated company sized to outlast warm-up + measuring windows."""
    ceiling = batched_ceiling(pdfs=pdfs)
    invoices = invoices_for(ceiling, warmup_windows + measure_windows + 0.7)
    window = 60 * time_scale
    with (
        qbo_process(time_scale=time_scale) as qbo,
        ontop_process(workers=40, invoices=invoices, months=6, pdfs=pdfs) as ontop,
    ):

        async def run() -> ThroughputResult:
            async with EngineWorld(WorldOptions(qbo.url, ontop.url, time_scale=time_scale)) as world:
                await world.connect()
                before = qbo_stats(qbo.url)
                sampler = _Sampler(lambda: _created_bills(world), window / 40)
                wall = await _while_sampling(world.sync(), sampler)
                after = qbo_stats(qbo.url)
                return ThroughputResult(
                    mode=f"batched, {'with' if pdfs else 'without'} PDFs",
                    bills=await _created_bills(world),
                    rate=steady_rate(sampler.samples, window, warmup_windows, measure_windows),
                    ceiling=ceiling,
                    wall_seconds=wall,
                    throttled=int(after["throttled"]) - int(before["throttled"]),
                    qbo_requests=sum(after["requests"].values()) - sum(before["requests"].values()),
                )

        return asyncio.run(run())


async def simple_sync(qbo: QboClient, world: EngineWorld, on_created: Callable[[], None]) -> int:
    """The simple way: read every invoice and create its bill with one request each; no batching, no PDFs."""
    assert world.connection_id is not None
    realm_id = qbo.realm_id
    preferences = await qbo.preferences()
    company = Company(realm_id, preferences.home_currency, preferences.multicurrency_enabled)
    account = next(account for account in await qbo.expense_accounts() if "Contractors" in account.name)
    vendor = await qbo.create_vendor(NewVendor(display_name="Simple Way Supplier"), "bench-simple-vendor")
    payee = VendorForBill(vendor.id, vendor.display_name, None)
    ontop = await world.clients.ontop_for_connection(world.connection_id)
    created = 0
    try:
        async for page in ontop.invoices_changed_since(None):
            for invoice in page:
                if triage(invoice, None, None) is not None:
                    continue  # not a PAID invoice: the product would not bill it
                # Fees stay on the bill: the simple way makes one bill per invoice, nothing else.
                books = Books(fees_on_contractor_bill=True)
                booking = build_booking(invoice, payee, {}, company, books, default_account_id=account.id)
                if not isinstance(booking, Booking) or not isinstance(booking.main, BillDraft):
                    continue
                draft = booking.main
                await qbo.create_bill(draft, request_id_for(realm_id, str(invoice.id), "bill", 0))
                created += 1
                on_created()
    finally:
        await ontop.aclose()
    return created


def measure_simple(*, time_scale: float, warmup_windows: int = 1, measure_windows: int = 2) -> ThroughputResult:
    """The same kind of company synced the simple way, through the same client (and its limiter)."""
    ceiling = simple_ceiling()
    invoices = invoices_for(ceiling, warmup_windows + measure_windows + 0.7)
    window = 60 * time_scale
    with (
        qbo_process(time_scale=time_scale) as qbo,
        ontop_process(workers=40, invoices=invoices, months=6, pdfs=False) as ontop,
    ):

        async def run() -> ThroughputResult:
            async with EngineWorld(WorldOptions(qbo.url, ontop.url, time_scale=time_scale)) as world:
                await world.connect(map_concepts=False)  # nothing mapped: no engine run is queued
                client = world.qbo_client()
                counter = [0]

                def bump() -> None:
                    counter[0] += 1

                async def count() -> int:
                    return counter[0]

                before = qbo_stats(qbo.url)
                sampler = _Sampler(count, window / 40)
                wall = await _while_sampling(simple_sync(client, world, bump), sampler)
                after = qbo_stats(qbo.url)
                return ThroughputResult(
                    mode="simple way (one request per bill, no PDFs)",
                    bills=counter[0],
                    rate=steady_rate(sampler.samples, window, warmup_windows, measure_windows),
                    ceiling=ceiling,
                    wall_seconds=wall,
                    throttled=int(after["throttled"]) - int(before["throttled"]),
                    qbo_requests=sum(after["requests"].values()) - sum(before["requests"].values()),
                )

        return asyncio.run(run())
