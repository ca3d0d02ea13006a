"""The QuickBooks OAuth callback connects only with a fresh, single-use state this app issued, for its workspace,
in the browser that started from Slack (the cookie /qbo/start sets), and never a company another workspace holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
from sqlalchemy import select, update

from bot.pages import CONNECT_COOKIE
from emulators.qbo.state import DEFAULT_REALM
from storage.models import Connection, QboOAuthState, Workspace
from storage.repos.oauth_states import state_key
from sync.api import TeamRef
from tests.reliability.support import ADMIN_USER, TEAM, Driver


@dataclass(frozen=True)
class Consent:
    params: dict[str, str]  # what Intuit sends back: state, code, realmId
    cookie: str | None  # what /qbo/start left in the browser that pressed the button


async def consent(driver: Driver, team: TeamRef = TEAM, user_id: str = ADMIN_USER) -> Consent:
    """Press the connect modal's QuickBooks button (the app's /qbo/start) and approve at the QBO emulator."""
    start = await driver.runtime.service.qbo_connect_page(team, user_id)
    async with httpx.AsyncClient(timeout=10) as browser:
        started = await browser.get(start)
        assert started.status_code == 303, started.text
        redirect = await browser.get(started.headers["location"])
    query = parse_qs(urlparse(redirect.headers["location"]).query)
    return Consent({key: values[0] for key, values in query.items()}, started.cookies.get(CONNECT_COOKIE))


async def callback(driver: Driver, params: dict[str, str], cookie: str | None) -> httpx.Response:
    """Intuit's redirect back, arriving in a browser that holds `cookie` (None: a browser that never started)."""
    headers = {"Cookie": f"{CONNECT_COOKIE}={cookie}"} if cookie else {}
    async with httpx.AsyncClient(timeout=10) as http:
        return await http.get(f"{driver.stack.app_url}/qbo/callback?{urlencode(params)}", headers=headers)


async def connections(driver: Driver) -> list[tuple[int, str, bytes | str | None]]:
    async with driver.runtime.sessions() as session:
        rows = (await session.scalars(select(Connection).order_by(Connection.id))).all()
        return [(row.workspace_id, row.realm_id, row.qbo_tokens_encrypted) for row in rows]


async def assert_refused(
    driver: Driver, answer: httpx.Response, before: list[tuple[int, str, bytes | str | None]], *, status: int = 400
) -> None:
    assert answer.status_code == status, answer.text
    assert "Traceback" not in answer.text and "/qbo connect" in answer.text, "the page says what to do"
    assert await connections(driver) == before, "no connection was created or changed"


async def test_a_fresh_state_connects_the_workspace_that_asked(driver: Driver) -> None:
    """The control: the untampered flow works (so the refusals below are about the tampering)."""
    await driver.configure()
    given = await consent(driver)
    answer = await callback(driver, given.params, given.cookie)
    assert answer.status_code == 200, answer.text
    [(_, realm, _)] = await connections(driver)
    assert realm == DEFAULT_REALM


async def test_the_start_page_binds_the_state_to_the_browser_with_a_short_lived_httponly_lax_cookie(
    driver: Driver,
) -> None:
    await driver.configure()
    start = await driver.runtime.service.qbo_connect_page(TEAM, ADMIN_USER)
    async with httpx.AsyncClient(timeout=10) as browser:
        started = await browser.get(start)
    assert started.status_code == 303
    assert urlparse(started.headers["location"]).path == "/connect/oauth2", "on to Intuit's consent"
    cookie = started.headers["set-cookie"].lower()
    for attribute in ("httponly", "samesite=lax", "max-age=600", "path=/qbo"):
        assert attribute in cookie, (attribute, cookie)
    assert "secure" not in cookie, "plain http is allowed only on loopback, where a Secure cookie would be lost"
    assert started.headers["cache-control"] == "no-store" and started.headers["referrer-policy"] == "no-referrer"


async def test_a_start_link_with_an_unknown_state_sets_no_cookie_and_sends_nobody_to_intuit(driver: Driver) -> None:
    await driver.configure()
    async with httpx.AsyncClient(timeout=10) as browser:
        answer = await browser.get(f"{driver.stack.app_url}/qbo/start?state=guessed")
    assert answer.status_code == 400 and "set-cookie" not in answer.headers
    assert "/qbo connect" in answer.text


