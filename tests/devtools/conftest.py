"""Fixtures for the Slack dev tools: a fake Slack Web API served over real HTTP on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Iterator
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from devtools.fake_slack import FakeSlack


class ManualClock:
    """A clock the test moves by hand, so expiry is tested without sleeping."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def fake(clock: ManualClock) -> Iterator[FakeSlack]:
    with FakeSlack(clock=clock) as running:
        yield running


@pytest.fixture
async def client(fake: FakeSlack) -> AsyncIterator[AsyncWebClient]:
    """The bot's client exactly as the app builds it: slack_sdk pointed at the fake."""
    yield AsyncWebClient(token="xoxb-test", base_url=fake.api_url)


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def modal(blocks: list[dict[str, Any]] | None = None, title: str = "Map accounts", **extra: Any) -> dict[str, Any]:
    return {"type": "modal", "title": {"type": "plain_text", "text": title}, "blocks": blocks or [], **extra}


async def slack_error(call: Awaitable[Any]) -> SlackApiError:
    """The SlackApiError the call raises (the test fails if it succeeds)."""
    with pytest.raises(SlackApiError) as raised:
        await call
    return raised.value


async def error_code(call: Awaitable[Any]) -> str:
    """Slack's `error` for a refused call."""
    return str((await slack_error(call)).response["error"])
