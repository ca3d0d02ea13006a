"""The Ontop login page: strict headers, nothing from elsewhere, everything it shows escaped, and a post counts only
with the CSRF token in both the form and the page's own cookie, from someone who is still an admin.

The real web app and service in-process on a SQLite file (tests/security/realapp.py); nothing here reaches Ontop,
so a post that got past every check would answer "Ontop could not be reached" (400), and a refused one 403.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from bot.pages import LOGIN_COOKIE
from devtools.browser import Browser
from devtools.stack import MEMBER_USER
from emulators.ontop.app import DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD
from storage.db import transaction
from storage.models import Connection
from storage.repos.connections import ConnectionRepo
from sync.api import TeamRef
from tests.reliability.support import Driver
from tests.security.realapp import TEAM_ID, RealApp, real_app

TEAM = TeamRef(TEAM_ID)
ADMIN = "U0ANN"
HOSTILE = '"><script>alert(1)</script><img src=//evil.test/x>'


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[RealApp]:
    async with real_app(tmp_path / "login-page.sqlite3") as running:
        settings = await running.runtime.service.workspace_settings(TEAM)
        await running.runtime.service.update_settings(
            TEAM,
            ADMIN,
            finance_channel_id=None,
            sync_hour=settings.sync_hour,
            timezone=settings.timezone,
            admin_user_ids=[ADMIN],  # an admin by the app's allow-list (Slack itself is unreachable here)
            auto_create_vendors=False,
        )
        yield running


@pytest.fixture
async def browser(app: RealApp) -> AsyncIterator[httpx.AsyncClient]:
    # https, as PUBLIC_BASE_URL is: the page's cookies are Secure and a client sends them back only over https.
    transport = httpx.ASGITransport(app=app.web)
    async with httpx.AsyncClient(transport=transport, base_url="https://bot.example.test") as client:
        yield client


async def open_page(app: RealApp, browser: httpx.AsyncClient) -> tuple[httpx.Response, dict[str, str]]:
    """The admin presses the modal's Ontop button: the page, and the hidden fields of its form."""
    url = await app.runtime.service.ontop_login_page(TEAM, ADMIN)
    page = await browser.get(url)
    assert page.status_code == 200, page.text
    return page, dict(re.findall(r'<input type="hidden" name="([a-z]+)" value="([^"]*)">', page.text))


def login(hidden: dict[str, str], **fields: str) -> dict[str, str]:
    return {**hidden, "email": "finance@acme.test", "password": "not-checked-here", **fields}


async def saved_email_count(app: RealApp) -> int:
    async with app.runtime.sessions() as session:
        rows = (await session.scalars(select(Connection))).all()
    return sum(1 for row in rows if row.ontop_credentials_encrypted)


async def test_the_page_has_strict_headers_a_strict_cookie_and_nothing_from_elsewhere(
    app: RealApp, browser: httpx.AsyncClient
) -> None:
    page, hidden = await open_page(app, browser)

    headers = page.headers
    assert headers["content-security-policy"].startswith(
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"
    )
    assert headers["x-frame-options"] == "DENY" and headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-store" and headers["x-content-type-options"] == "nosniff"
    cookie = headers["set-cookie"].lower()
    for attribute in ("httponly", "secure", "samesite=strict", "path=/ontop/credentials", "max-age=600"):
        assert attribute in cookie, (attribute, cookie)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page.text), "nothing loaded from elsewhere"
    assert '<form method="post" action="/ontop/credentials"' in page.text
    assert set(hidden) == {"state", "csrf"} and 'type="password"' in page.text


@pytest.mark.parametrize("forgery", ["no_cookie", "no_token", "token_of_another_state", "cookie_of_another_state"])
async def test_a_post_without_the_pages_own_token_and_cookie_is_refused_403(
    app: RealApp, browser: httpx.AsyncClient, forgery: str
) -> None:
    _, hidden = await open_page(app, browser)
    _, other = await open_page(app, browser)  # a second page: its cookie replaces the first one's in the jar
    fields = login(hidden)
    cookies = {LOGIN_COOKIE: other["csrf"]}  # the jar now holds the second page's token
    if forgery == "no_cookie":
        cookies = {}
    elif forgery == "no_token":
        fields.pop("csrf")
    elif forgery == "token_of_another_state":
        fields["csrf"] = other["csrf"]
        cookies = {LOGIN_COOKIE: hidden["csrf"]}
    browser.cookies.clear()
    for name, value in cookies.items():
        browser.cookies.set(name, value, domain="bot.example.test", path="/ontop/credentials")

    answer = await browser.post("/ontop/credentials", data=fields)

    assert answer.status_code == 403, answer.text
    assert "not opened in this browser" in answer.text
    assert await saved_email_count(app) == 1, "only the login the fixture stored"


async def test_the_control_a_post_from_the_page_itself_gets_past_every_check(
    app: RealApp, browser: httpx.AsyncClient
) -> None:
    """The refusals above are about the forgery: the same post from the page reaches the Ontop check."""
    _, hidden = await open_page(app, browser)

    answer = await browser.post("/ontop/credentials", data=login(hidden))

    assert answer.status_code == 400 and "Ontop could not be reached" in answer.text


async def test_everything_the_page_shows_is_escaped(app: RealApp, browser: httpx.AsyncClient) -> None:
    async with transaction(app.runtime.sessions) as session:
        connection = await session.scalar(select(Connection))
        assert connection is not None
        await ConnectionRepo(session).save_company(
            connection.id, company_name=HOSTILE, home_currency="USD", multicurrency_enabled=False
        )
    page, hidden = await open_page(app, browser)
    again = await browser.post("/ontop/credentials", data=login(hidden, email=HOSTILE, backfill=HOSTILE))

    for shown in (page.text, again.text):
        assert "<script>" not in shown and "<img" not in shown, shown[:500]
    assert "&lt;script&gt;" in page.text and "&lt;script&gt;" in again.text
    assert again.status_code == 400 and "Choose a day" in again.text


async def test_when_slack_cannot_say_who_is_admin_nothing_is_saved(app: RealApp, browser: httpx.AsyncClient) -> None:
    _, hidden = await open_page(app, browser)
    settings = await app.runtime.service.workspace_settings(TEAM)
    await app.runtime.service.update_settings(
        TEAM,
        ADMIN,
        finance_channel_id=None,
        sync_hour=settings.sync_hour,
        timezone=settings.timezone,
        admin_user_ids=[],  # not on the allow-list any more, and Slack (unreachable here) cannot be asked
        auto_create_vendors=False,
    )

    answer = await browser.post("/ontop/credentials", data=login(hidden))

    assert answer.status_code == 503 and "could not check with Slack" in answer.text
    assert "Traceback" not in answer.text


async def test_a_link_issued_to_someone_no_longer_admin_saves_nothing(driver: Driver) -> None:
    """Through the whole product: Slack (the fake) says Bob is not an admin, whatever link he holds."""
    await driver.connect_qbo()
    async with Browser() as bob:
        page = await bob.fill_ontop_login(
            await driver.runtime.service.ontop_login_page(TEAM, MEMBER_USER),
            DEFAULT_ADMIN_EMAIL,
            DEFAULT_ADMIN_PASSWORD,
        )

    assert page.status == 403 and "Only workspace admins" in page.text
    status = await driver.runtime.service.status(TEAM)
    assert status is not None and not status.ontop_connected
