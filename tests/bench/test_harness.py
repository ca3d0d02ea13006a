"""The benchmark harness against the real emulators over loopback HTTP: what it measures is what it claims."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from bench.emulators import NoPdfCompany, qbo_process
from bench.throughput import RequestTrace, is_paid, paid_bills, simple_sync
from bench.world import EngineWorld, WorldOptions
from devtools.server import BackgroundServer
from emulators.ontop.app import OntopEmulatorState, create_ontop_emulator
from emulators.ontop.generator import CompanyGenerator
from emulators.qbo.app import create_qbo_emulator
from emulators.qbo.state import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REALM, QboEmulatorState

TIME_SCALE = 0.01


@dataclass
class Emulators:
    qbo: QboEmulatorState
    qbo_url: str
    ontop_url: str


def _serve(company: CompanyGenerator) -> Iterator[Emulators]:
    qbo_state = QboEmulatorState(seed=5)
    qbo_state.switches.time_scale = TIME_SCALE
    qbo_state.register_client(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
    qbo_state.seed_company()
    with (
        BackgroundServer(create_qbo_emulator(qbo_state)) as qbo,
        BackgroundServer(create_ontop_emulator(OntopEmulatorState(generator=company))) as ontop,
    ):
        yield Emulators(qbo_state, qbo.url, ontop.url)


@pytest.fixture
def emulators() -> Iterator[Emulators]:
    yield from _serve(CompanyGenerator(workers=10, invoices=40, months=2, seed=4))


@pytest.fixture
def emulators_without_pdfs() -> Iterator[Emulators]:
    yield from _serve(NoPdfCompany(workers=10, invoices=40, months=2, seed=4))


def _total_requests(state: QboEmulatorState) -> int:
    with state.lock:
        return sum(state.request_counts.values())


def test_no_pdf_company_is_the_same_company_without_pdfs() -> None:
    plain = list(CompanyGenerator(workers=10, invoices=40, months=2, seed=4).invoice_rows())
    without = list(NoPdfCompany(workers=10, invoices=40, months=2, seed=4).invoice_rows())
    assert any(row["pdfAvailable"] for row in plain)
    assert not any(row["pdfAvailable"] for row in without)
    assert [{**row, "pdfAvailable": False} for row in plain] == without


async def test_simple_way_sends_one_request_per_bill_and_creates_each_once(emulators: Emulators) -> None:
    options = WorldOptions(emulators.qbo_url, emulators.ontop_url, time_scale=TIME_SCALE)
    async with EngineWorld(options) as world:
        await world.connect(map_concepts=False)
        client = world.qbo_client()
        before = _total_requests(emulators.qbo)
        counted: list[int] = []
        created = await simple_sync(client, world, lambda: counted.append(1))
        requests = _total_requests(emulators.qbo) - before
    bills = emulators.qbo.entities("Bill", world.realm_id or "")
    assert created == len(counted) == len(bills) > 0
    assert len({bill["DocNumber"] for bill in bills}) == len(bills)
    # Set-up reads (preferences, accounts) and one vendor, then exactly one create per bill: no batch calls.
    assert requests == created + 3


async def test_engine_world_syncs_without_uploads_when_the_company_has_no_pdfs(
    emulators_without_pdfs: Emulators,
) -> None:
    options = WorldOptions(emulators_without_pdfs.qbo_url, emulators_without_pdfs.ontop_url, time_scale=TIME_SCALE)
    async with EngineWorld(options) as world:
        await world.connect()
        result = await world.sync()
    realm = world.realm_id or ""
    bills = emulators_without_pdfs.qbo.entities("Bill", realm)
    assert result.bills_created + result.fee_bills_created == len(bills) > 0
    assert emulators_without_pdfs.qbo.entities("Attachable", realm) == []


async def test_paid_bills_count_what_quickbooks_shows_paid_and_the_trace_sees_every_batch_item(
    emulators_without_pdfs: Emulators,
) -> None:
    options = WorldOptions(emulators_without_pdfs.qbo_url, emulators_without_pdfs.ontop_url, time_scale=TIME_SCALE)
    async with EngineWorld(options) as world:
        trace = RequestTrace(emulators_without_pdfs.qbo_url)
        trace.install(world)
        await world.connect()
        await world.sync()
        paid = await paid_bills(world)
    bills = emulators_without_pdfs.qbo.entities("Bill", world.realm_id or "")
    assert paid == sum(1 for bill in bills if is_paid(bill)) == len(bills) > 0
    items: dict[str, int] = {}
    for request in trace.sent:
        items[request.kind] = items.get(request.kind, 0) + request.items
    assert items["batch:Bill"] == items["batch:BillPayment"] == len(bills)
    assert any(wait.batch for wait in trace.waits)  # the timed limiter saw the batch calls
    assert any(request.service == "ontop" for request in trace.sent)


def _burst(url: str, count: int) -> int:
    """`count` requests within a second to the realm's API; how many the emulator throttled (429)."""
    with httpx.Client(base_url=url, timeout=10) as http:
        for _ in range(count):
            http.get(f"/v3/company/{DEFAULT_REALM}/companyinfo/{DEFAULT_REALM}")
        throttled: int = http.get("/_emulator/stats").json()["throttled"]
    return throttled


def test_qbo_emulator_process_enforces_qbo_limits_unless_told_not_to() -> None:
    with qbo_process(time_scale=1.0) as limited:
        assert _burst(limited.url, 15) >= 1  # QBO allows 10 per second per realm
    with qbo_process(time_scale=1.0, rate_limits=False) as unlimited:
        assert _burst(unlimited.url, 15) == 0
