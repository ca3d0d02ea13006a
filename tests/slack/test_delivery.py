"""The outbox's Slack side: one top-level message per run, one notifying reply in its thread, someone always hears,
nothing posted twice after a lost answer, and the complete failure list (pages and a CSV) always reachable."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from decimal import Decimal

from sync.api import Fix, FixKind, InvoiceFailure, RunStatus, RunSummary, RunTrigger, WorkspaceSettings
from sync.outbox import RetryLater, Unreachable
from tests.slack.conftest import TEAM, RunningApp
from tests.slack.fakes import FakeService, sample_run

FINANCE = "C0FIN"


def parts(app: RunningApp, channel: str, run_id: int) -> list[tuple[str, dict]]:
    """(part, message) of what the bot posted about a run, read from the messages' metadata."""
    found = []
    for message in app.fake.messages(channel):
        payload = (message.get("metadata") or {}).get("event_payload") or {}
        if payload.get("run_id") == run_id:
            found.append((str(payload.get("part")), message))
    return found


def scheduled(run_id: int, **changes: object) -> RunSummary:
    return replace(sample_run(run_id), trigger=RunTrigger.SCHEDULE, requested_by=None, **changes)  # type: ignore[arg-type]


def many_failures(count: int) -> list[InvoiceFailure]:
    return [
        InvoiceFailure(
            f"inv-{n}",
            f"ONT-{n:04d}",
            f"Worker {n}",
            Decimal("100.00"),
            "USD",
            "Bonus is not mapped to a QuickBooks account",
            Fix(FixKind.MAP_CONCEPT, "bonus"),
            code="unmapped_concept",
        )
        for n in range(count)
    ]


async def test_a_requested_run_turns_its_progress_message_into_the_summary_and_replies_once_in_its_thread(
    app: RunningApp, connected: FakeService
) -> None:
    started = await app.notifier.run_started(TEAM, replace(sample_run(7), finished_at=None))
    assert started is not None

    steps = await app.deliver_run(replace(sample_run(7), progress_message=(started.channel_id, started.ts)))

    assert steps.results == [None] and steps.ts == started.ts  # the progress message became the summary
    top_level = [m for m in app.fake.messages(FINANCE) if "thread_ts" not in m]
    assert len(top_level) == 1 and "#7" in top_level[0]["text"]
    [reply] = [message for part, message in parts(app, FINANCE, 7) if part == "reply"]
    assert reply["thread_ts"] == started.ts and "<@U0ANN>" in reply["text"]
    assert reply.get("reply_broadcast") is True  # something failed: the reply shows in the channel too
    [notified] = app.fake.notifications(FINANCE, thread_ts=started.ts)
    assert notified.ts == reply["ts"]  # the edit notified nobody; the reply does


async def test_a_scheduled_run_with_nothing_to_say_posts_nothing(app: RunningApp, connected: FakeService) -> None:
    quiet = scheduled(8, status=RunStatus.SUCCEEDED, failures=[], bills_created=0, invoices_seen=0, failed=0)
    quiet = replace(quiet, vendors_created=0)

    steps = await app.deliver_run(quiet)

    assert steps.results == [None] and app.fake.messages(FINANCE) == []


async def test_a_scheduled_run_with_an_archived_finance_channel_reaches_the_workspace_admin_by_dm(
    app: RunningApp, connected: FakeService
) -> None:
    app.fake.set_channel(FINANCE, is_archived=True)

    steps = await app.deliver_run(scheduled(9))

    assert steps.results == [None] and steps.fell_back is not None
    [opened] = [call for call in app.fake.calls("conversations.open") if call.error is None]
    assert opened.params["users"] == "U0ANN"  # the app's admin, by real user id: never "system"
    dm = steps.channel_id
    assert dm is not None and dm.startswith("D")
    [summary] = [message for part, message in parts(app, dm, 9) if part == "top"]
    assert "archived" in str(summary["blocks"])  # and it says why it came by DM


