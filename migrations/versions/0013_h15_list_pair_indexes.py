"""Runs list: an index per pair of filters and sort, so two filters at once stay flat as the table grows.

With only 0003's one-filter indexes, `status=failed&dataset=digits` read the status index in
order and checked the dataset row by row: the page stopped after 50 hits, but a rare pair (and
the count) read every row of the first filter (25–30 → 120–210 ms from 10k to 100k runs). Each
index here starts with both filters' columns, then the list's order `(key IS NULL), key, id`.
A user's own list is filtered by `owner_id`, so a user's list with one filter is a pair too.

Written out rather than imported from `app.models.runs`, so this revision keeps its meaning.
Adds indexes only (no batch copy of `runs` on SQLite).

Revision ID: 0013_h15
Revises: 0011
Create Date: 2026-12-05 17:30:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0013_h15"
down_revision = "0011"
branch_labels = None
depends_on = None

FILTERS = ("status", "dataset", "backbone", "owner_id")
SORTS = ("created_at", "finished_at", "best_val_acc", "name", "id")
NULLABLE = ("finished_at", "best_val_acc", "name")


def _indexes() -> list[tuple[str, list[Any]]]:
    runs = sa.table("runs", *(sa.column(name) for name in {*SORTS, *FILTERS}))
    indexes = []
    for i, first in enumerate(FILTERS):
        for second in FILTERS[i + 1 :]:
            for sort in SORTS:
                for descending in (False, True) if sort in NULLABLE else (False,):
                    key, run_id = runs.c[sort], runs.c.id
                    columns: list[Any] = [runs.c[first], runs.c[second]]
                    if sort in NULLABLE:
                        columns.append(key.is_(None))
                    if sort != "id":
                        columns.append(key.desc() if descending else key)
                    columns.append(run_id.desc() if descending else run_id)
                    name = f"ix_runs_pair_{first}_{second}_{sort}{'_desc' if descending else ''}"
                    indexes.append((name, columns))
    return indexes


def upgrade() -> None:
    for name, columns in _indexes():
        op.create_index(name, "runs", columns)


def downgrade() -> None:
    for name, _ in _indexes():
        op.execute(f"DROP INDEX IF EXISTS {name}")
