"""OAuth with the emulator over HTTP: consent redirect, code exchange, refresh rotation, invalid_grant, revoke."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from sync.qbo.auth import ACCOUNTING_SCOPE, QboEndpoints, QboOAuth, QboTokens
from sync.qbo.client import MemoryTokenSource
from sync.qbo.errors import QboAuthError, QboInvalidGrant
from tests.qbo.conftest import REALM, REDIRECT_URI, Emulator, make_client


async def consent(http: httpx.AsyncClient, oauth: QboOAuth, state: str) -> dict[str, str]:
    """Follow the authorize URL to the emulator's auto-consent redirect and read the callback parameters."""
    response = await http.get(oauth.authorization_url(state), follow_redirects=False)
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(REDIRECT_URI + "?")
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def test_authorization_url_carries_client_scope_redirect_and_state() -> None:
    oauth = QboOAuth("abc", "secret", "https://app.example.com/qbo/callback")
    url = urlsplit(oauth.authorization_url("Xq3v9P0k"))
    params = parse_qs(url.query)
    assert f"{url.scheme}://{url.netloc}{url.path}" == QboEndpoints().authorization_url
    assert params == {
        "client_id": ["abc"],
        "response_type": ["code"],
        "scope": [ACCOUNTING_SCOPE],
        "redirect_uri": ["https://app.example.com/qbo/callback"],
        "state": ["Xq3v9P0k"],
    }


def test_reprs_never_show_tokens_or_secrets() -> None:
    tokens = QboTokens("access-SECRET", "refresh-SECRET", datetime.now(UTC), datetime.now(UTC))
    oauth = QboOAuth("abc", "client-SECRET", "https://app.example.com/cb")
    source = MemoryTokenSource(tokens, oauth)
    assert "SECRET" not in repr(tokens) + repr(oauth) + repr(source)


async def test_oauth_round_trip_gives_tokens_that_work_on_the_api(
    emulator: Emulator, http: httpx.AsyncClient, oauth: QboOAuth
) -> None:
    callback = await consent(http, oauth, "csrf-123")
    assert callback["state"] == "csrf-123"
    assert callback["realmId"] == REALM
    before = datetime.now(UTC)
    tokens = await oauth.exchange_code(callback["code"])
    assert tokens.access_expires_at - before >= timedelta(seconds=3590)
    assert tokens.refresh_expires_at - before >= timedelta(days=100)
    assert tokens.refresh_hard_expires_at is not None  # the client asks for the hard cap
    async with make_client(emulator, MemoryTokenSource(tokens, oauth)) as qbo:
        assert (await qbo.company_info()).realm_id == callback["realmId"]


async def test_an_authorization_code_works_only_once(
    emulator: Emulator, http: httpx.AsyncClient, oauth: QboOAuth
) -> None:
    code = (await consent(http, oauth, "s"))["code"]
    await oauth.exchange_code(code)
    with pytest.raises(QboInvalidGrant):
        await oauth.exchange_code(code)


async def test_refresh_rotates_the_refresh_token_and_the_old_one_dies(emulator: Emulator, oauth: QboOAuth) -> None:
    emulator.state.switches.rotate_after_hours = 0  # rotate on every refresh
    tokens = QboTokens.from_response(emulator.state.issue_tokens(), datetime.now(UTC))
    refreshed = await oauth.refresh(tokens.refresh_token)
    assert refreshed.refresh_token != tokens.refresh_token
    assert refreshed.access_token != tokens.access_token
    with pytest.raises(QboInvalidGrant) as caught:
        await oauth.refresh(tokens.refresh_token)
    assert caught.value.code == "invalid_grant"
    assert tokens.refresh_token not in str(caught.value)


async def test_refresh_within_a_day_keeps_the_same_refresh_token(emulator: Emulator, oauth: QboOAuth) -> None:
    tokens = QboTokens.from_response(emulator.state.issue_tokens(), datetime.now(UTC))
    refreshed = await oauth.refresh(tokens.refresh_token)
    assert refreshed.refresh_token == tokens.refresh_token
    emulator.state.advance_clock(25 * 3600)
    assert (await oauth.refresh(tokens.refresh_token)).refresh_token != tokens.refresh_token


async def test_wrong_client_secret_is_invalid_grant_for_the_connection(emulator: Emulator) -> None:
    oauth = QboOAuth("emulator-client", "wrong", REDIRECT_URI, oauth_base_url=emulator.url)
    tokens = QboTokens.from_response(emulator.state.issue_tokens(), datetime.now(UTC))
    with pytest.raises(QboInvalidGrant) as caught:
        await oauth.refresh(tokens.refresh_token)
    assert caught.value.code == "invalid_client"


async def test_revoke_kills_the_grant(emulator: Emulator, oauth: QboOAuth) -> None:
    tokens = QboTokens.from_response(emulator.state.issue_tokens(), datetime.now(UTC))
    source = MemoryTokenSource(tokens, oauth)
    await oauth.revoke(tokens.refresh_token)
    async with make_client(emulator, source) as qbo:
        with pytest.raises((QboAuthError, QboInvalidGrant)):
            await qbo.preferences()
    with pytest.raises(QboInvalidGrant):
        await oauth.refresh(tokens.refresh_token)
