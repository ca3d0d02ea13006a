"""The soak (opt in with --soak): many sync rounds over a growing Ontop company while QuickBooks, Ontop and the
worker processes fail at random. At the end: every eligible invoice is exactly one bill, nothing lost, nothing doubled.

Run: .venv/bin/pytest tests/reliability/test_soak.py --soak [--soak-rounds 30] [--soak-seed N] -s
(the seed is random unless given, and always printed; CI runs 10 rounds seeded by the commit).
The figures are printed and written to soak-figures.json in the test's temporary directory.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
from collections import Counter
from pathlib import Path

import pytest

from emulators.ontop.state import Fault
from sync.ontop.assumed import INVOICES_PATH
from tests.reliability.conftest import StartWorker
from tests.reliability.support import Driver, assert_nothing_lost_nor_doubled

QBO_FAULT_KINDS: list[tuple[str, str | int]] = [
    ("*/batch", 500),
    ("*/batch", 503),
    ("*", 429),
    ("*/batch", "reset"),
    ("*/upload", "reset"),
    ("*/query", 503),
    ("*", "expire_token"),
    ("*/batch", "timeout"),
]


@pytest.mark.soak
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
async def test_soak_many_rounds_of_random_faults_lose_and_double_nothing(
    headless_driver: Driver, start_worker: StartWorker, soak_plan: tuple[int, int], tmp_path: Path, backend: str
) -> None:
    driver = headless_driver
    rounds, seed = soak_plan
    chooser = random.Random(seed)
    ontop, qbo = driver.stack.ontop_state, driver.stack.qbo_state
    assert ontop is not None and qbo is not None
    span = ontop.clock - ontop.generator.start
    ontop.now = ontop.generator.start + span / 3  # the company grows during the soak
    step = (span * 2 / 3) / rounds
    faults: Counter[str] = Counter()
    kills = 0

    await driver.connect()
    worker = start_worker()
    await driver.wait_for_runs_to_settle()  # the first sync; each round below then queues a run of its own
    for _ in range(rounds):
        ontop.advance(step.total_seconds())  # new invoices appear, some change (paid, cancelled, corrected)
        for row in chooser.sample(driver.eligible_invoices(), k=2):
            ontop.touch_invoice(int(row["invoiceId"]))  # an edit after billing: must not make a second bill
        expired_this_round = False
        for _ in range(chooser.randint(0, 3)):
            pattern, kind = chooser.choice(QBO_FAULT_KINDS)
            # Two 401s in a row mean "reconnect" (the refreshed token was refused too), which QuickBooks does only
            # when the connection is really gone: one expiry per round, or the product rightly asks to reconnect.
            if kind == "expire_token" and expired_this_round:
                continue
            expired_this_round = expired_this_round or kind == "expire_token"
            count = 1 if kind == "expire_token" else chooser.randint(1, 2)
            qbo.inject(pattern, kind, count, delay_seconds=0.2)
            faults[f"qbo {kind}"] += 1
        if chooser.random() < 0.3:
            ontop.faults.append(Fault(status=chooser.choice([500, 502, 503]), path=INVOICES_PATH, times=1))
            faults["ontop 5xx"] += 1
        runs_before = len(await driver.runs())
        await driver.request_sync_in_slack()
        if chooser.random() < 0.3:
            await asyncio.sleep(chooser.uniform(0.0, 0.5))  # the random point of death
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(timeout=30)
            kills += 1
            faults["worker SIGKILL"] += 1
            worker = start_worker()
        try:
            await driver.wait_for_runs_to_settle(at_least=runs_before + 1, timeout_seconds=60)
        except AssertionError:
            for run in await driver.runs():
                print("RUN", run.id, run.status, run.attempt, run.lease_owner, run.not_before, run.error_summary)
            print((tmp_path / "worker-0.log").read_text()[-3000:])
            raise
        qbo.clear_faults()
        ontop.faults.clear()

    for run in await driver.runs():
        print(
            "RUN",
            run.id,
            run.trigger,
            run.status,
            run.attempt,
            run.bills_created,
            run.already_synced,
            run.failed,
            run.error_summary,
        )
    outcome = await assert_nothing_lost_nor_doubled(driver, taken_over=kills > 0)

    figures = {
        "seed": seed,
        "backend": "sqlite" if backend is None else "postgresql",
        "rounds": rounds,
        "runs": len(outcome.runs),
        "faults_injected": sum(faults.values()),
        "faults": dict(sorted(faults.items())),
        "eligible_invoices": len(outcome.expected_doc_numbers),
        "bills": sum(outcome.bill_counts.values()),
        "duplicates": outcome.duplicates,
        "lost": outcome.lost,
    }
    (tmp_path / "soak-figures.json").write_text(json.dumps(figures, indent=2))
    print("\nSOAK FIGURES", json.dumps(figures))
    assert outcome.duplicates == 0 and outcome.lost == 0
