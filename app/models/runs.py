"""The `runs` table: one training run, its config, where it ran and how it ended."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text
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


class Run(Base):
    __tablename__ = "runs"
    # AUTOINCREMENT on SQLite: a deleted run's id (and its runs/<id>/ folder name) is never reused.
    __table_args__ = (
        Index("ix_runs_status_created", "status", "created_at"),
        Index("ix_runs_dataset_created", "dataset", "created_at"),
        Index("ix_runs_backbone_created", "backbone", "created_at"),
        Index("ix_runs_created", "created_at"),
        Index("ix_runs_best_val_acc", "best_val_acc"),
        Index("ix_runs_owner_status", "owner_id", "status"),
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
    epochs_done: Mapped[int] = mapped_column(Integer, default=0)
    best_val_acc: Mapped[float | None] = mapped_column(Float)

    @property
    def owner_name(self) -> str | None:
        """The name of the user who started the run, for the API and the Runs page."""
        return None if self.owner is None else self.owner.name