async def test_the_installer_hears_when_no_channel_is_set_and_there_is_no_app_admin(
    app: RunningApp, service: FakeService
) -> None:
    service.connect("T0001", finance_channel=None)
    team = service.team("T0001")
    team.settings = WorkspaceSettings(TEAM, None, 6, "UTC", [], False, installer_user_id="U0BOB")

    steps = await app.deliver_run(scheduled(10))

    assert steps.results == [None]
    assert [call.params["users"] for call in app.fake.calls("conversations.open")] == ["U0BOB"]


async def test_when_nobody_can_be_reached_the_delivery_says_so_instead_of_raising(
    app: RunningApp, service: FakeService
) -> None:
    service.connect("T0001", finance_channel=None)
    service.team("T0001").settings = WorkspaceSettings(TEAM, None, 6, "UTC", [], False)
    app.fake.add_user("U0ANN", "ann", is_admin=False)  # a workspace without admins, installer or app admins

    steps = await app.deliver_run(scheduled(11))

    assert isinstance(steps.results[0], Unreachable)
    assert app.fake.calls("conversations.open") == []  # nobody to try: no made-up user id


async def test_a_lost_answer_is_found_in_the_channel_and_never_posted_twice(
    app: RunningApp, connected: FakeService
) -> None:
    app.fake.lose_answer_next("chat.postMessage")  # the summary goes out, its answer does not come back
    steps = await app.deliver_run(scheduled(12))
    assert isinstance(steps.results[0], RetryLater) and steps.ts is None

    await app.deliver_run(scheduled(12), steps=steps)  # the outbox's next attempt

    assert steps.results[-1] is None
    tops = [message for part, message in parts(app, FINANCE, 12) if part == "top"]
    assert len(tops) == 1 and steps.ts == tops[0]["ts"]
    assert len([part for part, _ in parts(app, FINANCE, 12) if part == "reply"]) == 1


async def test_a_lost_reply_is_not_replied_twice(app: RunningApp, connected: FakeService) -> None:
    steps = await app.deliver_run(scheduled(13))
    first_top = steps.ts
    steps.reply_ts = None  # as if the reply's answer had been lost after it went out
    await app.deliver_run(scheduled(13), steps=steps)

    assert steps.ts == first_top
    assert len([part for part, _ in parts(app, FINANCE, 13) if part == "reply"]) == 1


async def test_slacks_rate_limit_asks_the_outbox_to_wait_its_retry_after(
    app: RunningApp, connected: FakeService
) -> None:
    app.fake.rate_limit_next("chat.postMessage", retry_after=1, times=5)  # more than the client retries

    steps = await app.deliver_run(scheduled(14))

    assert isinstance(steps.results[0], RetryLater) and steps.results[0].seconds == 1


async def test_a_revoked_token_is_unreachable_not_retried_forever(app: RunningApp, connected: FakeService) -> None:
    app.fake.fail_next("chat.postMessage", error="token_revoked")

    steps = await app.deliver_run(scheduled(15))

    assert isinstance(steps.results[0], Unreachable)


async def test_two_hundred_failures_are_all_reachable_in_the_thread_and_in_a_csv(
    app: RunningApp, connected: FakeService
) -> None:
    failures = many_failures(200)
    run = replace(sample_run(16, failures=failures[:50]), failed=200)
    connected.add_run("T0001", run, failures)

    steps = await app.deliver_run(run)

    assert steps.results == [None] and steps.file
    assert steps.ts is not None
    listed = " ".join(str(m["blocks"]) for part, m in parts(app, FINANCE, 16) if part.startswith("page-"))
    assert all(f"ONT-{n:04d}" in listed for n in range(200))
    [file] = app.fake.files(FINANCE)
    assert file.content is not None and file.shares[0].thread_ts == steps.ts  # in the run's thread
    rows = list(csv.reader(io.StringIO(file.content.decode())))
    assert len(rows) == 1 + 200  # a header, then every failure


async def test_the_app_home_of_the_admins_is_republished_after_a_run(app: RunningApp, connected: FakeService) -> None:
    await app.deliver_run(scheduled(17))

    home = app.fake.home_view("U0ANN")
    assert home is not None
