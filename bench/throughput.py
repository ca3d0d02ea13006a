"""Sync throughput against the ceiling QBO's published limits allow, batched (the engine) and the simple way.

The QBO emulator runs in its own process enforcing 500 req/min, 10 req/s and 40 batch calls/min per realm; a
`time_scale` below 1 shrinks every window on both sides (the emulator and the client limiter), which raises every
limit by one factor. Rates are reported per QBO minute (one window), so they compare directly with the real limits.

The engine runs measure two rates (issue #15): bills created, and paid bills (bills that end with our BillPayment,
Balance 0 in QBO), each against its own ceiling, and profile where the QBO requests of the measured windows went.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import func, select

from bench.emulators import ontop_process, qbo_process, qbo_stats
from bench.figures import Figure, Samples, SteadyRate, steady_rate
from bench.world import EngineWorld, WorldOptions
from storage.models import InvoiceState, LedgerPosting, PostingKind, PostingState, SyncedInvoice
from sync.bills import Booking, Books, Company, VendorForBill, build_booking, request_id_for
from sync.plan import triage
from sync.qbo.client import QboClient
from sync.qbo.limiter import RateLimits, RealmLimiter
from sync.qbo.models import BillDraft, NewVendor

# QBO's published limits (../shared/reference/qbo-api.md §14).
QBO_REQUESTS_PER_MINUTE = 500
QBO_REQUESTS_PER_SECOND = 10
QBO_BATCH_CALLS_PER_MINUTE = 40  # per realm and app (the realm-wide 120 is looser)
QBO_BATCH_SIZE = 30
# A paid bill is two batch items: the bill, then its BillPayment. They cannot share a batch call: the items of a
# batch cannot see each other's results (§9), and the payment needs the bill's Id.
BATCH_ITEMS_PER_PAID_BILL = 2
BILLED_SHARE = 0.85  # about this share of generated invoices is PAID and becomes a bill (measured: 848 of 1,000)
PAID_THROUGHPUT_TARGET = 0.9  # issue #15: paid bills per minute at ≥ 0.9 of the ceiling


def batched_ceiling(*, pdfs: bool, items_per_bill: int = 1) -> float:
    """Bills per minute QBO's limits allow when their batch items go 30 to a batch call (plus one upload per bill
    with PDFs). A batch call is one request however many items it holds, and also counts toward the 500/min (§9, §14).
    """
    by_batch_calls = QBO_BATCH_CALLS_PER_MINUTE * QBO_BATCH_SIZE / items_per_bill
    requests = min(QBO_REQUESTS_PER_MINUTE, QBO_REQUESTS_PER_SECOND * 60)
    # Each bill costs items_per_bill/30 of a batch call, plus one upload request when it carries its PDF.
    requests_per_bill = items_per_bill / QBO_BATCH_SIZE + (1 if pdfs else 0)
    return min(by_batch_calls, requests / requests_per_bill)


def paid_ceiling(*, pdfs: bool) -> float:
    """Paid bills per minute QBO's limits allow: 40 batch calls × 30 items ÷ 2 items = 600 without PDFs; with a PDF
    upload per bill the 500 requests/min bind first: 500 ÷ (1 + 2/30) ≈ 469."""
    return batched_ceiling(pdfs=pdfs, items_per_bill=BATCH_ITEMS_PER_PAID_BILL)


def simple_ceiling() -> float:
    """Bills per minute QBO's limits allow with one create request per bill (no batching, no PDFs)."""
    return float(min(QBO_REQUESTS_PER_MINUTE, QBO_REQUESTS_PER_SECOND * 60))


def invoices_for(bills_per_window: float, windows: float) -> int:
    """How many generated invoices give about `bills_per_window × windows` bills."""
    return math.ceil(bills_per_window * windows / BILLED_SHARE)


@dataclass(frozen=True)
class SentRequest:
    """One HTTP request as it left the bot's pool (`time.monotonic()` seconds)."""

    at: float
    service: str  # "qbo" or "ontop"
    kind: str  # QBO: "batch:Bill", "batch:BillPayment", "upload", "query", "read bill", "write vendor", ...
    items: int = 0  # a batch call's items


@dataclass(frozen=True)
class SlotWait:
    """How long one QBO request waited for the client limiter's slot (its rate budget and in-flight cap)."""

    at: float  # when it asked (`time.monotonic()` seconds)
    seconds: float
    batch: bool


