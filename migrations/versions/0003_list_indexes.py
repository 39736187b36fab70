"""Runs list: one index per (filter, sort), so every sort and filter reads a page in index order.

Sorting by best val accuracy, name or finished time scanned and sorted every matching row:
the order `(key IS NULL), key, id` (NULLs last both ways) matched no index. Each index here
starts with the filter's column (or none), then that order, so both SQLite and PostgreSQL
read the first page without a sort step. A nullable key has one index per direction; a
not-null key's index serves both (read backwards). The old `(filter, created_at)` and
`best_val_acc` indexes are prefixes of these or unused, and go.

The list of indexes is written out here rather than imported from `app.models.runs`, so this
revision keeps meaning what it meant when the models change.

Revision ID: 0003
Revises: 0008
Create Date: 2026-12-05 13:30:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0008"
branch_labels = None
depends_on = None

FILTERS = (None, "status", "dataset", "backbone", "owner_id")
SORTS = ("created_at", "finished_at", "best_val_acc", "name", "id")
NULLABLE = ("finished_at", "best_val_acc", "name")
OLD = {
    "ix_runs_status_created": ["status", "created_at"],
    "ix_runs_dataset_created": ["dataset", "created_at"],
    "ix_runs_backbone_created": ["backbone", "created_at"],
    "ix_runs_created": ["created_at"],
    "ix_runs_best_val_acc": ["best_val_acc"],
}


def _indexes() -> list[tuple[str, list[Any]]]:
    runs = sa.table("runs", *(sa.column(name) for name in {*SORTS, *(f for f in FILTERS if f)}))
    indexes = []
    for filter_ in FILTERS:
        for sort in SORTS:
            for descending in (False, True) if sort in NULLABLE else (False,):
                if filter_ is None and sort == "id":
                    continue  # the primary key
                key, run_id = runs.c[sort], runs.c.id
                columns: list[Any] = [] if filter_ is None else [runs.c[filter_]]
                if sort in NULLABLE:
                    columns.append(key.is_(None))
                if sort != "id":
                    columns.append(key.desc() if descending else key)
                columns.append(run_id.desc() if descending else run_id)
                name = f"ix_runs_list_{filter_ or 'all'}_{sort}{'_desc' if descending else ''}"
                indexes.append((name, columns))
    return indexes


def upgrade() -> None:
    for name in OLD:
        op.drop_index(name, table_name="runs")
    for name, columns in _indexes():
        op.create_index(name, "runs", columns)


def downgrade() -> None:
    for name, _ in _indexes():
        # IF EXISTS: on SQLite a later migration's downgrade may have copied `runs` (a batch),
        # which keeps no expression index.
        op.execute(f"DROP INDEX IF EXISTS {name}")
    for name, columns in OLD.items():
        op.create_index(name, "runs", columns)
