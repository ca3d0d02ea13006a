"""Several QuickBooks companies in one workspace: each named after its company, chosen by name (or asked for),
with its own channel and schedule, and disconnected alone."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from emulators.ontop.app import DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD
from sync.api import ConnectionChoiceNeeded, UnknownConnectionError
from tests.sync.conftest import ADMIN, TEAM, World

SECOND_REALM = "9341453050000002"


async def connect_second_company(world: World, company_name: str = "Acme UK Ltd") -> int:
    """Another company in the same QuickBooks emulator, consented to by the same admin (`/qbo connect new`)."""
    world.emulators.qbo.seed_company(SECOND_REALM, company_name=company_name)
    consent = await world.service.start_qbo_connect(TEAM.workspace, ADMIN)
    async with httpx.AsyncClient() as http:
        answer = await http.get(f"{consent}&realmId={SECOND_REALM}", follow_redirects=False)
    query = parse_qs(urlparse(answer.headers["location"]).query)
    connected = await world.service.complete_qbo_connect(query["state"][0], query["code"][0], query["realmId"][0])
    # The Ontop login page of a `/qbo connect new` names no company: it finishes the one waiting for its login.
    await world.service.save_ontop_credentials(TEAM.workspace, ADMIN, DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD)
    return connected.connection_id


async def test_each_company_gets_a_short_name_and_commands_must_say_which(world: World) -> None:
    first = await world.connect()
    assert (await world.service.which_connection(TEAM)).connection_id == first  # one company: nothing to say

    second = await connect_second_company(world)

    names = {choice.connection_id: choice.name for choice in await world.service.connections(TEAM)}
    assert names == {first: "northwind-design-studio", second: "acme-uk-ltd"}
    with pytest.raises(ConnectionChoiceNeeded) as asked:
        await world.service.request_sync(TEAM, ADMIN)
    assert [choice.name for choice in asked.value.choices] == ["northwind-design-studio", "acme-uk-ltd"]
    assert (await world.service.which_connection(TEAM.named("acme-uk-ltd"))).connection_id == second
    with pytest.raises(UnknownConnectionError, match="acme-uk-ltd"):
        await world.service.status(TEAM.named("acme-us"))


async def test_a_company_has_its_own_channel_and_hour_and_the_other_keeps_the_workspace_s(world: World) -> None:
    first = await world.connect()
    await world.service.update_settings(
        TEAM,
        ADMIN,
        finance_channel_id="C0ALL",
        sync_hour=6,
        timezone="UTC",
        admin_user_ids=[],
        auto_create_vendors=True,
    )
    second = await connect_second_company(world)

    uk = TEAM.on(second)
    assert (await world.service.workspace_settings(uk)).finance_channel_id == "C0ALL"  # starts from the workspace's
    await world.service.update_settings(
        uk,
        ADMIN,
        finance_channel_id="C0UK",
        sync_hour=9,
        timezone="Europe/London",
        admin_user_ids=[],
        auto_create_vendors=True,
        connection_name="acme-uk",
    )

    own = await world.service.workspace_settings(TEAM.named("acme-uk"))
    other = await world.service.workspace_settings(TEAM.on(first))
    assert (own.finance_channel_id, own.sync_hour, own.timezone) == ("C0UK", 9, "Europe/London")
    assert (other.finance_channel_id, other.sync_hour, other.timezone) == ("C0ALL", 6, "UTC")


async def test_disconnecting_one_company_leaves_the_other_connected(world: World) -> None:
    first = await world.connect()
    second = await connect_second_company(world)

    await world.service.disconnect(TEAM.on(second), ADMIN)

    assert [choice.connection_id for choice in await world.service.connections(TEAM)] == [first]
    status = await world.service.status(TEAM)
    assert status is not None and status.status == "active" and status.mapped_concepts > 0
