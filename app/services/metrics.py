"""Per-epoch metrics: recorded by the worker as epochs finish, read by the API and pages."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.types import utcnow
from app.models import EpochMetric, Run, RunStatus
from app.schemas.metrics import EpochRecord
from app.schemas.runs import EpochMetricRead
from app.services.errors import RunNotFound
from app.services.unit_of_work import UnitOfWork

FIELDS = tuple(EpochRecord.model_fields)


def record_epochs(*, uow: UnitOfWork, run_id: int, attempt: int, records: Iterable[EpochRecord]) -> bool:
    """Store finished epochs of a run and count as a heartbeat.

    An epoch recorded twice (a resumed run repeats the epoch after its last checkpoint)
    replaces the earlier row, so a run never has two rows for one epoch.

    Returns:
        False when this attempt no longer owns the run (cancelled, swept, taken over):
        nothing is written and the caller should stop.
    """
    with uow.writing() as db:
        run = db.get(Run, run_id, with_for_update=True)
        if run is None or run.status != RunStatus.running or run.attempt != attempt:
            return False
        for record in records:
            _upsert(db, run_id, record)
        db.flush()
        stats = db.execute(
            select(func.count(), func.max(EpochMetric.val_acc)).where(EpochMetric.run_id == run_id)
        ).one()
        run.epochs_done, run.best_val_acc = stats[0], stats[1]
        run.heartbeat_at = utcnow()
    return True


def _upsert(db: Session, run_id: int, record: EpochRecord) -> None:
    # Select-then-write is safe here: the caller holds the run's row lock (SQLite: the
    # write lock), and only the owning attempt writes this run's epochs.
    row = db.scalar(select(EpochMetric).where(EpochMetric.run_id == run_id, EpochMetric.epoch == record.epoch))
    values = record.model_dump()
    if row is None:
        db.add(EpochMetric(run_id=run_id, **values))
        return
    for name, value in values.items():
        setattr(row, name, value)
    row.recorded_at = utcnow()


def list_metrics(db: Session, *, run_id: int, after: int | None = None) -> list[EpochMetricRead]:
    """A run's epochs in order; with `after`, only epochs greater than it (for polling).

    Inside the caller's read, which has checked who may see the run.
    """
    if db.get(Run, run_id) is None:
        raise RunNotFound(run_id)
    query = _COLUMNS.where(EpochMetric.run_id == run_id)
    if after is not None:
        query = query.where(EpochMetric.epoch > after)
    return [_read(row) for row in db.execute(query.order_by(EpochMetric.epoch)).mappings()]


def curves(db: Session, *, run_ids: list[int]) -> dict[int, list[EpochMetricRead]]:
    """The epochs of several runs in one query, keyed by run id (inside the caller's read)."""
    out: dict[int, list[EpochMetricRead]] = {run_id: [] for run_id in run_ids}
    query = _COLUMNS.where(EpochMetric.run_id.in_(run_ids)).order_by(EpochMetric.run_id, EpochMetric.epoch)
    for row in db.execute(query).mappings():
        out[row["run_id"]].append(_read(row))
    return out


# Plain columns, not ORM objects: Compare reads 2,000 rows at once, and building
# identity-mapped objects was most of its time (bench/compare_render.py).
_COLUMNS = select(EpochMetric.run_id, *(getattr(EpochMetric, name) for name in FIELDS))


def _read(row: Mapping[str, Any]) -> EpochMetricRead:
    """The API shape of a stored epoch (the fields of metrics.jsonl); the values were validated when stored."""
    return EpochMetricRead.model_construct(**{name: row[name] for name in FIELDS})
