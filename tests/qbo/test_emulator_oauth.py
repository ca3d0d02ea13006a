"""Emulator fidelity, OAuth side (reference §1 and checklist items 1-6), checked over raw HTTP."""

from __future__ import annotations

import base64
import re
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from emulators.qbo.state import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
from tests.qbo.conftest import REALM, REDIRECT_URI, Emulator

BASIC = "Basic " + base64.b64encode(f"{DEFAULT_CLIENT_ID}:{DEFAULT_CLIENT_SECRET}".encode()).decode()
TID = re.compile(r"^1-[0-9a-f]{8}-[0-9a-f]{24}$")


def authorize_url(emulator: Emulator, **overrides: str) -> str:
    params = {
        "client_id": DEFAULT_CLIENT_ID,
        "response_type": "code",
        "scope": "com.intuit.quickbooks.accounting",
        "redirect_uri": REDIRECT_URI,
        "state": "st-1",
        **overrides,
    }
    return f"{emulator.url}/connect/oauth2?{urlencode(params)}"


async def get_code(emulator: Emulator, http: httpx.AsyncClient, **overrides: str) -> str:
    response = await http.get(authorize_url(emulator, **overrides))
    return parse_qs(urlsplit(response.headers["location"]).query)["code"][0]


async def token_call(
    emulator: Emulator, http: httpx.AsyncClient, form: dict[str, str], headers: dict[str, str] | None = None
) -> httpx.Response:
    return await http.post(
        f"{emulator.url}/oauth2/v1/tokens/bearer",
        data=form,
        headers={"Authorization": BASIC, "Accept": "application/json", **(headers or {})},
    )


async def test_discovery_documents_point_at_the_emulator(emulator: Emulator, http: httpx.AsyncClient) -> None:
    for name in ("openid_configuration", "openid_sandbox_configuration"):
        document = (await http.get(f"{emulator.url}/.well-known/{name}/")).json()
        assert document["authorization_endpoint"] == f"{emulator.url}/connect/oauth2"
        assert document["token_endpoint"] == f"{emulator.url}/oauth2/v1/tokens/bearer"
        assert document["revocation_endpoint"] == f"{emulator.url}/v2/oauth2/tokens/revoke"
        assert document["token_endpoint_auth_methods_supported"] == ["client_secret_post", "client_secret_basic"]


async def test_authorize_redirects_with_code_same_state_and_realm(emulator: Emulator, http: httpx.AsyncClient) -> None:
    response = await http.get(authorize_url(emulator, state="Xq3v9P0k"))
    assert response.status_code == 302
    params = parse_qs(urlsplit(response.headers["location"]).query)
    assert params["state"] == ["Xq3v9P0k"] and params["realmId"] == [REALM]
    assert 0 < len(params["code"][0]) <= 512


async def test_denied_consent_redirects_with_access_denied(emulator: Emulator, http: httpx.AsyncClient) -> None:
    emulator.state.switches.deny_consent = True
    response = await http.get(authorize_url(emulator))
    params = parse_qs(urlsplit(response.headers["location"]).query)
    assert params == {"error": ["access_denied"], "state": ["st-1"]}


async def test_authorize_refuses_unregistered_redirect_and_missing_scope(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    assert (await http.get(authorize_url(emulator, redirect_uri="https://evil.example/cb"))).status_code == 400
    assert (await http.get(authorize_url(emulator, client_id="nobody"))).status_code == 400
    no_scope = await http.get(authorize_url(emulator, scope="openid"))
    assert parse_qs(urlsplit(no_scope.headers["location"]).query)["error"] == ["invalid_scope"]


async def test_token_endpoint_requires_basic_auth(emulator: Emulator, http: httpx.AsyncClient) -> None:
    code = await get_code(emulator, http)
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
    response = await http.post(f"{emulator.url}/oauth2/v1/tokens/bearer", data=form)
    assert (response.status_code, response.json()) == (401, {"error": "invalid_client"})


async def test_token_response_has_the_reference_fields(emulator: Emulator, http: httpx.AsyncClient) -> None:
    code = await get_code(emulator, http)
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
    response = await token_call(emulator, http, form)
    body = response.json()
    assert response.status_code == 200
    assert set(body) == {"token_type", "access_token", "refresh_token", "expires_in", "x_refresh_token_expires_in"}
    assert body["token_type"] == "bearer" and 3590 <= body["expires_in"] <= 3600
    assert 8726300 <= body["x_refresh_token_expires_in"] <= 8726400
    assert TID.match(response.headers["intuit_tid"])


async def test_hard_expiry_only_with_header_and_id_token_only_with_openid(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    code = await get_code(emulator, http, scope="com.intuit.quickbooks.accounting openid")
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
    body = (await token_call(emulator, http, form, {"x-include-refresh-token-hard-expires-in": "true"})).json()
    assert "x_refresh_token_hard_expires_in" in body and "id_token" in body


async def test_reused_code_is_invalid_grant_and_revokes_its_tokens(emulator: Emulator, http: httpx.AsyncClient) -> None:
    code = await get_code(emulator, http)
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
    first = (await token_call(emulator, http, form)).json()
    second = await token_call(emulator, http, form)
    assert (second.status_code, second.json()) == (400, {"error": "invalid_grant"})
    api = await http.get(emulator.api("preferences"), headers={"Authorization": f"Bearer {first['access_token']}"})
    assert api.status_code == 401


async def test_expired_code_and_mismatched_redirect_are_invalid_grant(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    code = await get_code(emulator, http)
    other = {"grant_type": "authorization_code", "code": code, "redirect_uri": "http://localhost:3000/other"}
    assert (await token_call(emulator, http, other)).json() == {"error": "invalid_grant"}
    code = await get_code(emulator, http)
    emulator.state.advance_clock(601)
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
    assert (await token_call(emulator, http, form)).status_code == 400


async def test_unknown_refresh_token_gives_the_reference_body(emulator: Emulator, http: httpx.AsyncClient) -> None:
    response = await token_call(emulator, http, {"grant_type": "refresh_token", "refresh_token": "nope"})
    assert response.status_code == 400
    assert response.json() == {"error_description": "Incorrect or invalid refresh token", "error": "invalid_grant"}


async def test_superseded_refresh_token_works_within_the_grace_period(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    emulator.state.switches.update({"rotate_after_hours": 0, "superseded_grace_seconds": 3600})
    old = emulator.state.issue_tokens()["refresh_token"]
    await token_call(emulator, http, {"grant_type": "refresh_token", "refresh_token": old})
    assert (await token_call(emulator, http, {"grant_type": "refresh_token", "refresh_token": old})).status_code == 200
    emulator.state.advance_clock(3601)
    assert (await token_call(emulator, http, {"grant_type": "refresh_token", "refresh_token": old})).status_code == 400


async def test_refresh_token_expires_after_its_rolling_lifetime(emulator: Emulator, http: httpx.AsyncClient) -> None:
    refresh = emulator.state.issue_tokens()["refresh_token"]
    emulator.state.advance_clock(8726400 + 1)
    response = await token_call(emulator, http, {"grant_type": "refresh_token", "refresh_token": refresh})
    assert response.json()["error"] == "invalid_grant"


async def test_revoke_returns_empty_200_and_kills_access_and_refresh(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    tokens = emulator.state.issue_tokens()
    response = await http.post(
        f"{emulator.url}/v2/oauth2/tokens/revoke",
        json={"token": tokens["access_token"]},
        headers={"Authorization": BASIC, "Accept": "application/json"},
    )
    assert (response.status_code, response.content) == (200, b"")
    refresh = await token_call(
        emulator, http, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    assert refresh.status_code == 400
