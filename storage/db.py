"""Async engine and sessions. SQLite gets WAL and a busy timeout so the web app and the worker share it safely."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

SQLITE_BUSY_TIMEOUT_MS = 30_000
# How a SQLite transaction begins, as a connection execution option: `transaction()` writes and takes the write lock
# up front (IMMEDIATE); a plain session from `session_factory` only reads (DEFERRED: under WAL it never waits for a
# writer, and many readers run at once). Anything else (migrations, the Slack stores) begins IMMEDIATE.
SQLITE_BEGIN = "sqlite_begin"


def create_engine(database_url: str, *, echo: bool = False) -> AsyncEngine:
    if database_url.startswith("sqlite"):
        engine = create_async_engine(database_url, echo=echo, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        _configure_sqlite(engine)
        return engine
    return create_async_engine(database_url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=10)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry) -> None:
        # pysqlite's own transaction handling breaks SAVEPOINT and BEGIN IMMEDIATE; take it over (SQLAlchemy docs).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock up front: two writers queue on busy_timeout instead of deadlocking.
        # Reads begin DEFERRED: taking the write lock for them queued every read behind the worker's writes.
        mode = "DEFERRED" if connection.get_execution_options().get(SQLITE_BEGIN) == "DEFERRED" else "IMMEDIATE"
        connection.exec_driver_sql(f"BEGIN {mode}")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for reading (`async with sessions() as session`); `transaction(sessions)` for writing."""
    return async_sessionmaker(engine, expire_on_commit=False, execution_options={SQLITE_BEGIN: "DEFERRED"})


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: commits on success, rolls back on any error."""
    async with sessions(execution_options={SQLITE_BEGIN: "IMMEDIATE"}) as session, session.begin():
        yield session


async def ping(engine: AsyncEngine) -> None:
    """One round trip to the database (readiness checks); raises whatever reaching it raises."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
