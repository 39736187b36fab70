"""Runs as users see them: submit, list, read, cancel, clone, delete, download.

A submitted run is inserted and published in one transaction that commits only after
the broker accepted the task: with the broker down the user gets 503 and no `queued`
row is left behind that nothing would ever run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from celery import Celery
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db import write_transaction
from app.db.types import utcnow
from app.models import Artifact, Run, RunStatus
from app.schemas.runs import (
    ArtifactRead,
    RunClone,
    RunCreate,
    RunDetail,
    RunFilter,
    RunPage,
    RunRead,
    TestReportRead,
)
from app.schemas.train_config import TrainConfig
from app.services.configs import build_config
from app.services.errors import (
    ArtifactNotFound,
    BrokerUnavailable,
    InvalidInput,
    RunNotFound,
    RunStateConflict,
)
from app.settings import Settings
from worker.celery_app import BROKER_ERRORS, enqueue_training

CHECKPOINT_KINDS = {"best": "best.pt", "last": "checkpoint.pt"}
TEST_REPORT_FILE = "test_report.json"  # written by `fit` when it ends


def create_run(*, db: Session, celery: Celery, settings: Settings, request: RunCreate) -> RunRead:
    """Validate, store and queue a new run.

    Raises:
        InvalidInput: the config, preset, overrides or queue are invalid.
        BrokerUnavailable: the queue is down; nothing was stored.
    """
    queue = _queue(settings, request.queue)
    config = build_config(
        db=db, settings=settings, config=request.config, preset=request.preset,
        overrides=request.overrides, name=request.name,
    )  # fmt: skip
    return _insert_and_enqueue(db=db, celery=celery, config=config, queue=queue, cloned_from=None)


def clone_run(*, db: Session, celery: Celery, settings: Settings, run_id: int, request: RunClone) -> RunRead:
    """A new queued run with `run_id`'s config and `request.overrides` applied."""
    source = _get(db, run_id)
    # A queue the admin has since removed falls back to the default one.
    queue = _queue(settings, request.queue or (source.queue if source.queue in settings.queues else None))
    config = build_config(
        db=db, settings=settings, config=source.config, preset=None,
        overrides=request.overrides, name=request.name or _clone_name(source),
    )  # fmt: skip
    return _insert_and_enqueue(db=db, celery=celery, config=config, queue=queue, cloned_from=source.id)


def _clone_name(source: Run) -> str:
    return f"{source.name or f'run {source.id}'} (copy)"[:200]


def _queue(settings: Settings, queue: str | None) -> str:
    chosen = queue or settings.default_queue
    if chosen not in settings.queues:
        raise InvalidInput.at(("body", "queue"), f"unknown queue {chosen!r}; allowed: {', '.join(settings.queues)}")
    return chosen


def _insert_and_enqueue(
    *, db: Session, celery: Celery, config: TrainConfig, queue: str, cloned_from: int | None
) -> RunRead:
    write_transaction(db)
    run = Run(
        name=config.name, status=RunStatus.queued, queue=queue, config=config.model_dump(mode="json"),
        dataset=config.dataset.name, backbone=config.backbone, epochs=config.epochs, cloned_from=cloned_from,
    )  # fmt: skip
    db.add(run)
    db.flush()  # assigns run.id, which the task message carries
    try:
        enqueue_training(celery, run.id, queue)
    except BROKER_ERRORS as exc:
        db.rollback()
        raise BrokerUnavailable(f"the job queue is unreachable ({type(exc).__name__}); nothing was submitted: retry later") from exc
    db.commit()
    return RunRead.model_validate(run)


def get_run(*, db: Session, run_id: int) -> RunDetail:
    """One run with its artifacts."""
    run = _get(db, run_id)
    artifacts = db.scalars(select(Artifact).where(Artifact.run_id == run_id).order_by(Artifact.kind)).all()
    detail = RunDetail.model_validate(run)
    detail.artifacts = [ArtifactRead(kind=a.kind, size_bytes=a.size_bytes, created_at=a.created_at) for a in artifacts]
    return detail


