"""Fixtures for the Slack dev tools: a fake Slack Web API served over real HTTP on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
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
