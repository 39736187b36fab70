"""The worker's side of an evaluation: claim, heartbeat, finish, and the stale-job sweep.

The run's rules in a small form (`services.execution`): a delivery claims the job and
bumps its `attempt`; only that attempt may beat or finish it; a job whose worker went
silent for `heartbeat_timeout_s` is queued again (or failed after `max_attempts`). An
evaluation holds no state between attempts, so a new attempt simply starts over.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update

from app.db.types import utcnow
from app.models import Evaluation, EvaluationStatus
from app.queue import BROKER_ERRORS
from app.schemas.evaluations import EvaluationResult
from app.schemas.train_config import DatasetConfig
from app.services.execution import OwnerAlive, Worker, republish_lost
from app.services.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class EvaluationClaim:
    """This delivery owns the evaluation as attempt `attempt`; what the worker needs to do it."""

    evaluation_id: int
    attempt: int
    run_id: int
    dataset: DatasetConfig
    split: str
    checkpoint: str
    shared_classes: bool


def claim_evaluation(
    *, uow: UnitOfWork, evaluation_id: int, worker: Worker, owner_alive: OwnerAlive
) -> EvaluationClaim | None:
    """Mark the evaluation running for this worker; None when it is finished or owned by a live worker.

    Raises:
        LookupError: no such evaluation (yet: the submitter may not have committed).
    """
    settings = uow.settings
    with uow.writing() as db:
        job = db.get(Evaluation, evaluation_id, with_for_update=True)
        if job is None:
            raise LookupError(f"evaluation {evaluation_id} not found")
        if job.status == EvaluationStatus.running:
            stale = utcnow() - (job.heartbeat_at or job.created_at) > timedelta(seconds=settings.heartbeat_timeout_s)
            if not stale and owner_alive(job.worker_host, job.worker_pid):
                return None
        elif job.status != EvaluationStatus.queued:
            return None
        if job.attempt >= settings.max_attempts:
            _end(job, EvaluationStatus.failed, error=_lost_message(job.attempt))
            return None
        now = utcnow()
        job.status, job.attempt, job.heartbeat_at = EvaluationStatus.running, job.attempt + 1, now
        job.started_at, job.worker_host, job.worker_pid, job.error = now, worker.host, worker.pid, None
        return EvaluationClaim(
            job.id, job.attempt, job.run_id, DatasetConfig.model_validate(job.dataset), job.split, job.checkpoint,
            job.shared_classes,
        )  # fmt: skip


def evaluation_heartbeat(*, uow: UnitOfWork, claim: EvaluationClaim) -> bool:
    """Record that the owning worker is alive; False when this attempt no longer owns the job."""
    ours = (
        Evaluation.id == claim.evaluation_id,
        Evaluation.attempt == claim.attempt,
        Evaluation.status == EvaluationStatus.running,
    )
    with uow.writing() as db:
        result = db.execute(update(Evaluation).where(*ours).values(heartbeat_at=utcnow()))
    return bool(result.rowcount)


def finish_evaluation(
    *, uow: UnitOfWork, claim: EvaluationClaim, accuracy: float | None = None, result: EvaluationResult | None = None,
    error: str | None = None,
) -> bool:  # fmt: skip
    """Record the result (or the error a human can act on); False if the job was no longer ours."""
    with uow.writing() as db:
        job = db.get(Evaluation, claim.evaluation_id, with_for_update=True)
        if job is None or job.status != EvaluationStatus.running or job.attempt != claim.attempt:
            return False
        if result is None:
            _end(job, EvaluationStatus.failed, error=error or "failed without a message")
        else:
            _end(job, EvaluationStatus.succeeded, error=None)
            job.accuracy, job.result = accuracy, result.model_dump(mode="json")
    return True


def sweep_stale_evaluations(*, uow: UnitOfWork) -> list[tuple[int, str]]:
    """Queue again (or fail, after `max_attempts`) running evaluations whose worker went silent.

    Safe beside other sweepers: each job is re-checked under its lock, locked ones skipped.

    Returns:
        (evaluation id, new status) for each job changed.
    """
    settings = uow.settings
    cutoff = utcnow() - timedelta(seconds=settings.heartbeat_timeout_s)
    with uow.reading() as db:
        stale = db.scalars(
            select(Evaluation.id)
            .where(Evaluation.status == EvaluationStatus.running, Evaluation.heartbeat_at < cutoff)
            .limit(100)
        ).all()
    changed = []
    for evaluation_id in stale:
        try:
            with uow.writing() as db:
                job = db.get(Evaluation, evaluation_id, with_for_update={"skip_locked": True})
                if job is None or job.status != EvaluationStatus.running or (job.heartbeat_at or cutoff) >= cutoff:
                    continue
                if job.attempt >= settings.max_attempts:
                    _end(job, EvaluationStatus.failed, error=_lost_message(job.attempt))
                else:
                    job.status = EvaluationStatus.queued
                    uow.tasks.evaluate(job.id, job.queue)  # a failed publish rolls the re-queue back
                changed.append((evaluation_id, str(job.status)))
        except BROKER_ERRORS:
            continue  # the next sweep tries again
    return changed


def redispatch_lost_evaluations(*, uow: UnitOfWork, suspects: set[int]) -> tuple[list[int], set[int]]:
    """On the embedded broker, publish again the task of a queued evaluation that no message waits for.

    A worker that dies between taking an evaluation's task and claiming it leaves the job
    queued with nothing to deliver it, as for runs (`execution.redispatch_lost_tasks`, whose
    two-sweeps rule this shares). A duplicate delivery finds the job claimed and does nothing.

    Returns:
        The evaluations published again, and the suspects to pass to the next sweep.
    """
    if not uow.tasks.embedded:
        return [], set()
    with uow.reading() as db:
        rows = db.execute(
            select(Evaluation.id, Evaluation.queue).where(Evaluation.status == EvaluationStatus.queued).limit(1000)
        )
        queued = {row.id: row.queue for row in rows}
    if not queued:
        return [], set()
    return republish_lost(queued, uow.tasks.waiting_evaluations(), suspects, uow.tasks.evaluate)


def _end(job: Evaluation, status: EvaluationStatus, *, error: str | None) -> None:
    job.status, job.error, job.finished_at = status, error, utcnow()


def _lost_message(attempts: int) -> str:
    return (
        f"the worker evaluating this was lost {attempts} time{'s' if attempts != 1 else ''} (no heartbeat, or its "
        "process died): giving up; check the worker's log (out of memory on a large dataset?) and ask again"
    )
