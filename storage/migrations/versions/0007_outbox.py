"""the notifications outbox; review cases and held invoices counted apart from failures

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", storage.models.UtcDateTime(), nullable=False),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        sa.Column("lease_until", storage.models.UtcDateTime(), nullable=True),
        sa.Column("channel_id", sa.String(length=32), nullable=True),
        sa.Column("ts", sa.String(length=32), nullable=True),
        sa.Column("post_started_at", storage.models.UtcDateTime(), nullable=True),
        sa.Column("reply_ts", sa.String(length=32), nullable=True),
        sa.Column("pages_posted", sa.Integer(), nullable=False),
        sa.Column("file_posted", sa.Boolean(), nullable=False),
        sa.Column("fell_back", sa.Text(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", storage.models.UtcDateTime(), nullable=False),
        sa.Column("delivered_at", storage.models.UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_notifications_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("workspace_id", "key", name="uq_notifications_workspace_key"),
    )
    op.create_index("ix_notifications_state_next_attempt", "notifications", ["state", "next_attempt_at"], unique=False)
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("review_cases", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("held", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.drop_column("held")
        batch_op.drop_column("review_cases")
    op.drop_index("ix_notifications_state_next_attempt", table_name="notifications")
    op.drop_table("notifications")
