"""job queue invariants: one queued and one running run per connection, one daily run per local date

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.create_index(
            "uq_sync_runs_one_queued_per_connection",
            ["connection_id"],
            unique=True,
            sqlite_where=sa.text("status = 'queued'"),
            postgresql_where=sa.text("status = 'queued'"),
        )
        batch_op.create_index(
            "uq_sync_runs_one_running_per_connection",
            ["connection_id"],
            unique=True,
            sqlite_where=sa.text("status = 'running'"),
            postgresql_where=sa.text("status = 'running'"),
        )
        batch_op.create_unique_constraint("uq_sync_runs_connection_scheduled_for", ["connection_id", "scheduled_for"])


def downgrade() -> None:
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.drop_constraint("uq_sync_runs_connection_scheduled_for", type_="unique")
        batch_op.drop_index("uq_sync_runs_one_running_per_connection")
        batch_op.drop_index("uq_sync_runs_one_queued_per_connection")
