"""bills first: what a big run left on its way (payments, fee bills, PDFs), the run that finishes it, and the PDFs
a run attached

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

COUNTS = ("payments_to_follow", "fee_bills_to_follow", "pdfs_to_follow", "attachments_created")


def upgrade() -> None:
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        for name in COUNTS:
            batch_op.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("follow_up_run_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sync_runs", schema=None) as batch_op:
        batch_op.drop_column("follow_up_run_id")
        for name in reversed(COUNTS):
            batch_op.drop_column(name)
