"""several QuickBooks companies per workspace: a short name per connection, its own finance channel and schedule,
and the connection an Ontop login page is for

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-20
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

NAME_LENGTH = 24


def _short_name(company_name: str, taken: set[str]) -> str:
    """A copy of sync.naming.short_name as it was when this migration was written (migrations never change)."""
    base = re.sub(r"[^a-z0-9]+", "-", company_name.lower()).strip("-")[:NAME_LENGTH].strip("-") or "company"
    name, number = base, 2
    while name in taken:
        suffix = f"-{number}"
        name = f"{base[: NAME_LENGTH - len(suffix)].rstrip('-')}{suffix}"
        number += 1
    return name


def _name_existing_connections() -> None:
    """Every connection gets a name from its company, unique among its workspace's (open ones first, oldest first)."""
    connections = sa.table(
        "connections",
        sa.column("id", sa.Integer),
        sa.column("workspace_id", sa.Integer),
        sa.column("company_name", sa.String),
        sa.column("status", sa.String),
        sa.column("name", sa.String),
    )
    bind = op.get_bind()
    rows = sorted(
        bind.execute(
            sa.select(connections.c.id, connections.c.workspace_id, connections.c.company_name, connections.c.status)
        ).all(),
        key=lambda row: (row.status == "disconnected", row.id),
    )
    taken: dict[int, set[str]] = {}
    for row in rows:
        names = taken.setdefault(row.workspace_id, set())
        name = _short_name(row.company_name or "", names)
        names.add(name)
        bind.execute(connections.update().where(connections.c.id == row.id).values(name=name))


def upgrade() -> None:
    with op.batch_alter_table("connections", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name", sa.String(length=32), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("finance_channel_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("sync_hour", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("timezone", sa.String(length=64), nullable=True))
    _name_existing_connections()
    with op.batch_alter_table("connections", schema=None) as batch_op:
        batch_op.alter_column("name", server_default=None)
        batch_op.create_index(
            "uq_connections_workspace_open_name",
            ["workspace_id", "name"],
            unique=True,
            sqlite_where=sa.text("status != 'disconnected' AND name != ''"),
            postgresql_where=sa.text("status != 'disconnected' AND name != ''"),
        )
    with op.batch_alter_table("qbo_oauth_states", schema=None) as batch_op:
        batch_op.add_column(sa.Column("connection_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_qbo_oauth_states_connection_id_connections"),
            "connections",
            ["connection_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    with op.batch_alter_table("qbo_oauth_states", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_qbo_oauth_states_connection_id_connections"), type_="foreignkey")
        batch_op.drop_column("connection_id")
    with op.batch_alter_table("connections", schema=None) as batch_op:
        batch_op.drop_index("uq_connections_workspace_open_name")
        batch_op.drop_column("timezone")
        batch_op.drop_column("sync_hour")
        batch_op.drop_column("finance_channel_id")
        batch_op.drop_column("name")
