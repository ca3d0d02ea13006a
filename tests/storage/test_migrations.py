"""The migrations and the models describe the same schema, on both backends."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import migrate
from storage.models import Base


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_autogenerate_finds_no_difference_between_migrations_and_models(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        differences = await connection.run_sync(_differences)
    assert differences == []


async def test_migrations_run_down_to_nothing_and_back_up(engine: AsyncEngine) -> None:
    await migrate.downgrade(engine, "base")
    async with engine.connect() as connection:
        remaining = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    assert remaining <= {"alembic_version"}

    await migrate.upgrade(engine)
    async with engine.connect() as connection:
        tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    assert set(Base.metadata.tables) <= tables
    assert await migrate.current_revision(engine) is not None


async def _names_after_upgrade(engine: AsyncEngine) -> dict[int, str]:
    await migrate.upgrade(engine, "0010")
    async with engine.connect() as connection:
        rows = await connection.execute(text("SELECT id, name FROM connections ORDER BY id"))
        return {row.id: row.name for row in rows}


async def test_existing_connections_are_named_from_their_company_through_0010_and_back(engine: AsyncEngine) -> None:
    await migrate.downgrade(engine, "0009")
    async with engine.begin() as connection:
        for team in ("T1", "T2"):
            await connection.execute(
                text(
                    "INSERT INTO workspaces (team_id, enterprise_id, team_name, sync_hour, timezone, admin_user_ids,"
                    " auto_create_vendors, created_at, updated_at)"
                    " VALUES (:team, '', '', 7, 'UTC', '[]', true, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {"team": team},
            )
        workspace_ids = [row[0] for row in await connection.execute(text("SELECT id FROM workspaces ORDER BY id"))]
        companies = [
            (workspace_ids[0], "Acme US, Inc.", "disconnected"),
            (workspace_ids[0], "Acme US, Inc.", "active"),
            (workspace_ids[0], "Acme US Inc", "pending"),
            (workspace_ids[1], "Acme US, Inc.", "active"),
            (workspace_ids[1], "", "pending"),
        ]
        for index, (workspace_id, company, status) in enumerate(companies):
            await connection.execute(
                text(
                    "INSERT INTO connections (workspace_id, status, realm_id, company_name, home_currency,"
                    " multicurrency_enabled, token_version, first_sync_enqueued, company_country, payments_enabled,"
                    " fees_on_contractor_bill, supplier_currency, ap_account_ids, review_first_sync,"
                    " review_later_runs, created_at, updated_at)"
                    " VALUES (:workspace, :status, :realm, :company, 'USD', false, 0, false, 'USA', true, false,"
                    " 'contract', '{}', true, false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {"workspace": workspace_id, "status": status, "realm": f"realm-{index}", "company": company},
            )

    names = await _names_after_upgrade(engine)
    # Open connections are named first, so the one people use keeps the plain name; the old one gets a number.
    assert list(names.values()) == ["acme-us-inc-3", "acme-us-inc", "acme-us-inc-2", "acme-us-inc", "company"]

    await migrate.downgrade(engine, "0009")
    async with engine.connect() as connection:
        columns = await connection.run_sync(lambda sync: {c["name"] for c in inspect(sync).get_columns("connections")})
    assert "name" not in columns
    assert await _names_after_upgrade(engine) == names
    await migrate.upgrade(engine)
