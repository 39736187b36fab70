"""Workers' signs of life, and the health of the service's dependencies."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from celery import Celery
from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from app.db import write_transaction
from app.db.types import utcnow
from app.models import WorkerSeen
from app.schemas.health import HealthRead, WorkerRead
from app.services import disk
from app.settings import Settings
from worker.celery_app import is_sql_broker, sql_broker_engine


def worker_seen(*, db: Session, name: str, host: str, pid: int, queues: list[str], gpu: str | None) -> None:
    """Record that worker `name` is alive now (inserting it on first sight)."""
    write_transaction(db)
    row = db.get(WorkerSeen, name)
    if row is None:
        row = WorkerSeen(name=name, started_at=utcnow())
        db.add(row)
    row.host, row.pid, row.queues, row.gpu, row.last_seen = host, pid, ",".join(queues), gpu, utcnow()
    db.commit()


def worker_gone(*, db: Session, name: str) -> None:
    """Forget a worker that shut down cleanly."""
    write_transaction(db)
    db.execute(delete(WorkerSeen).where(WorkerSeen.name == name))
    db.commit()


def live_workers(*, db: Session, settings: Settings) -> list[WorkerRead]:
    """Workers heard from within the heartbeat timeout."""
    cutoff = utcnow() - timedelta(seconds=settings.heartbeat_timeout_s)
    rows = db.scalars(select(WorkerSeen).where(WorkerSeen.last_seen >= cutoff).order_by(WorkerSeen.name))
    return [
        WorkerRead(name=r.name, host=r.host, pid=r.pid, queues=r.queues.split(","), gpu=r.gpu, last_seen=r.last_seen)
        for r in rows
    ]


def health(*, db: Session, celery: Celery, settings: Settings, detail: bool) -> HealthRead:
    """Whether the database and the broker answer, and how many workers are alive.

    With `detail` off (a server with accounts: /healthz answers anyone) errors say only
    "error" and workers are counted, not listed: host names, pids and connection errors
    are for logged-in users (GET /api/workers).
    """
    database = _check(lambda: db.execute(text("SELECT 1")).scalar_one())
    broker = _check(lambda: _ping_broker(celery, settings))
    workers = live_workers(db=db, settings=settings) if database == "ok" else []
    volumes = disk.volumes(settings)
    answering = "degraded" if any(v.low for v in volumes) else "ok"
    return HealthRead(
        status=answering if database == broker == "ok" else "unavailable", volumes=volumes,
        database=database if detail or database == "ok" else "error",
        broker=broker if detail or broker == "ok" else "error",
        worker_count=len(workers),
        workers=workers if detail else [],
    )


def _ping_broker(celery: Celery, settings: Settings) -> None:
    if is_sql_broker(settings):
        _ping_sql_broker(settings)
        return
    with celery.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, timeout=settings.publish_timeout_s)
        # Declaring the default queue makes both transports really talk to their server
        # (the SQLAlchemy one opens its database lazily, on first use of a channel).
        connection.default_channel.queue_declare(queue=settings.default_queue)


def _ping_sql_broker(settings: Settings) -> None:
    """The embedded broker's database answers a read (not through kombu: `sql_broker_engine`)."""
    engine = sql_broker_engine(settings)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1")).scalar_one()
    finally:
        engine.dispose()


def _check(probe: Callable[[], object]) -> str:
    try:
        probe()
    except Exception as exc:  # noqa: BLE001 (a health check reports every failure, it never raises)
        return f"error: {type(exc).__name__}: {exc}"[:300]
    return "ok"
