"""The QBO emulator's own cost as its books grow: time per bill (and its BillPayment) created, and per look-up by
DocNumber and by supplier name, from the first thousand bills to 100,000.

Bills and payments are created as the engine creates them, in batch calls of 30 with a requestid, through the
emulator's app in this process (ASGI, no sockets: the figure is the emulator's own work, which `qbo-bot emulator qbo`
serves unchanged over HTTP). Limits are off, as in the engine overhead and memory runs. Times are CPU time of this
process (`time.process_time()`), so other work on the machine does not blur the comparison between windows.

    python -m bench.emulator_cost --bills 100000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from emulators.qbo.app import create_qbo_emulator
from emulators.qbo.state import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REALM, QboEmulatorState

BATCH_SIZE = 30
VENDORS = 200
WINDOW_BILLS = 3_000  # bills per measured window (100 batch calls of bills, then 100 of their payments)
LOOKUPS = 50  # of each kind at each checkpoint


@dataclass(frozen=True)
class Window:
    bills_before: int  # bills in the books when the window started
    ms_per_bill: float  # creating one bill and its BillPayment (two batch items), CPU time of this process
    ms_per_doc_number_query: float  # SELECT * FROM Bill WHERE DocNumber = ...
    ms_per_name_query: float  # SELECT * FROM Vendor WHERE DisplayName = ...


@dataclass(frozen=True)
class EmulatorCost:
    bills: int
    seconds: float
    windows: list[Window] = field(default_factory=list)

    @property
    def first(self) -> Window:
        return self.windows[0]

    @property
    def last(self) -> Window:
        return self.windows[-1]

    def growth(self, what: str) -> float:
        """How much more the last window's cost is than the first's (0.05: 5% more)."""
        first, last = getattr(self.first, what), getattr(self.last, what)
        return last / first - 1 if first else float("nan")


class Books:
    """The emulator's app, a token and the ids the creates refer to."""

    def __init__(self) -> None:
        self.state = QboEmulatorState(seed=3)
        self.state.switches.rate_limits_enabled = False
        self.state.register_client(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)
        self.state.seed_company(DEFAULT_REALM, multicurrency_enabled=False)
        token = self.state.issue_tokens(DEFAULT_REALM)["access_token"]
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_qbo_emulator(self.state)),
            base_url=f"http://qbo/v3/company/{DEFAULT_REALM}",
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=60,
        )
        self.vendor_ids: list[str] = []
        self.expense_account = ""
        self.bank_account = ""
        self.bills = 0

    async def aclose(self) -> None:
        await self.http.aclose()

    async def query(self, statement: str) -> dict[str, Any]:
        answer = await self.http.post("/query", content=statement, headers={"Content-Type": "application/text"})
        answer.raise_for_status()
        result: dict[str, Any] = answer.json()["QueryResponse"]
        return result

    async def batch(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        answer = await self.http.post(
            "/batch", params={"requestid": uuid.uuid4().hex}, json={"BatchItemRequest": items}
        )
        answer.raise_for_status()
        responses: list[dict[str, Any]] = answer.json()["BatchItemResponse"]
        faults = [response["Fault"] for response in responses if "Fault" in response]
        if faults:
            raise RuntimeError(f"the emulator refused a batch item: {json.dumps(faults[0])[:300]}")
        return responses

    async def set_up(self) -> None:
        accounts = (await self.query("SELECT * FROM Account"))["Account"]
        self.expense_account = next(a["Id"] for a in accounts if a["Name"] == "Contractors")
        self.bank_account = next(a["Id"] for a in accounts if a["AccountType"] == "Bank")
        for start in range(0, VENDORS, BATCH_SIZE):
            items = [
                {"bId": str(index), "operation": "create", "Vendor": {"DisplayName": f"Bench Supplier {index:04d}"}}
                for index in range(start, min(VENDORS, start + BATCH_SIZE))
            ]
            self.vendor_ids += [response["Vendor"]["Id"] for response in await self.batch(items)]

    def _bill(self, number: int) -> dict[str, Any]:
        return {
            "DocNumber": f"ONT-{number:06d}",
            "VendorRef": {"value": self.vendor_ids[number % len(self.vendor_ids)]},
            "TxnDate": "2026-01-15",
            "Line": [
                {
                    "Amount": "100.00",
                    "DetailType": "AccountBasedExpenseLineDetail",
                    "AccountBasedExpenseLineDetail": {"AccountRef": {"value": self.expense_account}},
                }
            ],
        }

    def _payment(self, bill: dict[str, Any]) -> dict[str, Any]:
        return {
            "VendorRef": {"value": bill["VendorRef"]["value"]},
            "PayType": "Check",
            "CheckPayment": {"BankAccountRef": {"value": self.bank_account}},
            "TotalAmt": bill["TotalAmt"],
            "TxnDate": "2026-01-16",
            "Line": [{"Amount": bill["TotalAmt"], "LinkedTxn": [{"TxnId": bill["Id"], "TxnType": "Bill"}]}],
        }

    async def create(self, count: int) -> None:
        """`count` bills, 30 to a batch call, then a batch call paying them."""
        for start in range(0, count, BATCH_SIZE):
            numbers = range(self.bills + start, self.bills + min(count, start + BATCH_SIZE))
            items = [{"bId": str(n % 10**9), "operation": "create", "Bill": self._bill(n)} for n in numbers]
            bills = [response["Bill"] for response in await self.batch(items)]
            payments = [
                {"bId": str(i), "operation": "create", "BillPayment": self._payment(b)} for i, b in enumerate(bills)
            ]
            await self.batch(payments)
        self.bills += count

    async def lookups(self) -> tuple[float, float]:
        """ms per DocNumber query and per DisplayName query (existing ones, spread over the books)."""
        step = max(1, self.bills // LOOKUPS)
        started = time.process_time()
        for n in range(0, step * LOOKUPS, step):
            await self.query(f"SELECT * FROM Bill WHERE DocNumber = 'ONT-{n:06d}'")
        by_number = (time.process_time() - started) * 1000 / LOOKUPS
        started = time.process_time()
        for n in range(LOOKUPS):
            await self.query(f"SELECT * FROM Vendor WHERE DisplayName = 'Bench Supplier {n % VENDORS:04d}'")
        by_name = (time.process_time() - started) * 1000 / LOOKUPS
        return by_number, by_name


async def measure(bills: int, checkpoints: list[int]) -> EmulatorCost:
    """Grow the books to `bills`; at each checkpoint, time one window of creates and the look-ups."""
    books = Books()
    started = time.monotonic()
    windows: list[Window] = []
    try:
        await books.set_up()
        await books.create(WINDOW_BILLS)  # warm-up: first imports, caches, the emulator's first allocations
        for checkpoint in checkpoints:
            if checkpoint > books.bills:
                await books.create(checkpoint - books.bills)
            before = books.bills
            created = time.process_time()
            await books.create(WINDOW_BILLS)
            per_bill = (time.process_time() - created) * 1000 / WINDOW_BILLS
            by_number, by_name = await books.lookups()
            windows.append(Window(before, per_bill, by_number, by_name))
        if books.bills < bills:
            await books.create(bills - books.bills)
    finally:
        await books.aclose()
    return EmulatorCost(books.bills, time.monotonic() - started, windows)


def checkpoints_for(bills: int) -> list[int]:
    """The first window just after the warm-up, then about a third, two thirds and the end of the books."""
    last = max(WINDOW_BILLS * 2, bills - WINDOW_BILLS)
    marks = [WINDOW_BILLS, last // 3, 2 * last // 3, last]
    return sorted({max(WINDOW_BILLS, mark - mark % BATCH_SIZE) for mark in marks})


def measure_emulator_cost(*, bills: int) -> EmulatorCost:
    return asyncio.run(measure(bills, checkpoints_for(bills)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.emulator_cost")
    parser.add_argument("--bills", type=int, default=100_000)
    args = parser.parse_args(argv)
    print(json.dumps(asdict(measure_emulator_cost(bills=args.bills))))


if __name__ == "__main__":
    main()
