"""The progress message shows real progress: done of the total Ontop announced, or a count when it cannot say."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from devtools.fake_slack import FakeSlack
from devtools.stack import FINANCE_CHANNEL, LocalStack, StackOptions
from handlers.notify import MessageRef, SlackNotifier
from sync.api import TeamRef
from tests.reliability.support import Driver
from tests.slack.fakes import FakeService

PROGRESS = re.compile(r"QuickBooks sync #(\d+): (\d+)/(\d+) invoices \((\d+)%\)")


@pytest.fixture
def stack() -> Iterator[LocalStack]:
    options = StackOptions(workers=8, invoices=30, months=2, time_scale=0.01, worker_poll_seconds=0.05)
    with LocalStack(options) as started:
        yield started


@pytest.fixture
async def driver(stack: LocalStack) -> AsyncIterator[Driver]:
    built = Driver(stack)
    yield built
    await built.aclose()


async def test_a_run_reports_how_many_of_the_invoices_to_read_it_has_done(driver: Driver, stack: LocalStack) -> None:
    await driver.connect()
    await driver.wait_for_runs_to_settle()
    ontop = stack.ontop_state
    assert ontop is not None
    to_read = len(list(ontop.generator.invoice_rows(ontop.now)))  # the backfill date is the history's first day

    updates = [
        PROGRESS.match(call.params.get("text") or "")
        for call in stack.fake_slack.calls("chat.update")
        if call.params.get("channel") == FINANCE_CHANNEL
    ]
    progress = [(int(m[2]), int(m[3]), int(m[4])) for m in updates if m is not None]

    assert progress, "the worker's executor reported progress through the notifier"
    assert all(total == to_read for _, total, _ in progress)  # the total Ontop announced, not the count so far
    assert any(done < total for done, total, _ in progress)  # so the first update is not "N/N (100%)"
    assert all(percent == round(100 * done / total) for done, total, percent in progress)


async def test_without_a_known_total_progress_is_a_count_without_a_percentage() -> None:
    team = TeamRef("T0001")
    with FakeSlack(bot_token="xoxb-test") as fake:
        client = AsyncWebClient(token="xoxb-test", base_url=fake.api_url)

        async def client_for(_: TeamRef) -> AsyncWebClient:
            return client

        posted = await client.chat_postMessage(channel=FINANCE_CHANNEL, text="QuickBooks sync #7 started")
        notifier = SlackNotifier(client_for, FakeService())
        await notifier.run_progress(MessageRef(team, FINANCE_CHANNEL, posted["ts"]), 7, 12, None)
        [update] = fake.calls("chat.update")

    assert update.params["text"] == "QuickBooks sync #7: 12 invoices read"
    assert "%" not in str(update.params["blocks"])
