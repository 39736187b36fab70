"""The `evaluations` table: a run's checkpoint judged on a dataset, as a job on the queue."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.types import UtcDateTime, utcnow
from app.models.base import Base


class EvaluationStatus(enum.StrEnum):
    """queued → running → succeeded | failed; running → queued when its worker is lost."""

    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"


class Evaluation(Base):
    __tablename__ = "evaluations"
    __table_args__ = (Index("ix_evaluations_run", "run_id"), Index("ix_evaluations_status", "status"),
                      {"sqlite_autoincrement": True})  # fmt: skip

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    # Who asked; evaluations are as private as the run they judge.
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), default=EvaluationStatus.queued)
    queue: Mapped[str] = mapped_column(String(64))
    # The DatasetConfig as JSON, and a short label of it (the transfer matrix's column).
    dataset: Mapped[dict[str, Any]] = mapped_column(JSON)
    dataset_label: Mapped[str] = mapped_column(String(300))
    split: Mapped[str] = mapped_column(String(8))
    checkpoint: Mapped[str] = mapped_column(String(8))
    shared_classes: Mapped[bool] = mapped_column(Boolean, default=False)

    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Which delivery owns the job, as for runs: only the current attempt may finish it.
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    worker_host: Mapped[str | None] = mapped_column(String(255))
    worker_pid: Mapped[int | None] = mapped_column(Integer)

    error: Mapped[str | None] = mapped_column(Text)
    accuracy: Mapped[float | None] = mapped_column(Float)
    # loss, count, class names, confusion, per-class accuracy, mapping, split hash, epoch.
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
