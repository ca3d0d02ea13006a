"""class and location tracking: cached QBO classes and departments, a class per concept, a class and location per worker

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _tracking_list(table: str) -> None:
    """qbo_classes and qbo_departments share their shape (cached like qbo_accounts)."""
    op.create_table(
        table,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("qbo_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("fully_qualified_name", sa.String(length=1024), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f(f"fk_{table}_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
        sa.UniqueConstraint("connection_id", "qbo_id", name=f"uq_{table}_connection_qbo_id"),
    )
    op.create_index(op.f(f"ix_{table}_connection_id"), table, ["connection_id"], unique=False)


def upgrade() -> None:
    _tracking_list("qbo_classes")
    _tracking_list("qbo_departments")
    op.create_table(
        "worker_tracking",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sa.String(length=64), nullable=False),
        sa.Column("class_id", sa.String(length=64), nullable=True),
        sa.Column("class_name", sa.String(length=1024), nullable=True),
        sa.Column("department_id", sa.String(length=64), nullable=True),
        sa.Column("department_name", sa.String(length=1024), nullable=True),
        sa.Column("updated_by", sa.String(length=32), nullable=True),
        sa.Column("updated_at", storage.models.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_worker_tracking_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_worker_tracking")),
        sa.UniqueConstraint("connection_id", "agreement_id", name="uq_worker_tracking_connection_agreement"),
    )
    op.create_index(op.f("ix_worker_tracking_connection_id"), "worker_tracking", ["connection_id"], unique=False)
    with op.batch_alter_table("concept_mappings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("class_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("class_name", sa.String(length=1024), nullable=True))
    with op.batch_alter_table("connections", schema=None) as batch_op:
        # Existing connections track nothing until a run reads their preferences.
        batch_op.add_column(sa.Column("class_tracking", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("track_departments", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("connections", schema=None) as batch_op:
        batch_op.drop_column("track_departments")
        batch_op.drop_column("class_tracking")
    with op.batch_alter_table("concept_mappings", schema=None) as batch_op:
        batch_op.drop_column("class_name")
        batch_op.drop_column("class_id")
    op.drop_index(op.f("ix_worker_tracking_connection_id"), table_name="worker_tracking")
    op.drop_table("worker_tracking")
    for table in ("qbo_departments", "qbo_classes"):
        op.drop_index(op.f(f"ix_{table}_connection_id"), table_name=table)
        op.drop_table(table)
