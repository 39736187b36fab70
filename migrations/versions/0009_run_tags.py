"""Organising runs: notes on a run, and tags in `run_tags` (one row per run and tag).

Revision ID: 0009
Revises: 0003 (0008 already revises 0002 here; two heads would stop `upgrade head`)
Create Date: 2026-12-05 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("notes", sa.Text(), nullable=True))
    op.create_table(
        "run_tags",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_run_tags_run_id_runs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "tag", name=op.f("pk_run_tags")),
    )
    # The Runs list filters by tag: find the runs of a tag without scanning every row.
    op.create_index(op.f("ix_run_tags_tag"), "run_tags", ["tag", "run_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_run_tags_tag"), table_name="run_tags")
    op.drop_table("run_tags")
    # In place (SQLite >= 3.35, PostgreSQL), not a batch: on SQLite a batch copies `runs` and
    # loses the expression indexes of migration 0003, which its downgrade then drops.
    op.execute("ALTER TABLE runs DROP COLUMN notes")
