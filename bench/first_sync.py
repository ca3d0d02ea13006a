"""First sync of a realistic company: minutes from the admin finishing setup in Slack to the run's summary message
(every bill booked), and to the summary of the run that follows it (payments, fee bills and PDFs too).

The whole product runs (web app, embedded worker, fake Slack) with the QBO and Ontop emulators in their own
processes; QBO enforces its published limits (scaled when `time_scale` < 1, then the time is extrapolated).
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from typing import Any

from bench.emulators import ontop_process, qbo_audit, qbo_entities, qbo_process, qbo_stats
from bench.slack_flow import (
    connect,
    map_everything,
    summary_posted,
    summary_run_ids,
    summary_text_of,
    wait_until,
    without_review_gate,
)
from devtools.stack import ADMIN_USER, LocalStack, StackOptions


@dataclass(frozen=True)
class FirstSyncResult:
    workers: int
    invoices: int
    months: int
    time_scale: float
    seconds: float  # from the mapping being saved (the first sync is queued then) to the summary message
    seconds_from_connect: float  # from the connect modal's submission (QBO and Ontop connected) to the summary
    summary: str
    qbo_requests: int
    throttled: int
    # Everything done: the summary of the run that finishes what the first one left (the first one's when it left
    # nothing), and what QuickBooks holds then.
    seconds_to_everything: float = 0.0
    follow_up_summary: str = ""
    bills: int = 0  # the contractors' bills and vendor credits
    fee_bills: int = 0
    payments: int = 0
    uploads: int = 0  # PDFs attached
    vendors: int = 0  # suppliers the sync created
    vendor_calls: int = 0  # the requests that created them (a batch call counted once)

    @property
    def minutes_at_real_limits(self) -> float:
        """Measured minutes, or at a time scale the measured time divided by it (an upper bound: only the
        rate-limited waiting shrinks with the scale, the bot's own work does not)."""
        return self.seconds / 60 / self.time_scale

    @property
    def minutes_to_everything(self) -> float:
        return self.seconds_to_everything / 60 / self.time_scale

    @property
    def batch_calls(self) -> int:
        """Full batch calls the documents need: bills, fee bills and payments, 30 to a call."""
        return sum(math.ceil(count / BATCH_ITEMS) for count in (self.bills, self.fee_bills, self.payments))

    @property
    def requests(self) -> int:
        """Every write of the sync: the documents' full batch calls, one request per upload, and the requests that
        created its suppliers."""
        return self.batch_calls + self.uploads + self.vendor_calls

    @property
    def minimum_minutes(self) -> float:
        """The least time QBO's limits allow for this request mix: the larger of the batch items at 40 calls × 30
        a minute, and the writes at the client's 450 requests a minute (reads, a few dozen, are left out)."""
        items = self.bills + self.fee_bills + self.payments
        return max(items / (BATCH_CALLS_PER_MINUTE * BATCH_ITEMS), self.requests / REQUESTS_PER_MINUTE)

    @property
    def share_of_ceiling(self) -> float:
        return self.minimum_minutes / self.minutes_to_everything if self.minutes_to_everything else 0.0


BATCH_ITEMS = 30
BATCH_CALLS_PER_MINUTE = 40
REQUESTS_PER_MINUTE = 450  # the client's budget (QBO allows 500)


def requests_of(writes: list[dict[str, Any]]) -> int:
    """How many requests made these writes: the items of a batch call share its requestid; a write without one was
    a request of its own."""
    return len({write["request_id"] for write in writes if write["request_id"]}) + sum(
        1 for write in writes if not write["request_id"]
    )


def measure_first_sync(
    *, workers: int = 200, invoices: int = 2400, months: int = 12, time_scale: float = 1.0
) -> FirstSyncResult:
    with (
        qbo_process(time_scale=time_scale, multicurrency=False) as qbo,
        ontop_process(workers=workers, invoices=invoices, months=months, pdfs=True) as ontop,
        LocalStack(
            StackOptions(
                workers=workers,
                invoices=invoices,
                months=months,
                time_scale=time_scale,
                qbo_url=qbo.url,
                ontop_url=ontop.url,
            )
        ) as stack,
    ):

        async def run() -> FirstSyncResult:
            async with stack.slack(ADMIN_USER) as slack:
                await connect(stack, slack)
                await without_review_gate(stack)
                connected_at = time.monotonic()
                mapped_at = await map_everything(stack, slack)
                # Generous: 200 workers' first sync at real limits takes minutes; 30 min means something is stuck.
                await wait_until(lambda: summary_posted(stack), "the first sync's summary", timeout_seconds=1800)
                finished_at = time.monotonic()
                first_run = summary_run_ids(stack)[0]
                everything_at, follow_up = finished_at, ""
                if "on their way" in summary_text_of(stack, first_run):  # a follow-up run finishes the rest
                    await wait_until(
                        lambda: len(summary_run_ids(stack)) > 1, "the follow-up run's summary", timeout_seconds=1800
                    )
                    everything_at = time.monotonic()
                    follow_up = summary_text_of(stack, summary_run_ids(stack)[1])
            stats = qbo_stats(qbo.url)
            vendor_creates = [
                write for write in qbo_audit(qbo.url) if (write["operation"], write["entity"]) == ("create", "Vendor")
            ]
            bills = qbo_entities(qbo.url, "Bill")
            fee_bills = sum(1 for bill in bills if str(bill.get("DocNumber", "")).endswith("-F"))
            return FirstSyncResult(
                workers=workers,
                invoices=invoices,
                months=months,
                time_scale=time_scale,
                seconds=finished_at - mapped_at,
                seconds_from_connect=finished_at - connected_at,
                summary=summary_text_of(stack, first_run),
                qbo_requests=sum(stats["requests"].values()),
                throttled=int(stats["throttled"]),
                seconds_to_everything=everything_at - mapped_at,
                follow_up_summary=follow_up,
                bills=len(bills) - fee_bills + len(qbo_entities(qbo.url, "VendorCredit")),
                fee_bills=fee_bills,
                payments=len(qbo_entities(qbo.url, "BillPayment")),
                uploads=len(qbo_entities(qbo.url, "Attachable")),
                vendors=len(vendor_creates),
                vendor_calls=requests_of(vendor_creates),
            )

        return asyncio.run(run())
