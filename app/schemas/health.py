"""API shape of /healthz."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel


class WorkerRead(BaseModel):
    name: str
    host: str
    pid: int
    queues: list[str]
    gpu: str | None
    last_seen: datetime


class VolumeRead(BaseModel):
    """Free space where the service writes: `data` (data root: checkpoints, uploads) and `database`
    (an SQLite database's folder; a database server's disk is that server's to watch)."""

    name: Literal["data", "database"]
    free_bytes: int
    total_bytes: int
    low: bool  # under the `min_free_disk_gb` setting


class HealthRead(BaseModel):
    status: Literal["ok", "degraded", "unavailable"]  # degraded: answering, but a volume is low on space
    database: str
    broker: str
    worker_count: int
    workers: list[WorkerRead]  # empty on a server with accounts: see GET /api/workers
    volumes: list[VolumeRead] = []