def qbo_request_kind(method: str, path: str, body: bytes) -> tuple[str, int]:
    """What a QBO request is, from its path (and a batch call's items): ("batch:Bill", 30), ("upload", 0), ..."""
    parts = path.strip("/").split("/")
    if parts[:2] != ["v3", "company"] or len(parts) < 4:
        return "/".join(parts[:2]), 0
    entity = parts[3].lower()
    if entity == "batch":
        items = json.loads(body).get("BatchItemRequest") or []
        kinds = Counter(key for item in items for key in item if key not in ("bId", "operation", "optionsData"))
        return "batch:" + "+".join(sorted(kinds)), len(items)
    if entity in ("query", "upload"):
        return entity, 0
    return f"{'read' if method == 'GET' else 'write'} {entity}", 0


class RequestTrace:
    """What the bot sent during a run, seen from its own HTTP pool and limiter; nothing it sends is changed."""

    def __init__(self, qbo_url: str) -> None:
        url = httpx.URL(qbo_url)
        self._qbo = (url.host, url.port)
        self.sent: list[SentRequest] = []
        self.waits: list[SlotWait] = []

    def install(self, world: EngineWorld) -> None:
        """Before `world.connect()`: every client the world builds afterwards shares the timed limiter."""
        world.clients.limiter = _TimedLimiter(world.clients.limiter.limits, self)
        world.clients.http.event_hooks["request"].append(self._on_request)

    async def _on_request(self, request: httpx.Request) -> None:
        at = time.monotonic()
        if (request.url.host, request.url.port) != self._qbo:
            self.sent.append(SentRequest(at, "ontop", request.url.path.strip("/").split("/")[0]))
            return
        # Only a batch call's JSON body is read: an upload's multipart body is a stream the pool has not read yet.
        body = request.content if request.url.path.endswith("/batch") else b""
        kind, items = qbo_request_kind(request.method, request.url.path, body)
        self.sent.append(SentRequest(at, "qbo", kind, items))


class _TimedLimiter(RealmLimiter):
    """The product's limiter, unchanged, that also writes down how long each request waited for its slot."""

    def __init__(self, limits: RateLimits, trace: RequestTrace) -> None:
        super().__init__(limits)
        self._trace = trace

    @asynccontextmanager
    async def slot(self, realm_id: str, *, batch: bool = False, background: bool = False) -> AsyncIterator[None]:
        asked = time.monotonic()
        async with super().slot(realm_id, batch=batch, background=background):
            self._trace.waits.append(SlotWait(asked, time.monotonic() - asked, batch))
            yield


@dataclass(frozen=True)
class BatchUse:
    """One kind of batch call over the profiled span, per QBO minute."""

    calls: float
    items: float
    full_calls: float  # calls that carried QBO's maximum of 30 items

    @property
    def items_per_partial_call(self) -> float:
        partial = self.calls - self.full_calls
        return (self.items - QBO_BATCH_SIZE * self.full_calls) / partial if partial else math.nan


@dataclass(frozen=True)
class RequestProfile:
    """Where a span's requests went, per QBO minute: batch calls and their fill, other QBO requests, Ontop, waiting."""

    minutes: float  # QBO minutes profiled
    batches: dict[str, BatchUse]  # "batch:Bill" -> use
    other_qbo: dict[str, float]  # "upload", "write vendor", ... -> requests per minute
    ontop: float  # Ontop requests per minute
    batch_wait_share: float  # share of the span a batch call was waiting for its slot (the engine sends one at a time)
    other_wait_share: float  # share of the span at least one other QBO request was waiting for its slot

    @property
    def batch_calls(self) -> float:
        return sum(use.calls for use in self.batches.values())

    @property
    def batch_items(self) -> float:
        return sum(use.items for use in self.batches.values())

    @property
    def fill(self) -> float:
        """Items per batch call as a share of the 30 a call may carry."""
        return self.batch_items / (QBO_BATCH_SIZE * self.batch_calls) if self.batch_calls else math.nan

    @property
    def qbo_requests(self) -> float:
        return self.batch_calls + sum(self.other_qbo.values())


def _covered(intervals: Iterable[tuple[float, float]], start: float, end: float) -> float:
    """Seconds of [start, end] covered by the union of `intervals`."""
    covered, reach = 0.0, start
    for low, high in sorted(intervals):
        low, high = max(low, reach), min(high, end)
        if high > low:
            covered += high - low
            reach = high
    return covered


