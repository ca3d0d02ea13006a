"""class and location tracking: cached QBO classes and departments, a class per concept, a class and location per worker

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled in by the tracking work


def downgrade() -> None:
    pass
