"""Sweeps: the `sweeps` table; a run may be a sweep's trial (`sweep_id`, `trial_number`, `trial_params`).

The new run status `pruned` needs no schema change (`runs.status` is a string).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 14:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

TIMESTAMP = sa.DateTime(timezone=True)

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sweeps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("queue", sa.String(length=64), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("base_config", sa.JSON(), nullable=False),
        sa.Column("study_name", sa.String(length=100), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_sweeps_owner_id_users"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sweeps")),
        sa.UniqueConstraint("study_name", name=op.f("uq_sweeps_study_name")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_sweeps_owner_created", "sweeps", ["owner_id", "created_at"])
    # Columns added in place, not by a batch: on SQLite a batch copies `runs` and loses the list's
    # expression indexes (migration 0003). SQLite takes the foreign key inline with ADD COLUMN.
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE runs ADD COLUMN sweep_id INTEGER REFERENCES sweeps (id) ON DELETE SET NULL")
    else:
        op.add_column("runs", sa.Column("sweep_id", sa.Integer(), nullable=True))
        op.create_foreign_key(op.f("fk_runs_sweep_id_sweeps"), "runs", "sweeps", ["sweep_id"], ["id"], ondelete="SET NULL")
    op.add_column("runs", sa.Column("trial_number", sa.Integer(), nullable=True))
    op.add_column("runs", sa.Column("trial_params", sa.JSON(), nullable=True))
    op.create_index("ix_runs_sweep_trial", "runs", ["sweep_id", "trial_number"])


def downgrade() -> None:
    op.drop_index("ix_runs_sweep_trial", table_name="runs")
    op.drop_column("runs", "trial_params")
    op.drop_column("runs", "trial_number")
    if op.get_bind().dialect.name == "sqlite":
        # SQLite cannot drop a column under a foreign key in place: the batch copies `runs`, which
        # drops 0003's expression indexes too (its downgrade then skips them: DROP INDEX IF EXISTS).
        with op.batch_alter_table("runs") as batch:
            batch.drop_column("sweep_id")
    else:
        op.drop_constraint(op.f("fk_runs_sweep_id_sweeps"), "runs", type_="foreignkey")
        op.drop_column("runs", "sweep_id")
    op.drop_index("ix_sweeps_owner_created", table_name="sweeps")
    op.drop_table("sweeps")
