"""The web app's other routes: health, readiness, the QuickBooks callback, events; and the metrics, served on their
own (private) port with labels that never take what a request says.

The Ontop webhook is specified against the real service in tests/security/test_webhooks.py.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.metrics import METHODS, SLACK_KINDS, AppMetrics
from bot.pages import CONNECT_COOKIE
from bot.server import build_web_app
from bot.web import create_metrics_app
from devtools.fake_slack import FakeSlack
from devtools.server import BackgroundServer
from devtools.signing import JSON_CONTENT_TYPE, SlackClientSimulator, app_uninstalled_event, tokens_revoked_event
from storage.crypto import SecretBox
from storage.db import create_engine
from tests.slack.conftest import SIGNING_SECRET, RunningApp, serve, single_workspace_settings, stop_later
from tests.slack.fakes import FakeService


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


@dataclass
class Measured:
    """The app as `qbo-bot serve` wires it: the public port, and the metrics port next to it."""

    url: str
    metrics_url: str
    fake: FakeSlack


@pytest.fixture
def measured(
    fake: FakeSlack, service: FakeService, database_path: str, box: SecretBox, shutdowns: list[threading.Thread]
) -> Iterator[Measured]:
    settings = single_workspace_settings(fake, database_path)
    metrics = AppMetrics()
    public = BackgroundServer(
        build_web_app(settings, service, create_engine(settings.database_url), box, metrics=metrics)
    )
    private = BackgroundServer(create_metrics_app(metrics))
    public.start()
    private.start()
    yield Measured(public.url, private.url, fake)
    stop_later(shutdowns, public.stop)
    stop_later(shutdowns, private.stop)


@pytest.fixture
async def measured_slack(measured: Measured) -> AsyncIterator[SlackClientSimulator]:
    async with SlackClientSimulator(measured.url, SIGNING_SECRET, "T0001", "U0ANN", measured.fake) as simulator:
        yield simulator


def series(exposition: str) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    """Every (sample name, labels) in a Prometheus exposition: what grows when a label takes new values."""
    return {
        (sample.name, tuple(sorted(sample.labels.items())))
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def label_values(exposition: str, label: str) -> set[str]:
    return {dict(labels)[label] for _, labels in series(exposition) if label in dict(labels)}


async def test_metrics_count_requests_and_ack_latency(measured: Measured, measured_slack: SlackClientSimulator) -> None:
    await measured_slack.command("help")
    async with httpx.AsyncClient() as http:
        await http.get(f"{measured.url}/healthz")
        text = (await http.get(f"{measured.metrics_url}/metrics")).text
    assert 'qbo_bot_http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in text
    assert 'qbo_bot_slack_ack_seconds_count{kind="command"} 1.0' in text
    assert "qbo_bot_http_request_duration_seconds_bucket" in text


def test_the_public_port_does_not_serve_metrics(measured: Measured) -> None:
    assert httpx.get(f"{measured.url}/metrics").status_code == 404
    assert httpx.get(f"{measured.metrics_url}/metrics").status_code == 200


def test_metrics_are_per_app_instance(
    fake: FakeSlack, tmp_path: Path, box: SecretBox, service: FakeService, measured: Measured
) -> None:
    httpx.get(f"{measured.url}/healthz")
    settings = single_workspace_settings(fake, f"sqlite+aiosqlite:///{tmp_path}/other.sqlite3")
    other = build_web_app(settings, service, create_engine(settings.database_url), box)
    with BackgroundServer(create_metrics_app(other.state.metrics)) as server:
        assert 'route="/healthz"' not in httpx.get(f"{server.url}/metrics").text


async def test_unsigned_requests_whatever_their_type_do_not_grow_the_metrics(measured: Measured) -> None:
    async with httpx.AsyncClient() as http:

        async def unsigned(kind: str) -> None:
            body = f'{{"type": "{kind}", "event": {{"type": "{kind}"}}}}'
            answer = await http.post(f"{measured.url}/slack/events", content=body, headers={"Content-Type": "json"})
            assert answer.status_code == 401

        await unsigned("event_callback")  # the first refusal creates its series
        before = (await http.get(f"{measured.metrics_url}/metrics")).text
        for _ in range(100):
            await unsigned(secrets.token_hex(8))
        after = (await http.get(f"{measured.metrics_url}/metrics")).text

    assert series(after) == series(before), "no new series"
    assert label_values(after, "kind") == set(), "unverified requests are not acknowledgements"


async def test_signed_requests_of_unknown_types_are_acknowledged_under_other(
    measured: Measured, measured_slack: SlackClientSimulator
) -> None:
    for _ in range(5):
        await measured_slack.post(f'{{"type": "{secrets.token_hex(8)}"}}'.encode(), JSON_CONTENT_TYPE)
    await measured_slack.command("help")

    async with httpx.AsyncClient() as http:
        text = (await http.get(f"{measured.metrics_url}/metrics")).text

    assert label_values(text, "kind") == {"other", "command"}
    assert label_values(text, "kind") <= SLACK_KINDS | {"other"}


def test_paths_and_methods_never_become_labels(measured: Measured) -> None:
    with httpx.Client(base_url=measured.url) as http:
        for _ in range(20):
            assert http.get(f"/{secrets.token_hex(8)}").status_code == 404
            assert http.request(secrets.token_hex(4).upper(), "/healthz").status_code == 405
            assert http.post(f"/ontop/webhook/{secrets.token_hex(8)}", content=b"{}").status_code == 401

    text = httpx.get(f"{measured.metrics_url}/metrics").text

    assert label_values(text, "route") == {"other", "/healthz", "/ontop/webhook/{token}"}
    assert label_values(text, "method") <= METHODS | {"other"}
    assert "other" in label_values(text, "method")


def started(app: RunningApp, http: httpx.Client, state: str) -> dict[str, str]:
    """Open the app's /qbo/start for a state, as the connect button does: the cookie it sets, as a header.

    The app's public address is https, so the cookie is Secure; the test hands it back as a browser would."""
    response = http.get("/qbo/start", params={"state": state})
    assert response.status_code == 303 and response.headers["location"].startswith("https://appcenter.intuit.test/")
    return {"Cookie": f"{CONNECT_COOKIE}={response.cookies[CONNECT_COOKIE]}"}


