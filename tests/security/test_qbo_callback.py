"""The QuickBooks OAuth callback connects only with a fresh, single-use state this app issued, for its workspace."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
from sqlalchemy import select, update

from emulators.qbo.state import DEFAULT_REALM
from storage.models import Connection, QboOAuthState, Workspace
from storage.repos.connections import sha256_hex
from sync.api import TeamRef
from tests.reliability.support import ADMIN_USER, TEAM, Driver


async def consent(driver: Driver, team: TeamRef = TEAM, user_id: str = ADMIN_USER) -> dict[str, str]:
    """Start /qbo connect and approve at the QBO emulator: the callback's query (state, code, realmId)."""
    url = await driver.runtime.service.start_qbo_connect(team, user_id)
    async with httpx.AsyncClient(timeout=10) as http:
        redirect = await http.get(url, follow_redirects=False)
    query = parse_qs(urlparse(redirect.headers["location"]).query)
    return {key: values[0] for key, values in query.items()}


async def callback(driver: Driver, params: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as http:
        return await http.get(f"{driver.stack.app_url}/qbo/callback?{urlencode(params)}")


async def connections(driver: Driver) -> list[tuple[int, str, bytes | str | None]]:
    async with driver.runtime.sessions() as session:
        rows = (await session.scalars(select(Connection).order_by(Connection.id))).all()
        return [(row.workspace_id, row.realm_id, row.qbo_tokens_encrypted) for row in rows]


async def assert_refused(
    driver: Driver, answer: httpx.Response, before: list[tuple[int, str, bytes | str | None]]
) -> None:
    assert answer.status_code == 400, answer.text
    assert "Traceback" not in answer.text and "/qbo connect" in answer.text, "the page says what to do"
    assert await connections(driver) == before, "no connection was created or changed"


async def test_a_fresh_state_connects_the_workspace_that_asked(driver: Driver) -> None:
    """The control: the untampered flow works (so the refusals below are about the tampering)."""
    await driver.configure()
    answer = await callback(driver, await consent(driver))
    assert answer.status_code == 200
    [(_, realm, _)] = await connections(driver)
    assert realm == DEFAULT_REALM


async def test_a_callback_without_state_is_refused(driver: Driver) -> None:
    await driver.configure()
    params = await consent(driver)
    params.pop("state")
    await assert_refused(driver, await callback(driver, params), [])


async def test_a_forged_state_is_refused(driver: Driver) -> None:
    await driver.configure()
    params = await consent(driver)
    params["state"] = params["state"][:-4] + "AAAA"
    await assert_refused(driver, await callback(driver, params), [])


async def test_an_expired_state_is_refused(driver: Driver) -> None:
    await driver.configure()
    params = await consent(driver)
    async with driver.runtime.sessions.begin() as session:
        row = await session.get(QboOAuthState, sha256_hex(params["state"]))
        assert row is not None
        await session.execute(
            update(QboOAuthState)
            .where(QboOAuthState.state_hash == row.state_hash)
            .values(expires_at=row.expires_at - timedelta(minutes=11))
        )
    await assert_refused(driver, await callback(driver, params), [])


async def test_a_state_used_once_cannot_be_used_again(driver: Driver) -> None:
    await driver.configure()
    params = await consent(driver)
    assert (await callback(driver, params)).status_code == 200
    after_first = await connections(driver)

    second_code = await consent(driver)  # a fresh, valid code, replayed with the spent state
    replay = {**second_code, "state": params["state"]}
    await assert_refused(driver, await callback(driver, replay), after_first)


async def test_a_state_issued_to_another_workspace_only_ever_connects_that_workspace(driver: Driver) -> None:
    await driver.connect()
    await driver.wait_for_runs_to_settle()
    before = await connections(driver)
    other = TeamRef("T0OTHER")
    await driver.runtime.service.ensure_workspace(other, "Other")

    answer = await callback(driver, await consent(driver, other, "U0OTHER"))

    assert answer.status_code == 200
    after = await connections(driver)
    assert after[: len(before)] == before, "workspace A's connection and tokens are untouched"
    async with driver.runtime.sessions() as session:
        other_id = await session.scalar(select(Workspace.id).where(Workspace.team_id == "T0OTHER"))
    assert [row[0] for row in after[len(before) :]] == [other_id]
    status = await driver.runtime.service.status(TEAM)
    assert status is not None and status.status == "active"
