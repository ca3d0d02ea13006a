"""views.* on the fake Slack: single-use trigger_ids that expire, view limits, hashes, the modal stack, Home tabs."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from devtools.fake_slack import FakeSlack
from tests.devtools.conftest import ManualClock, error_code, modal, section


async def test_views_open_with_a_minted_trigger_id_stores_the_view(fake: FakeSlack, client: AsyncWebClient) -> None:
    trigger_id = fake.mint_trigger_id("U0ANN")
    answer = await client.views_open(trigger_id=trigger_id, view=modal([section("Loading…")], callback_id="qbo_map"))
    view_id = answer["view"]["id"]
    assert answer["view"]["hash"] and answer["view"]["root_view_id"] == view_id
    last = fake.last_view("qbo_map", user_id="U0ANN")
    assert last is not None and last["id"] == view_id and last["blocks"][0]["text"]["text"] == "Loading…"


async def test_trigger_id_is_single_use(fake: FakeSlack, client: AsyncWebClient) -> None:
    trigger_id = fake.mint_trigger_id("U0ANN")
    await client.views_open(trigger_id=trigger_id, view=modal())
    assert await error_code(client.views_open(trigger_id=trigger_id, view=modal())) == "exchanged_trigger_id"


async def test_trigger_id_expires_after_three_seconds(
    fake: FakeSlack, client: AsyncWebClient, clock: ManualClock
) -> None:
    fresh, stale = fake.mint_trigger_id("U0ANN"), fake.mint_trigger_id("U0ANN")
    clock.advance(2.9)
    await client.views_open(trigger_id=fresh, view=modal())
    clock.advance(0.2)
    assert await error_code(client.views_open(trigger_id=stale, view=modal())) == "expired_trigger_id"


async def test_unknown_trigger_id_is_invalid(client: AsyncWebClient) -> None:
    assert await error_code(client.views_open(trigger_id="1234.5678.abcdef", view=modal())) == "invalid_trigger_id"


async def test_view_limits_are_enforced(fake: FakeSlack, client: AsyncWebClient) -> None:
    no_type = {"title": {"type": "plain_text", "text": "x"}, "blocks": []}
    cases = [
        no_type,
        modal([section(f"b{i}") for i in range(101)]),
        modal(title="A title longer than 24 chars"),
        modal(private_metadata="x" * 3001),
    ]
    for view in cases:
        assert await error_code(client.views_open(trigger_id=fake.mint_trigger_id("U0ANN"), view=view)) == (
            "invalid_arguments"
        ), view
    await client.views_open(
        trigger_id=fake.mint_trigger_id("U0ANN"), view=modal([section(f"b{i}") for i in range(100)])
    )


async def test_a_title_that_is_not_a_text_object_is_invalid_arguments(fake: FakeSlack, client: AsyncWebClient) -> None:
    view = modal(title="x") | {"title": "x"}
    assert await error_code(client.views_open(trigger_id=fake.mint_trigger_id("U0ANN"), view=view)) == (
        "invalid_arguments"
    )


async def test_views_update_with_a_stale_hash_is_hash_conflict(fake: FakeSlack, client: AsyncWebClient) -> None:
    opened = (await client.views_open(trigger_id=fake.mint_trigger_id("U0ANN"), view=modal()))["view"]
    updated = await client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal([section("Ready")]))
    assert updated["view"]["hash"] != opened["hash"]
    stale = client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal())
    assert await error_code(stale) == "hash_conflict"


async def test_views_update_of_a_view_slack_does_not_have_is_not_found(fake: FakeSlack, client: AsyncWebClient) -> None:
    assert await error_code(client.views_update(view_id="V0NOPE", view=modal())) == "not_found"
    assert await error_code(client.views_update(external_id="never-opened", view=modal())) == "not_found"


async def test_views_update_of_another_workspaces_view_is_not_found(fake: FakeSlack, client: AsyncWebClient) -> None:
    fake.add_team("T0002", "Other", domain="other", bot_token="xoxb-other", bot_user_id="U2BOT", bot_id="B2BOT")
    opened = (await client.views_open(trigger_id=fake.mint_trigger_id("U0ANN"), view=modal()))["view"]
    other = AsyncWebClient(token="xoxb-other", base_url=fake.api_url)
    assert await error_code(other.views_update(view_id=opened["id"], view=modal())) == "not_found"


async def test_modal_stack_holds_at_most_three_views(fake: FakeSlack, client: AsyncWebClient) -> None:
    top = (await client.views_open(trigger_id=fake.mint_trigger_id("U0ANN"), view=modal()))["view"]
    for _ in range(2):
        pushed = await client.views_push(trigger_id=fake.mint_trigger_id("U0ANN", view_id=top["id"]), view=modal())
        top = pushed["view"]
    fourth = client.views_push(trigger_id=fake.mint_trigger_id("U0ANN", view_id=top["id"]), view=modal())
    assert await error_code(fourth) == "push_limit_reached"


async def test_views_publish_keeps_one_home_view_per_user(fake: FakeSlack, client: AsyncWebClient) -> None:
    first = await client.views_publish(user_id="U0ANN", view={"type": "home", "blocks": [section("v1")]})
    second = await client.views_publish(user_id="U0ANN", view={"type": "home", "blocks": [section("v2")]})
    assert first["view"]["id"] == second["view"]["id"]
    home = fake.home_view("U0ANN")
    assert home is not None and home["blocks"][0]["text"]["text"] == "v2"
    assert await error_code(client.views_publish(user_id="U0ANN", view=modal())) == "invalid_arguments"


async def test_views_publish_for_someone_outside_the_workspace_is_user_not_found(client: AsyncWebClient) -> None:
    assert await error_code(client.views_publish(user_id="system", view={"type": "home", "blocks": []})) == (
        "user_not_found"
    )