def profile_requests(trace: RequestTrace, start: float, end: float, window_seconds: float) -> RequestProfile:
    """The trace's requests sent in [start, end] (`time.monotonic()` seconds), per window (QBO minute)."""
    minutes = (end - start) / window_seconds
    if minutes <= 0:
        return RequestProfile(0.0, {}, {}, math.nan, math.nan, math.nan)
    batches: dict[str, list[int]] = {}
    other: Counter[str] = Counter()
    ontop = 0
    for request in trace.sent:
        if not start <= request.at < end:
            continue
        if request.service != "qbo":
            ontop += 1
        elif request.kind.startswith("batch:"):
            batches.setdefault(request.kind, []).append(request.items)
        else:
            other[request.kind] += 1
    waits = [(w.at, w.at + w.seconds, w.batch) for w in trace.waits]
    span = end - start
    return RequestProfile(
        minutes=minutes,
        batches={
            kind: BatchUse(
                len(sizes) / minutes, sum(sizes) / minutes, sum(1 for n in sizes if n >= QBO_BATCH_SIZE) / minutes
            )
            for kind, sizes in sorted(batches.items())
        },
        other_qbo={kind: count / minutes for kind, count in other.most_common()},
        ontop=ontop / minutes,
        batch_wait_share=_covered([(low, high) for low, high, batch in waits if batch], start, end) / span,
        other_wait_share=_covered([(low, high) for low, high, batch in waits if not batch], start, end) / span,
    )


@dataclass(frozen=True)
class PaidBills:
    """Issue #15's figure: bills that end with our BillPayment, per QBO minute, against the ceiling."""

    paid: int  # bills the ledger has paid by a BillPayment of ours at the end of the run
    paid_in_qbo: int  # bills in QBO (the emulator) with Balance 0 and a BillPayment linked, at the end
    bills_in_qbo: int
    rate: SteadyRate  # paid bills per QBO minute
    ceiling: float
    profile: RequestProfile  # the requests of the measured windows

    @property
    def ratio(self) -> float:
        return self.rate.per_window / self.ceiling


@dataclass(frozen=True)
class ThroughputResult:
    mode: str  # "batched, with PDFs", ...
    bills: int
    rate: SteadyRate  # bills per QBO minute
    ceiling: float
    wall_seconds: float
    throttled: int  # 429s the emulator answered
    qbo_requests: int
    paid: PaidBills | None = None  # the engine runs

    @property
    def ratio(self) -> float:
        return self.rate.per_window / self.ceiling


class _Sampler:
    """Counts progress every `interval` seconds while a run goes on."""

    def __init__(self, count: Callable[[], Awaitable[int]], interval: float) -> None:
        self._count = count
        self._interval = interval
        self.samples = Samples()
        self.started = 0.0  # `time.monotonic()` when sampling began; samples are seconds after it

    async def run(self, stop: asyncio.Event) -> None:
        self.started = time.monotonic()
        while not stop.is_set():
            self.samples.add(time.monotonic() - self.started, await self._count())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._interval)
        self.samples.add(time.monotonic() - self.started, await self._count())


async def _created_bills(world: EngineWorld) -> int:
    async with world.sessions() as session:
        count = await session.scalar(
            select(func.count()).select_from(SyncedInvoice).where(SyncedInvoice.state == InvoiceState.CREATED)
        )
    return int(count or 0)


async def paid_bills(world: EngineWorld) -> int:
    """Bills (own and fee bills) the product has paid: its ledger's payments done with a BillPayment of ours."""
    async with world.sessions() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(LedgerPosting)
            .where(
                LedgerPosting.kind.in_((PostingKind.PAYMENT, PostingKind.FEE_PAYMENT)),
                LedgerPosting.state == PostingState.DONE,
                LedgerPosting.qbo_id.is_not(None),
            )
        )
    return int(count or 0)


def is_paid(bill: dict[str, Any]) -> bool:
    """A bill of the emulator with nothing left to pay and a BillPayment linked to it."""
    linked = any(str(link.get("TxnType", "")).startswith("BillPayment") for link in bill.get("LinkedTxn") or [])
    return linked and float(bill.get("Balance", bill.get("TotalAmt", 0)) or 0) == 0


def paid_in_qbo(url: str, realm_id: str) -> tuple[int, int]:
    """(paid bills, all bills) in the QBO emulator's realm."""
    answer = httpx.get(f"{url}/_emulator/entities/Bill", params={"realm_id": realm_id}, timeout=120)
    answer.raise_for_status()
    bills = [bill for bill in answer.json()["entities"] if bill.get("status") != "Deleted"]
    return sum(1 for bill in bills if is_paid(bill)), len(bills)