def test_the_start_page_sets_a_secure_cookie_on_an_https_address(connected: FakeService, http: httpx.Client) -> None:
    state = connected.issue_state("T0001", "U0ANN")
    response = http.get("/qbo/start", params={"state": state})
    cookie = response.headers["set-cookie"].lower()
    assert "secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie and "max-age=600" in cookie


def test_qbo_callback_with_a_bad_state_is_a_friendly_400_without_side_effects(
    app: RunningApp, connected: FakeService, http: httpx.Client
) -> None:
    cookie = started(app, http, connected.issue_state("T0001", "U0ANN"))
    # A state the app never issued fails the cookie check first (the cookie is for another state): refused, 403.
    response = http.get("/qbo/callback", params={"state": "forged", "code": "c0de", "realmId": "9130"}, headers=cookie)
    assert response.status_code == 403
    assert "text/html" in response.headers["content-type"] and "/qbo connect" in response.text
    assert app.fake.calls("chat.postMessage") == [] and app.service.calls("complete_qbo_connect") == []


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
    cookie = started(app, http, state)
    response = http.get("/qbo/callback", params={"state": state, "code": "c0de", "realmId": "9130"}, headers=cookie)
    assert response.status_code == 200
    assert "Acme Books LLC is connected" in response.text and "back to Slack" in response.text
    assert (
        response.headers["x-frame-options"] == "DENY"
        and "default-src 'none'" in response.headers["content-security-policy"]
    )
    [announcement] = app.fake.messages("C0FIN")
    assert "connected by <@U0ANN>" in announcement["text"]
    again = http.get("/qbo/callback", params={"state": state, "code": "c0de", "realmId": "9130"}, headers=cookie)
    assert again.status_code == 400  # single use


def test_qbo_callback_without_the_start_cookie_is_refused_403(
    app: RunningApp, connected: FakeService, http: httpx.Client
) -> None:
    state = connected.issue_state("T0001", "U0ANN")
    response = http.get("/qbo/callback", params={"state": state, "code": "c0de", "realmId": "9130"})
    assert response.status_code == 403 and "browser" in response.text
    assert app.service.calls("complete_qbo_connect") == []


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
