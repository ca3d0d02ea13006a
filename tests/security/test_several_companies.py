"""Two QuickBooks companies in one workspace, over HTTP on the real product (emulators, fake Slack, the real web app
and worker): a command that names no company asks which one with a select, and the real `choose-connection`
listener carries on with the chosen one only; each company's runs, failures and fixes reach its own finance channel
and its own part of the App Home, never the other's; disconnecting one names it, in its own channel.

Both companies read the one Ontop emulator (the same workers and invoices): what tells them apart here is the
mapping, so company A leaves a concept unmapped and B maps everything."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlparse

import httpx
from sqlalchemy import select

from devtools.signing import FORM_CONTENT_TYPE, SlackClientSimulator, block_actions_payload, interactive_body
from devtools.stack import ADMIN_USER, FINANCE_CHANNEL, LocalStack
from emulators.ontop.app import DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD
from handlers.ids import ChooseIds, ConnectIds, DisconnectIds, MappingIds, MiscIds
from storage.models import ConceptMapping, InvoiceState, RunStatus, SyncRun
from storage.repos.connections import ConnectionRepo
from storage.repos.workspaces import WorkspaceRepo
from sync.api import CREATE_WALLET, BooksChoice, TeamRef
from tests.reliability.support import NO_REVIEW, TEAM, Driver, wait_until

SECOND_REALM = "9341453050000002"
SECOND_COMPANY = "Acme UK Ltd"
SECOND_NAME = "acme-uk-ltd"
FIRST_COMPANY = "Northwind Design Studio"  # the stack's seeded QuickBooks company
FIRST_NAME = "northwind-design-studio"
UK_CHANNEL = "C0UKFIN"
LEFT_UNMAPPED = "BONUS"  # in a few of the generated invoices (seed 11): company A leaves it unmapped
LEFT_UNMAPPED_LABEL = "Bonus"


# --- set-up: a second company, connected the way `/qbo connect new` does ------------------------------------------


async def connect_second_company(driver: Driver, *, channel: str | None = None) -> int:
    """Another QuickBooks company (a second realm of the emulator, chosen at consent) and its Ontop login, through
    the app's real /qbo/start and /qbo/callback routes; `channel`: its own finance channel (else the workspace's).
    Its first sync posts without waiting for approval, like the stack's first company (NO_REVIEW)."""
    stack = driver.stack
    assert stack.qbo_state is not None and stack.ontop_state is not None
    stack.qbo_state.seed_company(SECOND_REALM, company_name=SECOND_COMPANY)
    service = driver.runtime.service
    start = await service.qbo_connect_page(TEAM.workspace, ADMIN_USER)  # `/qbo connect new`: names no company
    async with httpx.AsyncClient(timeout=10) as browser:  # one browser: /qbo/start's cookie goes to the callback
        to_intuit = await browser.get(start)
        assert to_intuit.is_redirect, to_intuit.text
        answer = await browser.get(f"{to_intuit.headers['location']}&realmId={SECOND_REALM}", follow_redirects=True)
    assert urlparse(str(answer.url)).path == "/qbo/callback" and answer.status_code == 200, answer.text
    await service.save_ontop_credentials(  # the login page of `/qbo connect new` finishes the unfinished one
        TEAM, ADMIN_USER, DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD, stack.ontop_state.generator.start.date()
    )
    second = await connection_of_realm(driver, SECOND_REALM)
    team = TEAM.on(second)
    await service.save_books(team, ADMIN_USER, BooksChoice(pay_from=CREATE_WALLET))
    current = await service.workspace_settings(team)
    await service.update_settings(
        team,
        ADMIN_USER,
        finance_channel_id=channel or current.finance_channel_id,
        sync_hour=current.sync_hour,
        timezone=current.timezone,
        admin_user_ids=[ADMIN_USER],
        auto_create_vendors=True,
        review=NO_REVIEW,
    )
    return second


