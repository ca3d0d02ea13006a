"""Ack first, slow work after; Web API retries; errors reach the user with a reference, never a stack trace."""

from __future__ import annotations

import threading

from handlers.ids import MappingIds
from tests.slack.conftest import RunningApp
from tests.slack.fakes import FakeService


async def test_modal_opens_a_loading_view_before_the_slow_service_answers(
    app: RunningApp, connected: FakeService, slack
) -> None:
    gate = connected.gates.setdefault("mapping_rows", threading.Event())
    response = await slack.command("map")
    assert response.status_code == 200
    connected.wait_for_call("mapping_rows")
    [opened] = app.fake.recorder.wait_for("views.open")
    assert opened.error is None  # the trigger_id was used while it was fresh
    assert opened.params["view"]["callback_id"] == "loading-view"
    assert app.fake.calls("views.update") == []
    gate.set()
    app.fake.recorder.wait_for("views.update")
    assert app.fake.last_view(MappingIds.CALLBACK) is not None


async def test_rate_limited_web_api_call_is_retried_after_retry_after(
    app: RunningApp, connected: FakeService, slack
) -> None:
    app.fake.rate_limit_next("views.update", retry_after=1)
    await slack.command("map")
    updates = app.fake.recorder.wait_for("views.update", 2, timeout_seconds=5)
    assert [call.status for call in updates] == [429, 200]
    assert app.fake.last_view(MappingIds.CALLBACK) is not None


async def test_unexpected_error_tells_the_user_a_reference_and_no_details(
    app: RunningApp, connected: FakeService, slack
) -> None:
    connected.failures["status"] = RuntimeError("database password=hunter2 leaked?")
    response = await slack.command("status")
    assert response.status_code == 200
    app.fake.recorder.wait_for("response_url")
    [reply] = app.fake.ephemerals(user_id="U0ANN")
    assert "Something went wrong on my side (reference `" in reply["text"]
    assert "hunter2" not in reply["text"]


async def test_service_error_is_shown_as_its_message(app: RunningApp, connected: FakeService, slack) -> None:
    from sync.api import NeedsReauthError

    connected.failures["request_sync"] = NeedsReauthError("QuickBooks needs to be reconnected: run `/qbo connect`.")
    await slack.command("sync")
    app.fake.recorder.wait_for("response_url")
    [reply] = app.fake.ephemerals(user_id="U0ANN")
    assert "QuickBooks needs to be reconnected" in reply["text"]


async def test_submission_is_acked_with_a_saving_view_before_the_save_finishes(
    app: RunningApp, connected: FakeService, slack
) -> None:
    from devtools.signing import selected_option_state

    await slack.command("map")
    app.fake.recorder.wait_for("views.update")
    view = app.fake.last_view(MappingIds.CALLBACK)
    assert view is not None
    gate = connected.gates.setdefault("save_mappings", threading.Event())
    values = {"concept:bonus": {MappingIds.ACCOUNT: selected_option_state("60110", "Contractors:Bonuses")}}
    response = await slack.submit_view(view["id"], values)
    body = response.json()
    assert body["response_action"] == "update" and "Saving" in str(body["view"]["blocks"])
    connected.wait_for_call("save_mappings")  # still blocked on the gate: the ack did not wait for it
    assert connected.team("T0001").mapping.get("bonus") is None
    gate.set()
    app.fake.recorder.wait_for("views.update", 2)
    assert connected.team("T0001").mapping["bonus"] == "60110"