async def _while_sampling(work: Awaitable[object], *samplers: _Sampler) -> float:
    stop = asyncio.Event()
    sampling = [asyncio.create_task(sampler.run(stop)) for sampler in samplers]
    started = time.monotonic()
    try:
        await work
    finally:
        stop.set()
        await asyncio.gather(*sampling)
    return time.monotonic() - started


def measure_engine(
    *, time_scale: float, pdfs: bool, warmup_windows: int = 1, measure_windows: int = 2
) -> ThroughputResult:
    """The engine's first sync of a generated company sized to outlast warm-up + measuring windows.

    The world pays every bill (the Ontop wallet), so bills cannot outrun their payments: the company is sized for
    the paid ceiling, the lower of the two.
    """
    ceiling = batched_ceiling(pdfs=pdfs)
    paid_limit = paid_ceiling(pdfs=pdfs)
    invoices = invoices_for(paid_limit, warmup_windows + measure_windows + 0.7)
    window = 60 * time_scale
    with (
        qbo_process(time_scale=time_scale) as qbo,
        ontop_process(workers=40, invoices=invoices, months=6, pdfs=pdfs) as ontop,
    ):

        async def run() -> ThroughputResult:
            async with EngineWorld(WorldOptions(qbo.url, ontop.url, time_scale=time_scale)) as world:
                trace = RequestTrace(qbo.url)
                trace.install(world)
                await world.connect()
                before = qbo_stats(qbo.url)
                bills = _Sampler(lambda: _created_bills(world), window / 40)
                paid = _Sampler(lambda: paid_bills(world), window / 40)
                wall = await _while_sampling(world.sync(), bills, paid)
                after = qbo_stats(qbo.url)
                paid_rate = steady_rate(paid.samples, window, warmup_windows, measure_windows)
                in_qbo, all_bills = paid_in_qbo(qbo.url, world.realm_id or "")
                measured = (paid.started + paid_rate.measured_from, paid.started + paid_rate.measured_to)
                return ThroughputResult(
                    mode=f"batched, {'with' if pdfs else 'without'} PDFs",
                    bills=await _created_bills(world),
                    rate=steady_rate(bills.samples, window, warmup_windows, measure_windows),
                    ceiling=ceiling,
                    wall_seconds=wall,
                    throttled=int(after["throttled"]) - int(before["throttled"]),
                    qbo_requests=sum(after["requests"].values()) - sum(before["requests"].values()),
                    paid=PaidBills(
                        paid=await paid_bills(world),
                        paid_in_qbo=in_qbo,
                        bills_in_qbo=all_bills,
                        rate=paid_rate,
                        ceiling=paid_limit,
                        profile=profile_requests(trace, *measured, window),
                    ),
                )

        return asyncio.run(run())


def paid_figures(results: Iterable[ThroughputResult], time_scale: float) -> list[Figure]:
    """Issue #15's figure per engine run: paid bills per QBO minute against the ceiling (the target without PDFs)."""
    scaled = f"time scale {time_scale:g}" if time_scale != 1 else "real limits"
    figures = []
    for result in results:
        paid = result.paid
        if paid is None:
            continue
        with_pdfs = result.mode.endswith("with PDFs")
        why = (
            "500 requests ÷ (1 upload + 2/30 of a batch call) per paid bill"
            if with_pdfs
            else "40 batch calls × 30 items ÷ 2 items (the bill, then its BillPayment)"
        )
        note = (
            f"{paid.rate.per_window:,.0f} of {paid.ceiling:,.0f} paid bills per QBO minute ({scaled}; ceiling: {why}); "
            f"{paid.paid:,} bills paid in {result.wall_seconds:.0f} s, {paid.paid_in_qbo:,} of {paid.bills_in_qbo:,} "
            f"bills in QBO at Balance 0 with a BillPayment; measured windows: {profile_text(paid.profile)}"
        )
        if not paid.rate.full:
            note += "; the run ended before the planned measuring windows (short measurement)"
        figures.append(
            Figure(
                "Sync throughput",
                f"{result.mode}: paid bills per minute, share of the ceiling",
                paid.ratio,
                "× ceiling",
                target="" if with_pdfs else f"≥ {PAID_THROUGHPUT_TARGET}",
                met=None if with_pdfs else paid.ratio >= PAID_THROUGHPUT_TARGET,
                note=note,
                decimals=3,
            )
        )
    return figures


