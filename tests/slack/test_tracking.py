"""`/qbo tracking` over real HTTP: a class per concept, a class and a location per worker, typeahead selects from the
service's cache; how to turn tracking on when the company has it off; the fix button of a refused class."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from typing import Any

from devtools.signing import selected_option_state
from handlers.ids import FixIds, TrackingIds
from handlers.run_messages import fix_button
from sync.api import Fix, FixKind, InvoiceFailure, ServiceError
from tests.slack.conftest import RunningApp
from tests.slack.fakes import CLASSES, LOCATIONS, FakeService, default_tracking, sample_run
from tests.slack.test_modals import open_modal, texts, wait_view
from tests.slack.test_notifications import post_summary

CONCEPT = f"{TrackingIds.CONCEPT_PREFIX}BONUS"
ANA_CLASS = f"{TrackingIds.WORKER_CLASS_PREFIX}agr-1"
ANA_LOCATION = f"{TrackingIds.WORKER_LOCATION_PREFIX}agr-1"
BEN_CLASS = f"{TrackingIds.WORKER_CLASS_PREFIX}agr-2"
BEN_LOCATION = f"{TrackingIds.WORKER_LOCATION_PREFIX}agr-2"


def inputs(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {block["block_id"]: block for block in view["blocks"] if block["type"] == "input"}


def empty() -> dict[str, Any]:
    return {"type": "external_select", "selected_option": None}


async def test_tracking_shows_a_class_per_concept_and_a_class_and_location_per_worker(
    app: RunningApp, connected: FakeService, slack
) -> None:
    view = await open_modal(app, slack, "tracking", TrackingIds.CALLBACK)
    shown = inputs(view)
    assert list(shown) == [CONCEPT, ANA_CLASS, ANA_LOCATION, BEN_CLASS, BEN_LOCATION]
    assert all(block["optional"] and block["element"]["type"] == "external_select" for block in shown.values())
    assert shown[ANA_CLASS]["element"]["action_id"] == TrackingIds.CLASS
    assert shown[ANA_LOCATION]["element"]["action_id"] == TrackingIds.LOCATION
    assert shown[ANA_CLASS]["element"]["initial_option"]["text"]["text"] == "Engineering"
    assert "initial_option" not in shown[BEN_CLASS]["element"]
    assert view["submit"]["text"] == "Save"


async def test_class_and_location_options_are_searched_in_the_cache_and_answered_in_the_ack(
    app: RunningApp, connected: FakeService, slack
) -> None:
    view = await open_modal(app, slack, "tracking", TrackingIds.CALLBACK)
    classes = await slack.suggest(view["id"], BEN_CLASS, TrackingIds.CLASS, "eng")
    assert classes.json() == {
        "options": [{"text": {"type": "plain_text", "text": "Engineering"}, "value": CLASSES[0].account_id}]
    }
    locations = await slack.suggest(view["id"], BEN_LOCATION, TrackingIds.LOCATION, "")
    assert [option["value"] for option in locations.json()["options"]] == [option.account_id for option in LOCATIONS]
    assert [(call.args["kind"], call.args["search"]) for call in connected.calls("tracking_options")] == [
        ("class", "eng"),
        ("location", ""),
    ]


async def test_saving_sends_every_shown_choice_an_empty_one_as_none_and_shows_the_result(
    app: RunningApp, connected: FakeService, slack
) -> None:
    view = await open_modal(app, slack, "tracking", TrackingIds.CALLBACK)
    values = {
        CONCEPT: {TrackingIds.CLASS: selected_option_state(CLASSES[1].account_id, "Sales")},
        ANA_CLASS: {TrackingIds.CLASS: empty()},
        ANA_LOCATION: {TrackingIds.LOCATION: selected_option_state(LOCATIONS[1].account_id, "Europe")},
        BEN_CLASS: {TrackingIds.CLASS: empty()},
        BEN_LOCATION: {TrackingIds.LOCATION: empty()},
    }
    response = await slack.submit_view(view["id"], values)
    assert response.json()["response_action"] == "update"
    result = wait_view(app, "result-view", updates=2)
    [call] = connected.calls("save_tracking")
    choice = call.args["choice"]
    assert choice.concept_classes == {"BONUS": CLASSES[1].account_id}
    assert choice.worker_classes == {"agr-1": None, "agr-2": None}
    assert choice.worker_locations == {"agr-1": LOCATIONS[1].account_id, "agr-2": None}
    # Names from Ontop are escaped in mrkdwn: "Ana *Gómez*" stays a name, a "<!channel>" would stay text.
    assert "Ana *Gómez*: Europe" in texts(result) and "Bonus: Sales" in texts(result)


async def test_a_class_quickbooks_no_longer_has_is_said_under_its_field(
    app: RunningApp, connected: FakeService, slack
) -> None:
    connected.failures["save_tracking"] = ServiceError("That class is no longer active.", field="worker-class:agr-2")
    view = await open_modal(app, slack, "tracking", TrackingIds.CALLBACK)
    await slack.submit_view(view["id"], {BEN_CLASS: {TrackingIds.CLASS: selected_option_state("gone", "Gone")}})
    again = wait_view(app, TrackingIds.CALLBACK, updates=2)
    blocks = again["blocks"]
    index = next(i for i, block in enumerate(blocks) if block.get("block_id") == BEN_CLASS)
    assert "no longer active" in json.dumps(blocks[index + 1])


async def test_a_company_without_tracking_is_told_how_to_turn_it_on(
    app: RunningApp, connected: FakeService, slack
) -> None:
    connected.set_tracking("T0001", replace(default_tracking(on=False), company_name="<!channel> Co"))
    view = await open_modal(app, slack, "tracking", TrackingIds.CALLBACK)
    assert "Settings → Account and settings → Advanced → Categories" in texts(view)
    assert "&lt;!channel&gt; Co" in texts(view) and "<!channel>" not in texts(view)
    assert inputs(view) == {} and not view.get("submit")


async def test_tracking_for_a_non_admin_shows_a_polite_refusal(app: RunningApp, connected: FakeService, slack) -> None:
    await slack.as_user("U0BOB").command("tracking")
    view = wait_view(app, "result-view")
    assert "only workspace admins" in texts(view)
    assert connected.calls("tracking_view") == []


def test_a_refused_class_offers_a_button_that_opens_the_tracking_modal() -> None:
    button = fix_button(Fix(FixKind.TRACKING, "class"))
    assert (button["action_id"], button["text"]["text"], button["value"]) == (
        FixIds.TRACKING,
        "Choose another class",
        "class",
    )


async def test_a_class_quickbooks_refused_gets_a_button_in_the_summary_that_opens_the_tracking_modal(
    app: RunningApp, connected: FakeService, slack
) -> None:
    refused = InvoiceFailure(
        "inv-9",
        "ONT-1009",
        "Ana Gómez",
        Decimal("100.00"),
        "USD",
        "QuickBooks refused the bill's class (id 5000000000000010001): it is inactive or deleted in QuickBooks.",
        Fix(FixKind.TRACKING, "class"),
        code="tracking_refused",
    )
    ref = await post_summary(app, sample_run(failures=[refused]))
    message = app.fake.message("C0FIN", ref.ts)
    assert message is not None and "Choose another class" in json.dumps(message["blocks"], ensure_ascii=False)
    await slack.click_message_button("C0FIN", ref.ts, FixIds.TRACKING)
    view = wait_view(app, TrackingIds.CALLBACK)
    assert ANA_CLASS in inputs(view)