async def connection_of_realm(driver: Driver, realm_id: str) -> int:
    async with driver.runtime.sessions() as session:
        workspace = await WorkspaceRepo(session).find(TEAM.team_id, None)
        assert workspace is not None
        found = [one for one in await ConnectionRepo(session).list_open(workspace.id) if one.realm_id == realm_id]
    assert len(found) == 1, found
    return found[0].id


async def map_concepts(driver: Driver, team: TeamRef, *, leave_out: frozenset[str] = frozenset()) -> None:
    """Every concept the company knows to its Contractors account, but those left out (saving queues its first
    sync)."""
    service = driver.runtime.service
    contractors = next(option for option in await service.account_options(team) if "Contractors" in option.name)
    concepts = {row.concept for row in await service.mapping_rows(team)}
    assert leave_out <= concepts
    await service.save_mappings(
        team, ADMIN_USER, {concept: contractors.account_id for concept in concepts if concept not in leave_out}
    )


async def runs_by_connection(driver: Driver) -> dict[int, list[SyncRun]]:
    found: dict[int, list[SyncRun]] = {}
    for run in await driver.runs():
        found.setdefault(run.connection_id, []).append(run)
    return found


async def mapped_concepts(driver: Driver, connection_id: int) -> set[str]:
    async with driver.runtime.sessions() as session:
        rows = await session.scalars(select(ConceptMapping).where(ConceptMapping.connection_id == connection_id))
        return {row.concept for row in rows}


# --- the select, as Slack would send it back ------------------------------------------------------------------------