def list_runs(*, db: Session, settings: Settings, query: RunFilter) -> RunPage:
    """A page of runs, filtered and sorted; `total` counts all matches."""
    if query.limit > settings.max_page_size:
        raise InvalidInput.at(("query", "limit"), f"must be <= {settings.max_page_size}")
    conditions = [
        column == value
        for column, value in ((Run.status, query.status), (Run.dataset, query.dataset), (Run.backbone, query.backbone))
        if value is not None
    ]
    total = db.scalar(select(func.count()).select_from(Run).where(*conditions)) or 0
    key = getattr(Run, query.sort.lstrip("-"))
    order = [key.desc() if query.sort.startswith("-") else key.asc(), Run.id.desc()]
    if query.sort.lstrip("-") in ("best_val_acc", "finished_at", "name"):
        # NULLs (unfinished runs) last in either direction; plain ORDER BY differs by database.
        order.insert(0, key.is_(None))
    rows = db.scalars(select(Run).where(*conditions).order_by(*order).limit(query.limit).offset(query.offset)).all()
    return RunPage(items=[RunRead.model_validate(r) for r in rows], total=total, limit=query.limit, offset=query.offset)


def cancel_run(*, db: Session, run_id: int) -> RunRead:
    """Cancel a queued run at once; ask a running one to stop (its worker confirms).

    Raises:
        RunStateConflict: the run already finished.
    """
    write_transaction(db)
    run = _get(db, run_id, lock=True)
    if RunStatus(run.status).finished:
        db.rollback()
        raise RunStateConflict(f"run {run_id} already {run.status}; only queued or running runs can be cancelled")
    if run.status == RunStatus.queued:
        run.status, run.finished_at = RunStatus.cancelled, utcnow()
    run.cancel_requested = True
    db.commit()
    return RunRead.model_validate(run)


def delete_run(*, db: Session, settings: Settings, run_id: int) -> None:
    """Delete a run that is not running, its metrics, artifacts and files.

    Raises:
        RunStateConflict: the run is running (cancel it first).
    """
    write_transaction(db)
    run = _get(db, run_id, lock=True)
    if run.status == RunStatus.running:
        db.rollback()
        raise RunStateConflict(f"run {run_id} is running; cancel it and wait until it stops before deleting")
    db.delete(run)
    db.commit()
    # Files after the commit: a failed commit must not lose a run's checkpoints.
    shutil.rmtree(settings.runs_dir / str(run_id), ignore_errors=True)


def checkpoint_file(*, db: Session, settings: Settings, run_id: int, kind: str) -> Path:
    """The checkpoint file of a run, found by id only (never from a client path)."""
    _get(db, run_id)
    if kind not in CHECKPOINT_KINDS:
        raise InvalidInput.at(("query", "kind"), f"unknown kind {kind!r}; allowed: {', '.join(CHECKPOINT_KINDS)}")
    path = _run_file(settings, run_id, CHECKPOINT_KINDS[kind])
    if not path.is_file():
        raise ArtifactNotFound(f"run {run_id} has no {kind} checkpoint ({CHECKPOINT_KINDS[kind]}) yet")
    return path


def get_test_report(*, db: Session, settings: Settings, run_id: int) -> TestReportRead:
    """Per-class accuracy and confusion matrix on the test split of a finished run (404 without one)."""
    report = find_test_report(db=db, settings=settings, run_id=run_id)
    if report is None:
        run = _get(db, run_id)
        if run.status in (RunStatus.queued, RunStatus.running):
            raise ArtifactNotFound(f"run {run_id} is {run.status}: its test report is written when it finishes")
        raise ArtifactNotFound(f"run {run_id} has no test report: it {run.status} before evaluating the test split")
    return report


def find_test_report(*, db: Session, settings: Settings, run_id: int) -> TestReportRead | None:
    """The report `fit` wrote into the run's folder, found by id only; None until the run has finished.

    A run re-queued after its worker died may hold a report from an attempt that is about
    to be trained again, so a queued or running run has none.
    """
    run = _get(db, run_id)
    path = _run_file(settings, run_id, TEST_REPORT_FILE)
    if run.status in (RunStatus.queued, RunStatus.running) or not path.is_file():
        return None
    return TestReportRead.model_validate_json(path.read_text())


def _run_file(settings: Settings, run_id: int, filename: str) -> Path:
    """A file in a run's folder; the path comes from the id, never from a client."""
    return settings.runs_dir / str(run_id) / filename


def _get(db: Session, run_id: int, *, lock: bool = False) -> Run:
    run = db.get(Run, run_id, with_for_update=lock)
    if run is None:
        db.rollback()
        raise RunNotFound(run_id)
    return run
