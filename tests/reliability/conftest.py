"""Fixtures for the reliability suite: the whole product on loopback, and the --soak option."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from bot.devtools.stack import LocalStack, StackOptions
from tests.reliability.support import Driver

TIME_SCALE = 0.01  # QBO's rate windows shrink a hundredfold on both sides: limits stay real, tests stay fast


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--soak", action="store_true", default=False, help="run the long reliability soak")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "stack(**options): StackOptions overrides for the `stack` fixture")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--soak"):
        return
    skip = pytest.mark.skip(reason="soak: opt in with --soak")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)


def stack_options(**overrides: object) -> StackOptions:
    values: dict[str, object] = {
        "workers": 8,
        "invoices": 30,
        "months": 2,
        "time_scale": TIME_SCALE,
        "worker_poll_seconds": 0.05,
    }
    values.update(overrides)
    return StackOptions(**values)  # type: ignore[arg-type]


@pytest.fixture
def stack(request: pytest.FixtureRequest) -> Iterator[LocalStack]:
    marker = request.node.get_closest_marker("stack")
    with LocalStack(stack_options(**(marker.kwargs if marker else {}))) as started:
        yield started


@pytest.fixture
async def driver(stack: LocalStack) -> AsyncIterator[Driver]:
    built = Driver(stack)
    yield built
    await built.aclose()
