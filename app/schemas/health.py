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


class HealthRead(BaseModel):
    status: Literal["ok", "unavailable"]
    database: str
    broker: str
    worker_count: int
    workers: list[WorkerRead]  # empty on a server with accounts: see GET /api/workers