def find_select(blocks: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """(block_id, element) of the choose-a-company select in these blocks."""
    for block in blocks:
        element = block.get("accessory")
        if isinstance(element, dict) and element.get("action_id") == ChooseIds.SELECT:
            return str(block.get("block_id")), element
    raise LookupError("no choose-a-company select")


def has_select(blocks: list[dict[str, Any]]) -> bool:
    try:
        find_select(blocks)
    except LookupError:
        return False
    return True


def chosen(element: dict[str, Any], connection_id: int) -> dict[str, Any]:
    return next(option for option in element["options"] if option["value"] == str(connection_id))


async def choose_in_ephemeral(
    slack: SlackClientSimulator, stack: LocalStack, message: dict[str, Any], connection_id: int
) -> httpx.Response:
    """Pick a company in the ephemeral question (Slack sends no `message` for an ephemeral one, only its container
    and a response_url)."""
    block_id, element = find_select(message["blocks"])
    action = {
        "type": element["type"],
        "action_id": element["action_id"],
        "block_id": block_id,
        "selected_option": chosen(element, connection_id),
    }
    fake = stack.fake_slack
    payload = block_actions_payload(
        slack.actor,
        action,
        trigger_id=fake.mint_trigger_id(ADMIN_USER),
        message=message,
        channel=fake.channel_ref(FINANCE_CHANNEL),
        response_url=fake.new_response_url(channel_id=FINANCE_CHANNEL, user_id=ADMIN_USER),
    )
    payload["container"]["is_ephemeral"] = True
    del payload["message"]
    return await slack.post(interactive_body(payload), FORM_CONTENT_TYPE)


async def next_ephemeral(stack: LocalStack, seen: int) -> dict[str, Any]:
    """The first ephemeral reply to the admin past the `seen` first ones."""

    async def arrived() -> bool:
        return len(stack.fake_slack.ephemerals(user_id=ADMIN_USER)) > seen

    await wait_until(arrived, timeout_seconds=10, what="an ephemeral reply")
    return stack.fake_slack.ephemerals(user_id=ADMIN_USER)[seen]


async def opened_view(stack: LocalStack) -> str:
    """The id of the modal the app opened for the admin."""

    async def opened() -> bool:
        return stack.fake_slack.last_view(user_id=ADMIN_USER) is not None

    await wait_until(opened, timeout_seconds=10, what="a modal")
    view = stack.fake_slack.last_view(user_id=ADMIN_USER)
    assert view is not None
    return str(view["id"])


async def view_settled(stack: LocalStack, view_id: str, callback_id: str) -> dict[str, Any]:
    """The modal once the app has shown the view with `callback_id` in it."""

    async def shown() -> bool:
        view = stack.fake_slack.view(view_id)
        return view is not None and view.get("callback_id") == callback_id

    await wait_until(shown, timeout_seconds=10, what=f"the {callback_id} view")
    view = stack.fake_slack.view(view_id)
    assert view is not None
    return view


def queued_run_id(text: str) -> int:
    found = re.search(r"#(\d+)", text)
    assert found is not None and "queued" in text, text
    return int(found.group(1))


# --- 1. choosing a company ------------------------------------------------------------------------------------------


async def test_sync_without_a_name_asks_which_company_and_queues_only_the_chosen_one(driver: Driver) -> None:
    first = await driver.connect(map_all=False)  # nothing mapped: no first sync, only what the admin asks for
    second = await connect_second_company(driver)
    stack = driver.stack

    async with stack.slack(ADMIN_USER) as slack:
        assert (await slack.command("sync")).status_code == 200
        question = await next_ephemeral(stack, 0)
        assert has_select(question["blocks"]), question
        _, element = find_select(question["blocks"])
        assert [option["value"] for option in element["options"]] == [str(first), str(second)]
        assert SECOND_NAME in json.dumps(question["blocks"]) and FIRST_NAME in json.dumps(question["blocks"])
        assert await driver.runs() == [], "nothing is queued before the admin chooses"

        answer = await choose_in_ephemeral(slack, stack, question, second)
        assert answer.status_code == 200, answer.text
        answered = await next_ephemeral(stack, 1)
        assert SECOND_NAME in answered["text"], "the question is answered with the company chosen"
        queued = await next_ephemeral(stack, 2)

    run_id = queued_run_id(queued["text"])
    by_connection = await runs_by_connection(driver)
    assert [run.id for run in by_connection.get(second, [])] == [run_id]
    assert [run.trigger for run in by_connection[second]] == ["manual"]
    assert first not in by_connection, "the company not chosen has nothing queued"


async def test_a_modal_command_without_a_name_asks_in_the_modal_then_shows_the_chosen_company_s_mapping(
    driver: Driver,
) -> None:
    first = await driver.connect(map_all=False)
    second = await connect_second_company(driver)
    await driver.runtime.service.save_mappings(  # only the chosen company has Bonus mapped: its modal shows it
        TEAM.on(second),
        ADMIN_USER,
        {"BONUS": next(o for o in await driver.runtime.service.account_options(TEAM.on(second))).account_id},
    )
    stack = driver.stack

    async with stack.slack(ADMIN_USER) as slack:
        assert (await slack.command("map")).status_code == 200
        view_id = await opened_view(stack)
        asking = await view_settled(stack, view_id, ChooseIds.CALLBACK)
        _, element = find_select(asking["blocks"])
        assert [option["value"] for option in element["options"]] == [str(first), str(second)]

        answer = await slack.click_view_element(view_id, ChooseIds.SELECT, selected_option=chosen(element, second))
        assert answer.status_code == 200, answer.text
        mapping = await view_settled(stack, view_id, MappingIds.CALLBACK)

    assert json.loads(mapping["private_metadata"])["connection_id"] == second
    bonus = next(block for block in mapping["blocks"] if block.get("block_id") == f"{MappingIds.BLOCK_PREFIX}BONUS")
    assert "initial_option" in bonus["element"], "the chosen company's own mapping is shown"
    assert len(stack.fake_slack.calls("views.open")) == 1, "the choice continues in the same modal"
    assert await mapped_concepts(driver, first) == set()


async def test_with_one_company_nothing_asks(driver: Driver) -> None:
    only = await driver.connect(map_all=False)
    stack = driver.stack

    async with stack.slack(ADMIN_USER) as slack:
        assert (await slack.command("sync")).status_code == 200
        reply = await next_ephemeral(stack, 0)
        assert (await slack.command("map")).status_code == 200
        view_id = await opened_view(stack)
        mapping = await view_settled(stack, view_id, MappingIds.CALLBACK)

    assert not has_select(reply["blocks"])
    run_id = queued_run_id(reply["text"])
    assert [run.id for run in (await runs_by_connection(driver))[only]] == [run_id]
    assert json.loads(mapping["private_metadata"])["connection_id"] == only
    shown = [json.dumps(call.params.get("view")) for call in stack.fake_slack.calls("views.update")]
    assert not [view for view in shown if ChooseIds.CALLBACK.value in view], "no choice was ever shown"


# --- 2. each company's runs and failures in its own channel ---------------------------------------------------------


def channel_text(stack: LocalStack, channel_id: str) -> str:
    return json.dumps(stack.fake_slack.messages(channel_id))


async def test_each_company_s_summary_and_failures_reach_only_its_own_channel_and_home_part(driver: Driver) -> None:
    stack = driver.stack
    stack.fake_slack.add_channel(UK_CHANNEL, "finance-uk")
    first = await driver.connect(map_all=False)
    second = await connect_second_company(driver, channel=UK_CHANNEL)
    before_first_channel = len(stack.fake_slack.messages(FINANCE_CHANNEL))  # the connect announcements, so far

    await map_concepts(driver, TEAM.on(first), leave_out=frozenset({LEFT_UNMAPPED}))  # A: its bonus invoices fail
    await map_concepts(driver, TEAM.on(second))  # B: everything mapped
    runs = await driver.wait_for_runs_to_settle(at_least=2)
    by_connection = await runs_by_connection(driver)
    [run_a], [run_b] = by_connection[first], by_connection[second]
    assert run_a.failed > 0 and run_a.status == RunStatus.PARTIAL, await driver.describe()
    assert run_b.failed == 0 and run_b.bills_created > 0, await driver.describe()
    await driver.check_user_was_told([run_a], FINANCE_CHANNEL)
    await driver.check_user_was_told([run_b], UK_CHANNEL)

    failing = [
        row
        for row in await driver.ledger()
        if row.connection_id == first and row.state == InvoiceState.FAILED and row.last_run_id == run_a.id
    ]
    assert failing, await driver.describe()
    a_summary = json.dumps([message for _, message in driver.parts_of(run_a.id, FINANCE_CHANNEL)])
    assert f"{LEFT_UNMAPPED_LABEL} is not mapped" in a_summary and failing[0].invoice_number in a_summary
    b_summary = json.dumps([message for _, message in driver.parts_of(run_b.id, UK_CHANNEL)])
    assert f"#{run_b.id}" in b_summary and "Sent to you directly" not in b_summary
    # A's concept, company, name, buttons and channel (a summary that thinks A's channel is its own says it fell
    # back from it), then A's failing invoices and their workers.
    a_things = [
        f"{LEFT_UNMAPPED_LABEL} is not",
        LEFT_UNMAPPED,
        FIRST_COMPANY,
        FIRST_NAME,
        f"c{first}|",
        FINANCE_CHANNEL,
    ]
    a_things += [row.invoice_number for row in failing] + [str(row.worker_name) for row in failing]
    assert [thing for thing in a_things if thing in b_summary] == []

    # Nothing of A in B's channel, and nothing of B (its runs, its name) in A's once B has its own channel.
    assert driver.parts_of(run_a.id, UK_CHANNEL) == [] and driver.parts_of(run_b.id, FINANCE_CHANNEL) == []
    in_b = channel_text(stack, UK_CHANNEL)
    assert [thing for thing in a_things if thing in in_b] == []
    later_in_a = json.dumps(stack.fake_slack.messages(FINANCE_CHANNEL)[before_first_channel:])
    assert [thing for thing in (SECOND_COMPANY, SECOND_NAME, f"c{second}|") if thing in later_in_a] == []
    assert {run.connection_id for run in runs} == {first, second}

    # The App Home: both companies, each with its own failures and buttons.
    async with stack.slack(ADMIN_USER) as slack:
        assert (await slack.open_home()).status_code == 200

    async def published() -> bool:
        return stack.fake_slack.home_view(ADMIN_USER) is not None

    await wait_until(published, timeout_seconds=10, what="the App Home")
    home = stack.fake_slack.home_view(ADMIN_USER)
    assert home is not None
    parts = home_parts(home["blocks"])
    assert set(parts) == {f"{FIRST_COMPANY} · {FIRST_NAME}", f"{SECOND_COMPANY} · {SECOND_NAME}"}
    part_a, part_b = parts[f"{FIRST_COMPANY} · {FIRST_NAME}"], parts[f"{SECOND_COMPANY} · {SECOND_NAME}"]
    assert f"{LEFT_UNMAPPED_LABEL} is not mapped" in part_a and f"c{first}|" in part_a and f"c{second}|" not in part_a
    assert [thing for thing in a_things if thing in part_b] == []
    assert f"c{second}|" in part_b


def home_parts(blocks: list[dict[str, Any]]) -> dict[str, str]:
    """The App Home's blocks per company: each company's part starts at its header."""
    parts: dict[str, list[dict[str, Any]]] = {}
    current: list[dict[str, Any]] | None = None
    for block in blocks[1:]:  # the first header is the dashboard's own
        if block.get("type") == "header":
            current = parts.setdefault(str(block["text"]["text"]), [])
        elif current is not None:
            current.append(block)
    return {name: json.dumps(part) for name, part in parts.items()}


# --- 3. disconnecting one of them -----------------------------------------------------------------------------------


async def test_disconnecting_one_company_names_it_and_tells_its_own_channel(driver: Driver) -> None:
    stack = driver.stack
    stack.fake_slack.add_channel(UK_CHANNEL, "finance-uk")
    first = await driver.connect(map_all=False)
    second = await connect_second_company(driver, channel=UK_CHANNEL)
    before_first_channel = len(stack.fake_slack.messages(FINANCE_CHANNEL))

    async with stack.slack(ADMIN_USER) as slack:
        assert (await slack.command("disconnect")).status_code == 200
        view_id = await opened_view(stack)
        asking = await view_settled(stack, view_id, ChooseIds.CALLBACK)
        _, element = find_select(asking["blocks"])
        answer = await slack.click_view_element(view_id, ChooseIds.SELECT, selected_option=chosen(element, second))
        assert answer.status_code == 200, answer.text
        confirm = await view_settled(stack, view_id, DisconnectIds.CALLBACK)
        assert f"*{SECOND_COMPANY}*" in json.dumps(confirm["blocks"])
        assert (await slack.submit_view(view_id, {})).status_code == 200
        done = await view_settled(stack, view_id, MiscIds.RESULT)

    said = f"QuickBooks company *{SECOND_COMPANY}* disconnected"
    assert said in json.dumps(done["blocks"])

    async def announced() -> bool:
        return said in channel_text(stack, UK_CHANNEL)

    await wait_until(announced, timeout_seconds=10, what="the announcement in the company's own channel")
    assert said not in json.dumps(stack.fake_slack.messages(FINANCE_CHANNEL)[before_first_channel:])
    assert [choice.connection_id for choice in await driver.runtime.service.connections(TEAM)] == [first]


async def test_check_in_a_connect_new_modal_shows_the_company_it_connected_once_both_are_done(driver: Driver) -> None:
    await driver.connect(map_all=False)
    stack = driver.stack
    async with stack.slack(ADMIN_USER) as slack:
        assert (await slack.command("connect new")).status_code == 200
        view_id = await opened_view(stack)
        await view_settled(stack, view_id, ConnectIds.CALLBACK)
        await connect_second_company(driver)  # consent and Ontop login in the browser, from that modal's links

        assert (await slack.submit_view(view_id, {})).status_code == 200  # *Check*
        done = await view_settled(stack, view_id, MiscIds.RESULT)

    assert SECOND_COMPANY in json.dumps(done["blocks"]), "the company the modal connected, not a question"