async def test_the_intuit_consent_link_sent_to_someone_else_connects_nothing(driver: Driver) -> None:
    """The attack: a consent link from one workspace's /qbo connect, approved in a victim's browser. That browser
    never opened /qbo/start, so it has no cookie: refused, and the state stays usable by the admin who asked."""
    await driver.configure()
    intuit_url = await driver.runtime.service.start_qbo_connect(TEAM, ADMIN_USER)
    async with httpx.AsyncClient(timeout=10) as victim:
        redirect = await victim.get(intuit_url)
        answer = await victim.get(redirect.headers["location"])
    await assert_refused(driver, answer, [], status=403)
    assert "browser" in answer.text


async def test_a_callback_in_a_browser_without_the_cookie_is_refused_and_the_admin_can_still_finish(
    driver: Driver,
) -> None:
    await driver.configure()
    given = await consent(driver)
    await assert_refused(driver, await callback(driver, given.params, None), [], status=403)
    other = await consent(driver)  # someone else's cookie, for another state, is no better
    await assert_refused(driver, await callback(driver, given.params, other.cookie), [], status=403)

    answer = await callback(driver, given.params, given.cookie)

    assert answer.status_code == 200, answer.text
    assert [realm for _, realm, _ in await connections(driver)] == [DEFAULT_REALM]


async def test_a_callback_without_state_is_refused(driver: Driver) -> None:
    await driver.configure()
    given = await consent(driver)
    given.params.pop("state")
    await assert_refused(driver, await callback(driver, given.params, given.cookie), [])


async def test_a_forged_state_is_refused(driver: Driver) -> None:
    await driver.configure()
    given = await consent(driver)
    given.params["state"] = given.params["state"][:-4] + "AAAA"
    await assert_refused(driver, await callback(driver, given.params, given.cookie), [], status=403)


async def test_an_expired_state_is_refused_even_in_the_browser_that_started(driver: Driver) -> None:
    await driver.configure()
    given = await consent(driver)
    async with driver.runtime.sessions.begin() as session:
        row = await session.get(QboOAuthState, state_key(given.params["state"]))
        assert row is not None
        await session.execute(
            update(QboOAuthState)
            .where(QboOAuthState.state_hash == row.state_hash)
            .values(expires_at=row.expires_at - timedelta(minutes=11))
        )
    await assert_refused(driver, await callback(driver, given.params, given.cookie), [])


async def test_a_state_used_once_cannot_be_used_again(driver: Driver) -> None:
    await driver.configure()
    given = await consent(driver)
    assert (await callback(driver, given.params, given.cookie)).status_code == 200
    after_first = await connections(driver)

    second = await consent(driver)  # a fresh, valid code, replayed with the spent state (and its cookie)
    replay = {**second.params, "state": given.params["state"]}
    await assert_refused(driver, await callback(driver, replay, given.cookie), after_first)


async def test_a_company_connected_in_one_workspace_is_refused_to_another_until_disconnected_there(
    driver: Driver,
) -> None:
    await driver.connect()
    await driver.wait_for_runs_to_settle()
    before = await connections(driver)
    other = TeamRef("T0OTHER")
    await driver.runtime.service.ensure_workspace(other, "Other")

    given = await consent(driver, other, "U0OTHER")
    answer = await callback(driver, given.params, given.cookie)

    await assert_refused(driver, answer, before)
    assert "/qbo disconnect" in answer.text and "another Slack workspace" in answer.text, "it says how to move it"
    status = await driver.runtime.service.status(TEAM)
    assert status is not None and status.status == "active"
    assert await driver.runtime.service.status(other) is None

    # Moving it: disconnected in the first workspace, the company connects in the other.
    await driver.runtime.service.disconnect(TEAM, ADMIN_USER)
    given = await consent(driver, other, "U0OTHER")
    assert (await callback(driver, given.params, given.cookie)).status_code == 200
    async with driver.runtime.sessions() as session:
        other_id = await session.scalar(select(Workspace.id).where(Workspace.team_id == "T0OTHER"))
    moved = await driver.runtime.service.status(other)
    assert moved is not None and moved.realm_id == DEFAULT_REALM
    assert (await connections(driver))[-1][:2] == (other_id, DEFAULT_REALM)
