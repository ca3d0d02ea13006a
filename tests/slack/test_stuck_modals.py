"""No modal is left on "Loading…" or "Saving…": whatever fails after it opened, the person sees a reference.

The reference in the modal is the one logged with the traceback; the exception's text never reaches Slack.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from devtools.signing import plain_text_state, selected_option_state
from handlers import run_messages
from handlers.errors import reported
from handlers.ids import FixIds, HomeIds, MappingIds, SettingsIds
from tests.slack.conftest import BOT_TOKEN, RunningApp
from tests.slack.fakes import FakeService, sample_run

SECRET_DETAIL = "boom: database password=hunter2"


@pytest.fixture
def logs() -> Iterator[list[dict[str, Any]]]:
    """structlog's events, from the server's thread too (the capture replaces the process-wide processors)."""
    with structlog.testing.capture_logs() as captured:
        yield captured


def reference_in(view: dict[str, Any]) -> str:
    text = json.dumps(view["blocks"], ensure_ascii=False)
    assert "Something went wrong on my side" in text
    assert "boom" not in text and "hunter2" not in text and "RuntimeError" not in text
    found = re.search(r"reference `([0-9a-f]{8})`", text)
    assert found is not None, text
    return found.group(1)


def logged(logs: list[dict[str, Any]], reference: str) -> dict[str, Any]:
    [entry] = [e for e in logs if e.get("reference") == reference and e["event"] == "listener_failed"]
    assert entry["log_level"] == "error"
    assert isinstance(entry["exc_info"], RuntimeError)  # the traceback goes to the log, with the same reference
    return entry


def error_view_after(app: RunningApp, updates: int) -> dict[str, Any]:
    """The result view that replaced the loading (or saving) view, after `updates` views.update calls."""
    app.fake.recorder.wait_for("views.update", updates)
    view = app.fake.last_view("result-view")
    assert view is not None, [c.params.get("view", {}).get("callback_id") for c in app.fake.calls("views.update")]
    return view


async def test_a_slash_command_modal_whose_service_call_crashes_shows_a_reference(
    app: RunningApp, connected: FakeService, slack, logs: list[dict[str, Any]]
) -> None:
    connected.failures["mapping_rows"] = RuntimeError(SECRET_DETAIL)
    await slack.command("map")
    [opened] = app.fake.recorder.wait_for("views.open")
    assert opened.params["view"]["callback_id"] == "loading-view"
    view = error_view_after(app, 1)
    [update] = app.fake.calls("views.update")
    assert update.params["view_id"] == view["id"]  # the loading view itself was replaced, no second modal
    assert len(app.fake.calls("views.open")) == 1
    logged(logs, reference_in(view))
    assert app.fake.ephemerals(user_id="U0ANN") == []  # one answer, in the modal


async def test_a_crash_in_the_admin_check_still_replaces_the_loading_view(
    app: RunningApp, connected: FakeService, slack, logs: list[dict[str, Any]]
) -> None:
    connected.failures["workspace_settings"] = RuntimeError(SECRET_DETAIL)  # read by the admin check
    await slack.command("settings")
    logged(logs, reference_in(error_view_after(app, 1)))


async def test_a_home_button_whose_service_call_crashes_shows_a_reference(
    app: RunningApp, connected: FakeService, slack, logs: list[dict[str, Any]]
) -> None:
    await slack.open_home()
    app.fake.recorder.wait_for("views.publish")
    home = app.fake.home_view("U0ANN")
    assert home is not None
    connected.failures["vendor_preview"] = RuntimeError(SECRET_DETAIL)
    await slack.click_view_element(home["id"], HomeIds.VENDORS)
    logged(logs, reference_in(error_view_after(app, 1)))


async def test_a_fix_button_whose_service_call_crashes_shows_a_reference(
    app: RunningApp, connected: FakeService, slack, logs: list[dict[str, Any]]
) -> None:
    message = run_messages.run_summary_message(sample_run())
    client = AsyncWebClient(token=BOT_TOKEN, base_url=app.fake.api_url)
    posted = await client.chat_postMessage(channel="C0FIN", **message.as_kwargs())
    connected.failures["retry_invoice"] = RuntimeError(SECRET_DETAIL)
    await slack.click_message_button("C0FIN", str(posted["ts"]), FixIds.RETRY)
    logged(logs, reference_in(error_view_after(app, 1)))
    assert connected.calls("retry_invoice")[0].args["invoice_id"] == "inv-3"


async def test_a_mapping_save_that_crashes_replaces_the_saving_view(
    app: RunningApp, connected: FakeService, slack, logs: list[dict[str, Any]]
) -> None:
    await slack.command("map")
    app.fake.recorder.wait_for("views.update")
    form = app.fake.last_view(MappingIds.CALLBACK)
    assert form is not None
    connected.failures["save_mappings"] = RuntimeError(SECRET_DETAIL)
    values = {"concept:bonus": {MappingIds.ACCOUNT: selected_option_state("60110", "Contractors:Bonuses")}}
    response = await slack.submit_view(form["id"], values)
    assert "Saving" in json.dumps(response.json()["view"])  # the ack showed the saving view
    view = error_view_after(app, 2)
    assert view["id"] == form["id"]
    logged(logs, reference_in(view))


async def test_a_settings_save_that_crashes_replaces_the_saving_view(
    app: RunningApp, connected: FakeService, slack, logs: list[dict[str, Any]]
) -> None:
    await slack.command("settings")
    app.fake.recorder.wait_for("views.update")
    form = app.fake.last_view(SettingsIds.CALLBACK)
    assert form is not None
    connected.failures["update_settings"] = RuntimeError(SECRET_DETAIL)
    values = {
        SettingsIds.HOUR_BLOCK: {SettingsIds.HOUR: selected_option_state("7", "07:00", element_type="static_select")},
        SettingsIds.TIMEZONE_BLOCK: {SettingsIds.TIMEZONE: plain_text_state("Europe/Madrid")},
    }
    await slack.submit_view(form["id"], values)
    logged(logs, reference_in(error_view_after(app, 2)))


async def test_a_service_error_after_the_saving_view_shows_its_message_not_a_reference(
    app: RunningApp, connected: FakeService, slack
) -> None:
    from sync.api import ServiceError

    await slack.command("settings")
    app.fake.recorder.wait_for("views.update")
    form = app.fake.last_view(SettingsIds.CALLBACK)
    assert form is not None
    connected.failures["update_settings"] = ServiceError("The sync hour must be between 0 and 23.")
    values = {
        SettingsIds.HOUR_BLOCK: {SettingsIds.HOUR: selected_option_state("7", "07:00", element_type="static_select")},
        SettingsIds.TIMEZONE_BLOCK: {SettingsIds.TIMEZONE: plain_text_state("Europe/Madrid")},
    }
    await slack.submit_view(form["id"], values)
    view = error_view_after(app, 2)
    assert "The sync hour must be between 0 and 23." in json.dumps(view["blocks"])


async def test_a_slow_crash_still_ends_the_loading_view(
    app: RunningApp, connected: FakeService, slack, logs: list[dict[str, Any]]
) -> None:
    gate = connected.gates.setdefault("vendor_preview", threading.Event())
    connected.failures["vendor_preview"] = RuntimeError(SECRET_DETAIL)
    await slack.command("vendors")
    connected.wait_for_call("vendor_preview")
    assert app.fake.calls("views.update") == []  # still loading while the service works
    gate.set()
    logged(logs, reference_in(error_view_after(app, 1)))


async def test_a_submission_that_fails_before_its_ack_answers_with_the_reference_in_the_ack(
    logs: list[dict[str, Any]],
) -> None:
    async def listener(ack: AsyncAck, body: dict[str, Any]) -> None:
        raise RuntimeError(SECRET_DETAIL)

    ack = AsyncAck()
    body = {"type": "view_submission", "view": {"id": "V1", "title": {"type": "plain_text", "text": "Settings"}}}
    await reported(listener)(ack=ack, body=body)
    assert ack.response is not None
    answer = json.loads(ack.response.body)
    assert answer["response_action"] == "update"
    logged(logs, reference_in(answer["view"]))
