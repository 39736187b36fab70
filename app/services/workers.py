"""Workers' signs of life, and the health of the service's dependencies."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import delete, select, text

from app.db.types import utcnow
from app.models import WorkerSeen
from app.schemas.health import HealthRead, WorkerRead
from app.services import disk
from app.services.unit_of_work import UnitOfWork


def worker_seen(*, uow: UnitOfWork, name: str, host: str, pid: int, queues: list[str], gpu: str | None) -> None:
    """Record that worker `name` is alive now (inserting it on first sight)."""
    with uow.writing() as db:
        row = db.get(WorkerSeen, name)
        if row is None:
            row = WorkerSeen(name=name, started_at=utcnow())
            db.add(row)
        row.host, row.pid, row.queues, row.gpu, row.last_seen = host, pid, ",".join(queues), gpu, utcnow()


def worker_gone(*, uow: UnitOfWork, name: str) -> None:
    """Forget a worker that shut down cleanly."""
    with uow.writing() as db:
        db.execute(delete(WorkerSeen).where(WorkerSeen.name == name))


def live_workers(*, uow: UnitOfWork) -> list[WorkerRead]:
    """Workers heard from within the heartbeat timeout."""
    cutoff = utcnow() - timedelta(seconds=uow.settings.heartbeat_timeout_s)
    with uow.reading() as db:
        rows = db.scalars(select(WorkerSeen).where(WorkerSeen.last_seen >= cutoff).order_by(WorkerSeen.name))
        return [
            WorkerRead(name=r.name, host=r.host, pid=r.pid, queues=r.queues.split(","), gpu=r.gpu, last_seen=r.last_seen)
            for r in rows
        ]


def health(*, uow: UnitOfWork, detail: bool) -> HealthRead:
    """Whether the database and the broker answer, and how many workers are alive.

    With `detail` off (a server with accounts: /healthz answers anyone) errors say only
    "error" and workers are counted, not listed: host names, pids and connection errors
    are for logged-in users (GET /api/workers).
    """
    database = _check(lambda: _ping_database(uow))
    broker = _check(uow.tasks.ping)
    workers = live_workers(uow=uow) if database == "ok" else []
    volumes = disk.volumes(uow.settings)
    answering = "degraded" if any(v.low for v in volumes) else "ok"
    return HealthRead(
        status=answering if database == broker == "ok" else "unavailable", volumes=volumes,
        database=database if detail or database == "ok" else "error",
        broker=broker if detail or broker == "ok" else "error",
        worker_count=len(workers),
        workers=workers if detail else [],
    )


def _ping_database(uow: UnitOfWork) -> None:
    with uow.reading() as db:
        db.execute(text("SELECT 1")).scalar_one()


def _check(probe: Callable[[], object]) -> str:
    try:
        probe()
    except Exception as exc:  # noqa: BLE001 (a health check reports every failure, it never raises)
        return f"error: {type(exc).__name__}: {exc}"[:300]
    return "ok"
