"""Fixtures: a clean database per test on SQLite and PostgreSQL, and the secrets box."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage import migrate
from storage.crypto import SecretBox, generate_key
from storage.db import create_engine, session_factory
from storage.models import Base

# On CI every Hypothesis test draws the same examples on every run (derandomize: the seed comes from the test
# itself), so a failure seen there reproduces with the same command; locally each run explores new ones.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
hypothesis_settings.register_profile("dev")
HYPOTHESIS_PROFILE = "ci" if os.environ.get("CI", "").lower() == "true" else "dev"
hypothesis_settings.load_profile(HYPOTHESIS_PROFILE)


def pytest_report_header(config: pytest.Config) -> str:
    return f"hypothesis profile: {HYPOTHESIS_PROFILE} (derandomize={hypothesis_settings.default.derandomize})"


# The server CI provides; override with TEST_POSTGRES_URL to point at another one.
DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
BACKENDS = ["sqlite", "postgresql"]


def postgres_admin_url() -> str:
    return os.environ.get("TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


async def _create_postgres_database(admin_url: str, name: str) -> None:
    engine = create_engine(admin_url)
    try:
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()


async def _drop_postgres_database(admin_url: str, name: str) -> None:
    engine = create_engine(admin_url)
    try:
        async with engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await engine.dispose()


async def _upgrade(url: str) -> None:
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A private PostgreSQL database for this test session, migrated to head, dropped at the end.

    Each pytest run gets its own database so that parallel runs on one server never see each other's rows.
    """
    admin = postgres_admin_url()
    name = f"qbo_bot_test_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_create_postgres_database(admin, name))
    except Exception as exc:  # any failure to reach the server means "no PostgreSQL"
        message = f"PostgreSQL at {make_url(admin).render_as_string(hide_password=True)} is unreachable: {exc}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI=true: PostgreSQL is required)")
        pytest.skip(message)
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_upgrade(url))
    yield url
    asyncio.run(_drop_postgres_database(admin, name))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (faster than migrating every time)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite3"
    asyncio.run(_upgrade(f"sqlite+aiosqlite:///{path}"))
    return path


async def _truncate_postgres(engine: AsyncEngine) -> None:
    names = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    async with engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a clean, migrated database on each backend; test ids show [sqlite] and [postgresql]."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "test.sqlite3"
        shutil.copyfile(template, target)
        return f"sqlite+aiosqlite:///{target}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    created = create_engine(database_url)
    if created.dialect.name == "postgresql":
        await _truncate_postgres(created)
    yield created
    await created.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine)


@pytest.fixture
async def sqlite_engine(sqlite_template: Path, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """For tests that need a database but are not about storage: SQLite only."""
    target = tmp_path / "app.sqlite3"
    shutil.copyfile(sqlite_template, target)
    created = create_engine(f"sqlite+aiosqlite:///{target}")
    yield created
    await created.dispose()


@pytest.fixture
def sqlite_sessions(sqlite_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(sqlite_engine)


@pytest.fixture
def secret_box() -> SecretBox:
    return SecretBox(generate_key())
