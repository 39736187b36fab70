"""Sweeps: the `sweeps` table; a run may be a sweep's trial (`sweep_id`, `trial_number`, `trial_params`).

The new run status `pruned` needs no schema change (`runs.status` is a string).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 14:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.models.runs import list_index_columns, list_index_specs

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
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("sweep_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("trial_number", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("trial_params", sa.JSON(), nullable=True))
        batch.create_foreign_key(op.f("fk_runs_sweep_id_sweeps"), "sweeps", ["sweep_id"], ["id"], ondelete="SET NULL")
        batch.create_index("ix_runs_sweep_trial", ["sweep_id", "trial_number"])
    _restore_list_indexes()


def _restore_list_indexes() -> None:
    """On SQLite a batch copies `runs`, and no expression index survives the copy: create the Runs
    list's indexes (migration 0003) again. (SQLite cannot add a named foreign key in place.)"""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    present = set(bind.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'index'").scalars())
    runs = sa.Table("runs", sa.MetaData(), autoload_with=bind)
    for name, filter_, sort, descending in list_index_specs():
        if name not in present:
            op.create_index(name, "runs", list_index_columns(runs, filter_, sort, descending))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_index("ix_runs_sweep_trial")
        batch.drop_constraint(op.f("fk_runs_sweep_id_sweeps"), type_="foreignkey")
        batch.drop_column("trial_params")
        batch.drop_column("trial_number")
        batch.drop_column("sweep_id")
    _restore_list_indexes()
    op.drop_index("ix_sweeps_owner_created", table_name="sweeps")
    op.drop_table("sweeps")