def profile_text(profile: RequestProfile) -> str:
    """One line: the batch budget, how full its calls were by kind, waiting, and the other requests (per QBO minute)."""
    if profile.minutes <= 0:
        return "nothing measured"
    kinds = "; ".join(_batch_text(kind, use) for kind, use in profile.batches.items())
    others = ", ".join(f"{kind} {rate:.1f}" for kind, rate in profile.other_qbo.items()) or "none"
    text = (
        f"{profile.batch_calls:.1f} batch calls/min (limit {QBO_BATCH_CALLS_PER_MINUTE}), {profile.fill:.0%} full "
        f"({kinds}); a batch call was waiting for the limiter {profile.batch_wait_share:.0%} of the time; "
        f"other QBO requests/min: {others}"
    )
    if profile.other_qbo:
        text += f" (one of them waiting for the limiter {profile.other_wait_share:.0%} of the time)"
    return text + f"; Ontop requests/min: {profile.ontop:.1f}"


def _batch_text(kind: str, use: BatchUse) -> str:
    text = f"{kind.removeprefix('batch:')}: {use.calls:.1f} calls, {use.full_calls:.1f} of them full"
    if use.calls > use.full_calls:
        text += f", the others {use.items_per_partial_call:.1f} items on average"
    return text


def _with_full_batches(paid: PaidBills, budget: int) -> float:
    """Paid bills a minute the same run would reach with every batch call full: the batch budget's 600, or the
    client's request budget shared by two batch items per paid bill and the measured other requests per paid bill."""
    by_batches = QBO_BATCH_CALLS_PER_MINUTE * QBO_BATCH_SIZE / BATCH_ITEMS_PER_PAID_BILL
    others = sum(paid.profile.other_qbo.values()) / paid.rate.per_window if paid.rate.per_window > 0 else 0.0
    return min(by_batches, budget / (BATCH_ITEMS_PER_PAID_BILL / QBO_BATCH_SIZE + others))


def paid_notes(results: Iterable[ThroughputResult]) -> list[str]:
    """Why an engine run's paid bills stayed under 0.9 of the ceiling, from the measured windows' requests; and, when
    its bills figure missed, what that figure's bills-only ceiling means now that every bill is paid too."""
    notes = []
    budget = RateLimits().per_minute  # the client limiter's own budget, under QBO's 500
    for result in results:
        paid = result.paid
        if paid is None:
            continue
        if result.ratio < PAID_THROUGHPUT_TARGET and paid.ceiling < result.ceiling:
            notes.append(
                f"{result.mode}: the bills figure's ceiling ({result.ceiling:,.0f} a minute) counts bills alone; every"
                f" bill is now paid too, a second batch item, so bills can reach at most {paid.ceiling:,.0f} a minute"
                f" ({result.rate.per_window:,.0f} is {result.rate.per_window / paid.ceiling:.3f} of that)."
            )
        if not paid.ratio < PAID_THROUGHPUT_TARGET:
            continue
        profile = paid.profile
        head = f"{result.mode}: paid bills at {paid.ratio:.3f} of the ceiling"
        if profile.batch_calls >= 0.95 * QBO_BATCH_CALLS_PER_MINUTE:
            affordable = QBO_BATCH_CALLS_PER_MINUTE * QBO_BATCH_SIZE * profile.fill / BATCH_ITEMS_PER_PAID_BILL
            notes.append(
                f"{head}: the batch budget is spent ({profile.batch_calls:.1f} of {QBO_BATCH_CALLS_PER_MINUTE} calls"
                f" a minute; a batch call was waiting for its slot {profile.batch_wait_share:.0%} of the time) on"
                f" calls only {profile.fill:.0%} full. At that fill 40 calls pay about {affordable:,.0f} bills a"
                f" minute; full calls would pay about {_with_full_batches(paid, budget):,.0f} (the lower of 40 × 30 ÷ 2"
                f" and the client's {budget} requests a minute at the measured other requests per paid bill)."
                f" Batch calls by kind: {'; '.join(_batch_text(k, u) for k, u in profile.batches.items())}."
            )
        elif profile.qbo_requests >= 0.95 * budget:
            notes.append(
                f"{head}: the client's request budget is spent ({profile.qbo_requests:.0f} requests a minute of its"
                f" {budget}): {profile_text(profile)}."
            )
        else:
            notes.append(
                f"{head} with neither QBO budget spent ({profile.batch_calls:.1f} batch calls and"
                f" {profile.qbo_requests:.0f} requests a minute): the engine itself is the bound;"
                f" {profile_text(profile)}."
            )
    return notes


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
