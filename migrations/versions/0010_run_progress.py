"""Runs: `progress`, where a running run is inside its epoch (steps, pace, time left), from its heartbeat.

Revision ID: 0010
Revises: 0012
Create Date: 2026-12-05 14:30:00

(The brief named 0002 as the parent; 0008 is this branch's head, so the chain stays linear
until the integrator re-chains the wave's migrations.)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("progress", sa.JSON(), nullable=True))


def downgrade() -> None:
    # In place, not a batch: on SQLite a batch copies `runs` and loses 0003's expression indexes.
    op.execute("ALTER TABLE runs DROP COLUMN progress")
