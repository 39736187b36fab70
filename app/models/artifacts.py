"""The `artifacts` table: files a run left under the data root (checkpoints, metrics)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.types import UtcDateTime, utcnow
from app.models.base import Base


class Artifact(Base):
    __tablename__ = "artifacts"
    __table_args__ = (UniqueConstraint("run_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    # "best" (best.pt), "last" (checkpoint.pt), "metrics" (metrics.jsonl), "summary" (summary.json)
    kind: Mapped[str] = mapped_column(String(32))
    # Relative to the data root, so a shared volume mounted elsewhere still resolves.
    path: Mapped[str] = mapped_column(String(1024))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
