"""The worker's side of a run's life: claim, heartbeat, finish, and the stale-run sweep.

Every write is guarded by the run's `attempt` number, so exactly one delivery of a run
owns it at a time: a duplicate delivery (Redis redelivery, a re-queued run) either
takes over from a dead owner or does nothing, and a worker that lost its run (swept
after a network partition, say) can no longer write to it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.db.types import utcnow
from app.models import Artifact, Run, RunStatus
from app.queue import BROKER_ERRORS
from app.schemas.metrics import RunProgress, RunSummary
from app.schemas.train_config import TrainConfig
from app.services.unit_of_work import UnitOfWork
from app.settings import Settings

OwnerAlive = Callable[[str | None, int | None], bool]


@dataclass(frozen=True)
class Claim:
    """This delivery owns the run as attempt number `attempt`."""

    run_id: int
    attempt: int
    config: TrainConfig


@dataclass(frozen=True)
class Worker:
    """Who is claiming: recorded on the run for the dashboard and for takeover checks."""

    host: str
    pid: int
    gpu: str | None


def _end_if_due(run: Run, settings: Settings) -> bool:
    """Finish a run that must not train again: cancel pending, or out of attempts."""
    if run.cancel_requested:
        _finish(run, RunStatus.cancelled, error=None)
    elif run.attempt >= settings.max_attempts:
        _finish(run, RunStatus.failed, error=_lost_message(run, settings))
    else:
        return False
    return True


def claim_run(*, uow: UnitOfWork, run_id: int, worker: Worker, owner_alive: OwnerAlive) -> Claim | None:
    """Mark the run running for this worker, or return None when it must not run here.

    None when the run is finished, cancelled, or running under a live owner (a
    duplicate delivery). A running run whose owner is gone (stale heartbeat, or a dead
    process on this host) is taken over and resumes from its checkpoint.

    Raises:
        LookupError: no such run (yet: the submitter may not have committed).
    """
    settings = uow.settings
    with uow.writing() as db:
        run = db.get(Run, run_id, with_for_update=True)
        if run is None:
            raise LookupError(f"run {run_id} not found")
        if not _claimable(run, settings, owner_alive):
            return None
        if not _end_if_due(run, settings):
            _take(run, worker)
    return Claim(run.id, run.attempt, TrainConfig.model_validate(run.config)) if run.status == RunStatus.running else None


def _claimable(run: Run, settings: Settings, owner_alive: OwnerAlive) -> bool:
    if run.status == RunStatus.queued:
        return True
    if run.status != RunStatus.running:
        return False
    return _stale(run, settings, utcnow()) or not owner_alive(run.worker_host, run.worker_pid)


def _stale(run: Run, settings: Settings, now: datetime) -> bool:
    beat = run.heartbeat_at or run.started_at or run.created_at
    return now - beat > timedelta(seconds=settings.heartbeat_timeout_s)


def _take(run: Run, worker: Worker) -> None:
    now = utcnow()
    run.status, run.attempt, run.heartbeat_at = RunStatus.running, run.attempt + 1, now
    run.started_at = run.started_at or now
    run.worker_host, run.worker_pid, run.gpu, run.error = worker.host, worker.pid, worker.gpu, None
    run.progress = None  # the previous attempt's step counts mean nothing now


def _finish(run: Run, status: RunStatus, *, error: str | None) -> None:
    run.status, run.error, run.finished_at, run.progress = status, error, utcnow(), None


def _lost_message(run: Run, settings: Settings) -> str:
    return (
        f"the worker running this run was lost {run.attempt} time{'s' if run.attempt != 1 else ''} "
        f"(last on {run.worker_host or 'unknown host'}, "
        f"no heartbeat for over {settings.heartbeat_timeout_s:g} s or its process died): giving up after "
        f"{settings.max_attempts} attempts; check that worker's log (out of host memory?) and resubmit"
    )


@dataclass(frozen=True)
class Beat:
    """What a heartbeat learned: whether this attempt still owns the run, and if a cancel is pending."""

    owned: bool
    cancel_requested: bool


def heartbeat(*, uow: UnitOfWork, run_id: int, attempt: int, progress: RunProgress | None = None) -> Beat:
    """Record that the owning worker is alive, and where it is in its epoch; tell it whether to stop.

    `progress` rides on the beat (one write every heartbeat interval, never one per step);
    None leaves the last one recorded.
    """
    values: dict[str, object] = {"heartbeat_at": utcnow()}
    if progress is not None:
        values["progress"] = progress.model_dump(mode="json")
    with uow.writing() as db:
        result = db.execute(
            update(Run)
            .where(Run.id == run_id, Run.attempt == attempt, Run.status == RunStatus.running)
            .values(**values)
            .returning(Run.cancel_requested)
        ).first()
    return Beat(owned=result is not None, cancel_requested=bool(result and result[0]))


def finish_run(
    *,
    uow: UnitOfWork,
    claim: Claim,
    status: RunStatus,
    summary: RunSummary | None = None,
    error: str | None = None,
) -> bool:
    """Record how the run ended, with its summary and files; False if it was no longer ours."""
    with uow.writing() as db:
        run = db.get(Run, claim.run_id, with_for_update=True)
        if run is None or run.status != RunStatus.running or run.attempt != claim.attempt:
            return False
        _finish(run, status, error=error)
        if summary is not None:
            run.summary = summary.model_dump(mode="json")
            run.best_val_acc = summary.best_val_acc
        _record_artifacts(db, uow.settings, run.id)
    return True


ARTIFACT_FILES = {"best": "best.pt", "last": "checkpoint.pt", "metrics": "metrics.jsonl", "summary": "summary.json"}


def _record_artifacts(db: Session, settings: Settings, run_id: int) -> None:
    existing = {a.kind: a for a in db.scalars(select(Artifact).where(Artifact.run_id == run_id))}
    for kind, filename in ARTIFACT_FILES.items():
        path: Path = settings.runs_dir / str(run_id) / filename
        if not path.is_file():
            continue
        row = existing.get(kind) or Artifact(run_id=run_id, kind=kind)
        row.path, row.size_bytes, row.created_at = f"runs/{run_id}/{filename}", path.stat().st_size, utcnow()
        db.add(row)


def sweep_stale_runs(*, uow: UnitOfWork) -> list[tuple[int, str]]:
    """Re-queue (or fail, or cancel) running runs whose worker stopped sending heartbeats.

    Safe to run from several processes at once: each run is re-checked under its lock,
    and a run whose lock another transaction holds is left for the next sweep.
    A re-queue whose publish fails is rolled back and retried by the next sweep.

    Returns:
        (run id, new status) for each run changed.
    """
    cutoff = utcnow() - timedelta(seconds=uow.settings.heartbeat_timeout_s)
    with uow.reading() as db:
        stale_ids = db.scalars(
            select(Run.id).where(Run.status == RunStatus.running, Run.heartbeat_at < cutoff).limit(100)
        ).all()
    changed = []
    for run_id in stale_ids:
        outcome = _sweep_one(uow, run_id)
        if outcome is not None:
            changed.append((run_id, outcome))
    return changed


def redispatch_lost_tasks(*, uow: UnitOfWork, suspects: set[int]) -> tuple[list[int], set[int]]:
    """On the embedded broker, publish again the task of a queued run that no message waits for.

    kombu's SQLAlchemy transport hides a message when a worker takes it and never shows it
    again, so a worker that dies between taking a run's task and claiming the run leaves
    the run queued with nothing to deliver it (Redis redelivers unacknowledged tasks
    itself). Taking and claiming are milliseconds apart; a run found so in two sweeps in a
    row (`suspects`, from the previous sweep) gets a new message. Should the first delivery
    still claim it, the duplicate finds the run taken and does nothing.

    Returns:
        The runs published again, and the suspects to pass to the next sweep.
    """
    if not uow.tasks.embedded:
        return [], set()
    with uow.reading() as db:
        rows = db.execute(select(Run.id, Run.queue).where(Run.status == RunStatus.queued).limit(1000))
        queued = {row.id: row.queue for row in rows}
    if not queued:
        return [], set()
    return republish_lost(queued, uow.tasks.waiting_runs(), suspects, uow.tasks.train)


def republish_lost(
    queued: dict[int, str], waiting: set[int], suspects: set[int], publish: Callable[[int, str], None]
) -> tuple[list[int], set[int]]:
    """Publish again the jobs in `queued` (id → queue) that have no `waiting` message and were
    `suspects` already (lost in the previous sweep too); the rule of `redispatch_lost_tasks`,
    shared with evaluations (`evaluation_jobs.redispatch_lost_evaluations`).

    Returns:
        The ids published again, and the suspects for the next sweep.
    """
    lost = set(queued) - waiting
    published = []
    for job_id in sorted(lost & suspects):
        try:
            publish(job_id, queued[job_id])
        except BROKER_ERRORS:
            continue  # the next sweep tries again
        published.append(job_id)
    return published, lost - set(published)


def _sweep_one(uow: UnitOfWork, run_id: int) -> str | None:
    settings = uow.settings
    try:
        with uow.writing() as db:
            # Skip a run whose row is locked: its owner is writing right now, or froze inside a
            # write and would hold the sweep (and every other dead worker's run) up for good.
            run = db.get(Run, run_id, with_for_update={"skip_locked": True})
            if run is None or run.status != RunStatus.running or not _stale(run, settings, utcnow()):
                return None
            if not _end_if_due(run, settings):
                run.status = RunStatus.queued
                try:
                    uow.tasks.train(run.id, run.queue)
                except BROKER_ERRORS as exc:
                    raise _NotPublished from exc  # leaving the block rolls the re-queue back
    except _NotPublished:
        return None  # the next sweep tries again
    return str(run.status)


class _NotPublished(Exception):
    """The broker refused a re-queued run's task: undo the re-queue."""

