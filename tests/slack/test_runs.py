"""A run's drill-down (`/qbo run N`, *Details* on every summary), its CSV in the person's DMs, `/qbo history` and the
latest runs on the App Home."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from typing import Any

from handlers import run_messages
from handlers.ids import FixIds, RunIds
from handlers.views.home import home_view
from handlers.views.runs import history_message, run_details_view
from sync.api import QboLinks, ReviewRef, ReviewState, RunDetails
from tests.slack.conftest import TEAM, RunningApp
from tests.slack.fakes import FakeService, sample_ledger_rows, sample_run
from tests.slack.test_blocks import assert_valid_message
from tests.slack.test_summaries import post

LINKS = QboLinks("https://app.sandbox.qbo.intuit.com")


def texts(thing: dict[str, Any]) -> str:
    return json.dumps(thing.get("blocks", []), ensure_ascii=False)


def test_every_summary_has_a_details_button_for_its_run() -> None:
    message = run_messages.run_summary_message(sample_run(7))

    accessory = message.blocks[0]["accessory"]
    assert (accessory["action_id"], accessory["value"], accessory["text"]["text"]) == (RunIds.DETAILS, "7", "Details")


def test_a_run_that_made_a_review_says_nothing_was_posted_and_waits_for_approval() -> None:
    run = replace(sample_run(7, failures=[]), bills_created=0, review=ReviewRef(3, ReviewState.PENDING, 55, True))

    message = run_messages.run_summary_message(run)

    assert "*55 bills in review #3* (waiting for approval): nothing was posted" in texts({"blocks": message.blocks})
    assert message.text.endswith("(55 bills waiting for approval)")


def test_the_drill_down_lists_invoices_by_outcome_with_fixes_and_bill_links() -> None:
    run = sample_run(7)

    view = run_details_view(RunDetails(run, sample_ledger_rows(run)), 0, LINKS)

    body = texts(view)
    assert body.index("*Needs a fix* (3)") < body.index("*Created* (10)")  # what needs a person first
    assert "<https://app.sandbox.qbo.intuit.com/app/bill?txnId=500|bill 500>" in body
    accessories = [(b["accessory"]["action_id"], b["accessory"]["value"]) for b in view["blocks"] if "accessory" in b]
    assert (FixIds.MAP, "bonus") in accessories and (FixIds.RETRY, "inv-3") in accessories
    buttons = [e["action_id"] for b in view["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert buttons == [RunIds.CSV]
    assert len(view["blocks"]) <= 100


def test_a_long_run_is_paged() -> None:
    run = replace(sample_run(7), bills_created=95)

    first = run_details_view(RunDetails(run, sample_ledger_rows(run)), 0, LINKS)
    last = run_details_view(RunDetails(run, sample_ledger_rows(run)), 2, LINKS)

    assert all(len(view["blocks"]) <= 100 for view in (first, last))
    assert "Page 1 of 3" in texts(first) and "Page 3 of 3" in texts(last)
    assert json.loads(last["private_metadata"]) == {"run_id": 7, "page": 2}


async def test_details_on_a_summary_opens_the_runs_invoices(app: RunningApp, connected: FakeService, slack) -> None:
    ts = await post(app, run_messages.run_summary_message(sample_run(7)))

    await slack.click_message_button("C0FIN", ts, RunIds.DETAILS)

    app.fake.recorder.wait_for("views.update")
    view = app.fake.last_view(RunIds.CALLBACK)
    assert view is not None and "ONT-9000" in texts(view) and "Needs a fix" in texts(view)
    [call] = connected.calls("run_details")
    assert call.team_id == "T0001" and call.args == {"run_id": 7}


async def test_qbo_run_n_opens_the_same_modal_and_refuses_people_who_are_not_admins(
    app: RunningApp, connected: FakeService, slack
) -> None:
    await slack.command("run 7")
    app.fake.recorder.wait_for("views.update")
    assert app.fake.last_view(RunIds.CALLBACK) is not None

    await slack.as_user("U0BOB").command("run 7")

    app.fake.recorder.wait_for("views.update", 2)
    refused = app.fake.last_view(user_id="U0BOB")
    assert refused is not None and "only workspace admins" in texts(refused)
    assert len(connected.calls("run_details")) == 1


async def test_download_csv_puts_the_file_in_the_persons_direct_messages(
    app: RunningApp, connected: FakeService, slack
) -> None:
    await slack.command("run 7")
    app.fake.recorder.wait_for("views.update")
    view = app.fake.last_view(RunIds.CALLBACK)
    assert view is not None

    await slack.click_view_element(view["id"], RunIds.CSV)

    app.fake.recorder.wait_for("files.completeUploadExternal")
    [opened] = app.fake.calls("conversations.open")
    assert opened.params["users"] == "U0ANN"
    [uploaded] = app.fake.files()
    assert uploaded.filename == "qbo-sync-7.csv"
    expected = await connected.run_ledger_csv(TEAM, 7, LINKS)
    assert uploaded.content is not None and uploaded.content.decode() == expected
    [call] = [c for c in connected.calls("run_ledger_csv") if c.args["links"] is not None][:1]
    assert call.args["links"] == LINKS  # the bills' links point at the company's QuickBooks


async def test_history_lists_the_latest_runs_with_trigger_who_counts_usd_and_duration(
    app: RunningApp, connected: FakeService, slack
) -> None:
    connected.add_run("T0001", sample_run(7))
    connected.add_run("T0001", replace(sample_run(8), usd_booked=Decimal("12345.67")))

    await slack.command("history")

    app.fake.recorder.wait_for("response_url")
    [reply] = app.fake.ephemerals(user_id="U0ANN")
    body = texts(reply)
    line = next(text for text in body.split("\\n") if "*#8*" in text)
    assert "manual sync" in line and "by <@U0ANN>" in line and "10 bills, 3 need a fix" in line
    assert "12,345.67 USD" in line and "1m 05s" in line
    assert body.index("*#8*") < body.index("*#7*")  # newest first


def test_history_is_valid_for_twenty_runs() -> None:
    runs = [replace(sample_run(n), usd_booked=Decimal("1000000.00")) for n in range(20, 0, -1)]

    message = history_message(runs)

    assert_valid_message(message)
    assert message.text == "The last 20 syncs"


async def test_the_app_home_shows_the_latest_runs(connected: FakeService) -> None:
    status = await connected.status(TEAM)
    assert status is not None

    home = home_view([replace(status, recent_runs=[sample_run(7), sample_run(6)])], status.settings)

    body = texts(home)
    assert "*Recent syncs*" in body and "*#7*" in body and "*#6*" in body
