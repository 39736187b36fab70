"""The `sweeps` table: one Optuna study over run configs, owned by a user; its trials are runs."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.types import UtcDateTime, utcnow
from app.models.accounts import User
from app.models.base import Base


class SweepState(enum.StrEnum):
    """running → finished (every trial ended) | cancelled (by its owner)."""

    running = "running"
    finished = "finished"
    cancelled = "cancelled"


class Sweep(Base):
    __tablename__ = "sweeps"
    __table_args__ = (Index("ix_sweeps_owner_created", "owner_id", "created_at"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16), default=SweepState.running)
    queue: Mapped[str] = mapped_column(String(64))
    # The validated SweepSpec as given, and the base TrainConfig it resolved to (`run:<id>` weights resolved).
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    base_config: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The study's name in Optuna's storage (app/sweeps/storage.py), unique per sweep.
    study_name: Mapped[str] = mapped_column(String(100), unique=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    owner: Mapped[User | None] = relationship()
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    error: Mapped[str | None] = mapped_column(Text)
