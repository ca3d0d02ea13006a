"""The web app's other routes: health, readiness, metrics, the QuickBooks callback, the Ontop webhook, events."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devtools.fake_slack import FakeSlack
from devtools.signing import app_uninstalled_event, tokens_revoked_event
from storage.crypto import SecretBox
from storage.db import create_engine
from tests.slack.conftest import RunningApp, serve, single_workspace_settings
from tests.slack.fakes import WEBHOOK_TOKEN, FakeService


@pytest.fixture
def http(app: RunningApp) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=app.url, timeout=5) as client:
        yield client


def test_healthz_answers_ok(http: httpx.Client) -> None:
    response = http.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_checks_the_database(http: httpx.Client) -> None:
    response = http.get("/readyz")
    assert response.status_code == 200 and response.json()["database"] == "ok"


def test_readyz_is_503_when_the_database_is_unreachable(fake: FakeSlack, tmp_path: Path, box: SecretBox) -> None:
    missing_dir = tmp_path / "no" / "such" / "dir"
    settings = single_workspace_settings(fake, f"sqlite+aiosqlite:///{missing_dir}/db.sqlite3")
    server, _ = serve(settings, FakeService(), create_engine(settings.database_url), box)
    with server, httpx.Client(base_url=server.url) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "unreachable"}


async def test_metrics_count_requests_and_ack_latency(app: RunningApp, slack) -> None:
    await slack.command("help")
    async with httpx.AsyncClient(base_url=app.url) as http:
        await http.get("/healthz")
        text = (await http.get("/metrics")).text
    assert 'qbo_bot_http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in text
    assert 'qbo_bot_slack_ack_seconds_count{kind="command"} 1.0' in text
    assert "qbo_bot_http_request_duration_seconds_bucket" in text


def test_metrics_are_per_app_instance(fake: FakeSlack, tmp_path: Path, box: SecretBox, http: httpx.Client) -> None:
    http.get("/healthz")
    settings = single_workspace_settings(fake, f"sqlite+aiosqlite:///{tmp_path}/other.sqlite3")
    server, _ = serve(settings, FakeService(), create_engine(settings.database_url), box)
    with server, httpx.Client(base_url=server.url) as client:
        assert 'route="/healthz"' not in client.get("/metrics").text


def test_qbo_callback_with_a_bad_state_is_a_friendly_400_without_side_effects(
    app: RunningApp, http: httpx.Client
) -> None:
    response = http.get("/qbo/callback", params={"state": "forged", "code": "c0de", "realmId": "9130"})
    assert response.status_code == 400
    assert "text/html" in response.headers["content-type"]
    assert "expired or was already used" in response.text
    assert app.fake.calls("chat.postMessage") == []


def test_qbo_callback_when_the_user_declined(app: RunningApp, http: httpx.Client) -> None:
    response = http.get("/qbo/callback", params={"error": "access_denied", "state": "s"})
    assert response.status_code == 400
    assert "cancelled" in response.text
    assert app.service.calls("complete_qbo_connect") == []


def test_qbo_callback_with_missing_parts_is_400(app: RunningApp, http: httpx.Client) -> None:
    response = http.get("/qbo/callback", params={"state": "s"})
    assert response.status_code == 400
    assert app.service.calls("complete_qbo_connect") == []


def test_qbo_callback_success_says_go_back_to_slack_and_announces(
    app: RunningApp, connected: FakeService, http: httpx.Client
) -> None:
    state = connected.issue_state("T0001", "U0ANN")
    response = http.get("/qbo/callback", params={"state": state, "code": "c0de", "realmId": "9130"})
    assert response.status_code == 200
    assert "Acme Books LLC is connected" in response.text and "back to Slack" in response.text
    [announcement] = app.fake.messages("C0FIN")
    assert "connected by <@U0ANN>" in announcement["text"]
    again = http.get("/qbo/callback", params={"state": state, "code": "c0de", "realmId": "9130"})
    assert again.status_code == 400  # single use


def test_ontop_webhook_accepts_signed_deliveries_once(app: RunningApp, http: httpx.Client) -> None:
    headers = {"X-Ontop-Signature": "valid"}
    first = http.post(f"/ontop/webhook/{WEBHOOK_TOKEN}", content=b'{"id":"evt-1"}', headers=headers)
    repeat = http.post(f"/ontop/webhook/{WEBHOOK_TOKEN}", content=b'{"id":"evt-1"}', headers=headers)
    assert (first.status_code, first.json()) == (200, {"status": "accepted"})
    assert (repeat.status_code, repeat.json()) == (200, {"status": "duplicate"})


def test_ontop_webhook_rejects_a_bad_token_with_401(app: RunningApp, http: httpx.Client) -> None:
    response = http.post("/ontop/webhook/guess", content=b"{}", headers={"X-Ontop-Signature": "valid"})
    assert response.status_code == 401
    metrics = http.get("/metrics").text
    assert 'route="/ontop/webhook/{token}"' in metrics and "guess" not in metrics  # the token never is a label


def test_install_routes_say_single_workspace_mode_has_nothing_to_install(http: httpx.Client) -> None:
    assert http.get("/slack/install").status_code == 404


async def test_uninstall_makes_the_service_forget_the_workspace(app: RunningApp, slack) -> None:
    response = await slack.event(app_uninstalled_event())
    assert response.status_code == 200
    [call] = app.service.wait_for_call("forget_workspace")
    assert call.team_id == "T0001"


async def test_revoked_bot_token_forgets_the_workspace_but_user_tokens_do_not(app: RunningApp, slack) -> None:
    await slack.event(tokens_revoked_event(oauth=["U0ANN"]))
    await slack.event(tokens_revoked_event(bot=["U0BOT"]))
    calls = app.service.wait_for_call("forget_workspace")
    assert len(calls) == 1 and calls[0].team_id == "T0001"
