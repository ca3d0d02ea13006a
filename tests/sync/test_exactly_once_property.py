"""Property: for generated companies and fault schedules, every eligible invoice ends with exactly one bill.

Each example builds its own world (emulators, database), injects QuickBooks faults (5xx, 429, slow answers,
connection resets during creates), runs the engine until nothing is left to do, and checks the books.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from devtools.server import BackgroundServer
from emulators.ontop.app import OntopEmulatorState, create_ontop_emulator
from emulators.ontop.generator import CompanyGenerator
from emulators.qbo.app import create_qbo_emulator
from emulators.qbo.state import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REALM, QboEmulatorState
from storage.crypto import SecretBox, generate_key
from storage.db import create_engine, session_factory
from storage.models import Base
from sync.bills import concept_key, doc_number_for
from tests.sync.conftest import TIME_SCALE, Emulators, build_world
from tests.sync.test_engine import UNKNOWN_CONCEPT

faults = st.lists(
    st.tuples(
        st.sampled_from(["*/batch", "*/upload", "*/query", "*/vendor"]),
        st.sampled_from(["500", "503", "429", "timeout", "reset"]),
        st.integers(min_value=1, max_value=3),
    ),
    max_size=4,
)


async def empty_postgres(url: str) -> None:
    engine = create_engine(url)
    names = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_database(request: pytest.FixtureRequest, sqlite_template: Path) -> Callable[[Path], str]:
    """A clean, migrated database for each example: a copy of the SQLite template, or the session's PostgreSQL
    database emptied (row locks and SKIP LOCKED only mean something there)."""
    if request.param == "sqlite":

        def sqlite_copy(workdir: Path) -> str:
            database = workdir / "db.sqlite3"
            shutil.copyfile(sqlite_template, database)
            return f"sqlite+aiosqlite:///{database}"

        return sqlite_copy
    url: str = request.getfixturevalue("postgres_url")

    def emptied(workdir: Path) -> str:
        asyncio.run(empty_postgres(url))
        return url

    return emptied


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(min_value=0, max_value=10_000), invoices=st.integers(min_value=15, max_value=45), schedule=faults
)
def test_every_eligible_invoice_ends_with_exactly_one_correct_bill(
    fresh_database: Callable[[Path], str], seed: int, invoices: int, schedule: list[tuple[str, str, int]]
) -> None:
    qbo = QboEmulatorState(seed=seed)
    qbo.switches.time_scale = TIME_SCALE
    qbo.register_client(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
    qbo.seed_company()
    ontop = OntopEmulatorState(generator=CompanyGenerator(workers=10, invoices=invoices, months=2, seed=seed))
    with (
        tempfile.TemporaryDirectory() as workdir,
        BackgroundServer(create_qbo_emulator(qbo)) as qbo_server,
        BackgroundServer(create_ontop_emulator(ontop)) as ontop_server,
    ):
        database_url = fresh_database(Path(workdir))
        emulators = Emulators(qbo, ontop, qbo_server.url, ontop_server.url)
        asyncio.run(_sync_until_settled(emulators, database_url, schedule))

    company = qbo.companies[DEFAULT_REALM]
    bills = list(company.of("Bill").values())
    by_doc = Counter(str(bill.get("DocNumber")) for bill in bills)
    assert all(count == 1 for count in by_doc.values()), "a bill was created twice"
    rows = [ontop.invoice_row(row["invoiceId"]) or row for row in ontop.generator.invoice_rows(ontop.now)]
    eligible = [
        row
        for row in rows
        if row["status"] == "PAID" and all(line["concept"] != UNKNOWN_CONCEPT for line in row["lines"])
    ]
    accounts = {account["Id"]: account for account in company.of("Account").values()}
    by_number = {str(bill.get("DocNumber")): bill for bill in bills}
    for row in eligible:
        bill = by_number[doc_number_for(row["invoiceNumber"])]
        fee_bill = by_number.get(doc_number_for(row["invoiceNumber"], "-F"))
        expected = Decimal(str(row["total"] if row["currency"] == "USD" else row["totalUsd"]))
        booked = Decimal(str(bill["TotalAmt"])) + (Decimal(str(fee_bill["TotalAmt"])) if fee_bill else 0)
        assert booked == expected.quantize(Decimal("0.01"))  # with Ontop's fees on their own bill
        assert Decimal(str(bill["Balance"])) == 0 and (fee_bill is None or Decimal(str(fee_bill["Balance"])) == 0)
        own_lines = [line for line in row["lines"] if line["concept"] != "FEE"]
        assert len(bill["Line"]) == len(own_lines)  # one line per invoice line, each on its concept's account
        for line, source in zip(bill["Line"], own_lines, strict=True):
            account = accounts[line["AccountBasedExpenseLineDetail"]["AccountRef"]["value"]]
            assert account["AccountType"] in ("Expense", "Cost of Goods Sold", "Other Expense"), concept_key(
                source["concept"]
            )
    assert len([bill for bill in bills if not str(bill["DocNumber"]).endswith("-F")]) == len(eligible)
    assert not [entry for entry in qbo.audit_log() if entry["touched_preexisting"]]


async def _sync_until_settled(emulators: Emulators, database_url: str, schedule: list[tuple[str, str, int]]) -> None:
    engine = create_engine(database_url)
    world = build_world(emulators, session_factory(engine), SecretBox(generate_key()))
    try:
        connection_id = await world.connect()
        for pattern, kind, count in schedule:
            emulators.qbo.inject(pattern, kind, count=count, delay_seconds=0.2)
        # Faults may fail a whole run or leave outcomes unknown; later runs finish them. Each run retries a refused
        # batch three times, so four injected faults of three calls are used up within five runs.
        for _ in range(8):
            result = await world.sync(connection_id)
            if result.counts.failed == 0:
                break
    finally:
        await world.clients.aclose()
        await engine.dispose()
