"""The `datasets` table: dataset folders found under the data root by the last scan."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.types import UtcDateTime, utcnow
from app.models.base import Base


class DatasetFolder(Base):
    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("name", "path"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))  # catalog key, e.g. "hymenoptera" or "imagefolder"
    path: Mapped[str] = mapped_column(String(1024))  # relative to the data root
    num_classes: Mapped[int | None] = mapped_column(Integer)
    num_images: Mapped[int | None] = mapped_column(Integer)
    scanned_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # Who uploaded it; null for a folder an admin placed under the data root (or a deleted user).
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
