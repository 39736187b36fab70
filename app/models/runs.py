"""The `runs` table: one training run, its config, where it ran and how it ended."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.types import UtcDateTime, utcnow
from app.models.accounts import User
from app.models.base import Base


class RunStatus(enum.StrEnum):
    """queued → running → succeeded | failed | cancelled | pruned; running → queued when its worker is lost.

    `pruned`: a sweep's pruner stopped the trial after an epoch (docs/sweeps.md).
    """

    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"
    pruned = "pruned"

    @property
    def finished(self) -> bool:
        return self in (RunStatus.succeeded, RunStatus.failed, RunStatus.cancelled, RunStatus.pruned)


# What the Runs list filters on (`=`; one, or two at once) and sorts by (app/services/runs.py::list_runs).
LIST_FILTERS = ("status", "dataset", "backbone", "owner_id")
LIST_SORTS = ("created_at", "finished_at", "best_val_acc", "name", "id")
NULLABLE_SORTS = ("finished_at", "best_val_acc", "name")  # NULL (unfinished, unnamed) sorts last both ways


def list_index_columns(table: Table, filter_: str | tuple[str, ...] | None, sort: str, descending: bool) -> list[Any]:
    """The index that reads one (filter, sort) page of the Runs list in order, without a sort step.

    The list orders by `(key IS NULL), key, id`, the tie-break in the key's direction. A
    not-null key's index serves both directions (scanned backwards for DESC); a nullable one
    needs one per direction, since NULLs come last in both. `filter_` is one column or a pair
    (migration 0003 creates the single ones, 0013_h15 the pairs).
    """
    filters = () if filter_ is None else (filter_,) if isinstance(filter_, str) else filter_
    key, run_id = table.c[sort], table.c.id
    columns: list[Any] = [table.c[name] for name in filters]
    if sort in NULLABLE_SORTS:
        columns.append(key.is_(None))
    if sort != "id":
        columns.append(key.desc() if descending else key)
    columns.append(run_id.desc() if descending else run_id)
    return columns


def _sort_variants() -> list[tuple[str, bool]]:
    return [(sort, d) for sort in LIST_SORTS for d in ((False, True) if sort in NULLABLE_SORTS else (False,))]


def list_index_specs() -> list[tuple[str, str | None, str, bool]]:
    """(name, filter, sort, descending) of every one-filter Runs-list index (migration 0003).

    The unfiltered id order is the primary key.
    """
    specs = []
    for filter_ in (None, *LIST_FILTERS):
        for sort, descending in _sort_variants():
            if filter_ is None and sort == "id":
                continue
            direction = "_desc" if descending else ""
            specs.append((f"ix_runs_list_{filter_ or 'all'}_{sort}{direction}", filter_, sort, descending))
    return specs


def pair_index_specs() -> list[tuple[str, tuple[str, str], str, bool]]:
    """(name, (filter, filter), sort, descending) of the two-filter Runs-list indexes (migration 0013_h15).

    Two filters at once (a user's own list counts `owner_id` as one) read a page and count
    in one index range; with only the one-filter index, the other filter is checked row by
    row, which grows with the rows of the first (a rare pair at 1M runs scans them all).
    Three filters read a pair's index and check the third row by row.
    """
    pairs = [(a, b) for i, a in enumerate(LIST_FILTERS) for b in LIST_FILTERS[i + 1 :]]
    return [
        (f"ix_runs_pair_{a}_{b}_{sort}{'_desc' if descending else ''}", (a, b), sort, descending)
        for a, b in pairs
        for sort, descending in _sort_variants()
    ]


class Run(Base):
    __tablename__ = "runs"
    # AUTOINCREMENT on SQLite: a deleted run's id (and its runs/<id>/ folder name) is never reused.
    __table_args__ = (
        Index("ix_runs_owner_status", "owner_id", "status"),  # the quota's count of active runs
        Index("ix_runs_sweep_trial", "sweep_id", "trial_number"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=RunStatus.queued)
    queue: Mapped[str] = mapped_column(String(64))
    # The validated TrainConfig as JSON; dataset and backbone are copied out to filter on.
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    dataset: Mapped[str] = mapped_column(String(64))
    backbone: Mapped[str] = mapped_column(String(64))
    epochs: Mapped[int] = mapped_column(Integer)
    cloned_from: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    # Who started it; None for runs of a deleted user. Users see their own runs, admins all.
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Loaded on access (lists use selectinload): a joined load would break FOR UPDATE on PostgreSQL.
    owner: Mapped[User | None] = relationship()
    # A sweep's trial: which sweep, Optuna's trial number, and the parameters it drew.
    sweep_id: Mapped[int | None] = mapped_column(ForeignKey("sweeps.id", ondelete="SET NULL"))
    trial_number: Mapped[int | None] = mapped_column(Integer)
    trial_params: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    # Which delivery owns the run: a worker writes only while its attempt number is current.
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    worker_host: Mapped[str | None] = mapped_column(String(255))
    worker_pid: Mapped[int | None] = mapped_column(Integer)
    gpu: Mapped[str | None] = mapped_column(String(255))
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)

    error: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The latest `RunProgress` the owning worker's heartbeat carried; cleared when an attempt starts or ends.
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    epochs_done: Mapped[int] = mapped_column(Integer, default=0)
    best_val_acc: Mapped[float | None] = mapped_column(Float)

    # Organising: free-form markdown notes (rendered sanitised on the Run page) and tags.
    notes: Mapped[str | None] = mapped_column(Text)
    # Loaded with selectinload by lists, like `owner`; deleted with the run.
    tag_rows: Mapped[list[RunTag]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="RunTag.tag"
    )

    @property
    def tags(self) -> list[str]:
        """The run's tags, sorted."""
        return sorted(row.tag for row in self.tag_rows)

    @property
    def owner_name(self) -> str | None:
        """The name of the user who started the run, for the API and the Runs page."""
        return None if self.owner is None else self.owner.name


for _name, _filter, _sort, _descending in [*list_index_specs(), *pair_index_specs()]:
    Index(_name, *list_index_columns(Run.__table__, _filter, _sort, _descending))


class RunTag(Base):
    """One tag of one run; the Runs list filters on `tag` (index in migration 0009)."""

    __tablename__ = "run_tags"
    __table_args__ = (Index("ix_run_tags_tag", "tag", "run_id"),)

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(40), primary_key=True)
