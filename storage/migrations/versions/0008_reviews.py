"""the approval gate: reviews and their invoices, the gate's settings on the connection, a run's review

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-12
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(precision=20, scale=2, asdecimal=True)


def upgrade() -> None:
    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=32), nullable=True),
        sa.Column("vendors_to_create", sa.Integer(), nullable=False),
        sa.Column("vendors_to_link", sa.Integer(), nullable=False),
        sa.Column("blocked", sa.JSON(), nullable=False),
        sa.Column("created_at", storage.models.UtcDateTime(), nullable=False),
        sa.Column("expires_at", storage.models.UtcDateTime(), nullable=False),
        sa.Column("decided_by", sa.String(length=32), nullable=True),
        sa.Column("decided_at", storage.models.UtcDateTime(), nullable=True),
        sa.Column("posted_run_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_reviews_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviews")),
    )
    op.create_index("ix_reviews_connection_state", "reviews", ["connection_id", "state"], unique=False)
    op.create_index(
        "uq_reviews_one_pending_per_connection",
        "reviews",
        ["connection_id"],
        unique=True,
        sqlite_where=sa.text("state = 'pending'"),
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.create_table(
        "review_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("review_id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.String(length=64), nullable=False),
        sa.Column("invoice_number", sa.String(length=64), nullable=False),
        sa.Column("agreement_id", sa.String(length=64), nullable=True),
        sa.Column("worker_name", sa.String(length=500), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount_usd", MONEY, nullable=True),
        sa.Column("ontop_updated_at", storage.models.UtcDateTime(), nullable=False),
        sa.Column("excluded", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["review_id"],
            ["reviews.id"],
            name=op.f("fk_review_items_review_id_reviews"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_items")),
        sa.UniqueConstraint("review_id", "invoice_id", name="uq_review_items_review_invoice"),
    )
    with op.batch_alter_table("connections", schema=None) as batch_op:
        # Connections that exist already keep the product's defaults: the first sync is reviewed (a connection that
        # has booked bills is past it), later runs are not.
        batch_op.add_column(sa.Column("review_first_sync", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(sa.Column("review_later_runs", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("review_over_bills", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("review_over_usd", MONEY, nullable=True))
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("review_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.drop_column("review_id")
    with op.batch_alter_table("connections", schema=None) as batch_op:
        batch_op.drop_column("review_over_usd")
        batch_op.drop_column("review_over_bills")
        batch_op.drop_column("review_later_runs")
        batch_op.drop_column("review_first_sync")
    op.drop_table("review_items")
    op.drop_index("uq_reviews_one_pending_per_connection", table_name="reviews")
    op.drop_index("ix_reviews_connection_state", table_name="reviews")
    op.drop_table("reviews")
