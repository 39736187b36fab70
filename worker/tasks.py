"""The Celery task that trains one run: claim it, call `fit`, record epochs, finish it.

Imported by the worker only (the API publishes by task name), and light to import:
torch and the training core load inside the task.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy.exc
from celery import Celery, Task, shared_task

from app.db import Database
from app.models import RunStatus
from app.queue import EVALUATE_TASK, LR_FIND_TASK, TRAIN_TASK, TaskQueue
from app.schemas.evaluations import EvaluationResult
from app.schemas.lr_finds import LrFindResult
from app.schemas.metrics import EpochRecord, EpochVerdict, RunSummary
from app.schemas.train_config import TrainConfig
from app.services.evaluation_jobs import EvaluationClaim, claim_evaluation, evaluation_heartbeat, finish_evaluation
from app.services.execution import Claim, Worker, claim_run, finish_run
from app.services.lr_finds import beat_lr_find, finish_lr_find, start_lr_find
from app.services.metrics import record_epochs
from app.services.public_paths import relative_message
from app.services.sweeps import trial_ended, trial_reporter
from app.services.unit_of_work import UnitOfWork
from app.settings import Settings, visible_gpus
from worker.heartbeat import JobWatch, RunLost, RunWatch
from worker.runtimes import runtime_from_settings
from worker.training.errors import DiskFull, TrainingError

log = logging.getLogger(__name__)
MISSING_RUN_RETRIES = 5
RECORD_TRIES = 4  # a dropped connection or a failover is worth a few seconds before the run is failed
RECORD_PAUSE_S = 1.0


class EpochsNotRecorded(Exception):
    """The database refused an epoch's row on every try; the message says which and why."""


@dataclass
class WorkerContext:
    """What a task needs in its process: settings, a database connection pool, the queue."""

    settings: Settings
    database: Database
    tasks: TaskQueue
    pid: int

    def unit_of_work(self) -> AbstractContextManager[UnitOfWork]:
        """A unit of work for one step of a task (a claim, a record, a finish)."""
        return UnitOfWork.open(self.database, self.settings, self.tasks)


def context_for(app: Celery) -> WorkerContext:
    """This process's context, built on first use (after a prefork child is forked)."""
    context: WorkerContext | None = getattr(app, "stagewise_context", None)
    if context is None or context.pid != os.getpid():
        settings: Settings = app.conf.stagewise_settings
        database = Database.connect(settings.database_url)
        context = WorkerContext(settings, database, TaskQueue(app, settings), os.getpid())
        app.stagewise_context = context  # type: ignore[attr-defined]
    return context


@shared_task(bind=True, name=TRAIN_TASK)
def train_run(self: Task, run_id: int) -> str:
    """Train run `run_id` to the end; returns what happened (for the worker log)."""
    context = context_for(self.app)
    try:
        with context.unit_of_work() as uow:
            claim = claim_run(uow=uow, run_id=run_id, worker=this_worker(context.settings), owner_alive=owner_alive)
    except LookupError:
        # The submitter publishes before it commits; give its transaction a moment.
        if self.request.retries >= MISSING_RUN_RETRIES:
            log.warning("run %s does not exist (deleted?): dropping its task", run_id)
            return "missing"
        raise self.retry(countdown=1, max_retries=MISSING_RUN_RETRIES) from None
    if claim is None:
        return "skipped"  # finished, cancelled, or owned by a live worker
    log.info("run %s: attempt %s on %s", run_id, claim.attempt, socket.gethostname())
    outcome = train_claimed(context, claim)
    if outcome != "lost":
        _advance_sweep(context, run_id)
    return outcome


def _advance_sweep(context: WorkerContext, run_id: int) -> None:
    """A sweep's trial ended: tell its study and queue the next trial (the heartbeat retries on failure)."""
    try:
        with context.unit_of_work() as uow:
            trial_ended(uow=uow, run_id=run_id)
    except Exception:
        log.exception("run %s: its sweep could not be advanced; the worker heartbeat will retry", run_id)


def train_claimed(context: WorkerContext, claim: Claim) -> str:
    """Run `fit` for a claimed run and record the outcome."""
    settings = context.settings
    watch = RunWatch(
        context.unit_of_work, claim, interval_s=settings.heartbeat_interval_s, lease_s=settings.heartbeat_timeout_s
    )
    with watch:
        # Imported under the watch: loading torch can take longer than a heartbeat timeout.
        from worker.training.loop import fit

        def on_epoch(record: EpochRecord) -> EpochVerdict | None:
            if not _record(context, claim, [record]):
                watch.lose()  # raised before `fit` checkpoints: the new owner's checkpoint stays
                raise RunLost(f"run {claim.run_id}: attempt {claim.attempt} lost the run at epoch {record.epoch}")
            return None if report_trial is None else report_trial(record)  # a sweep's pruner may stop it

        try:
            with context.unit_of_work() as uow:
                report_trial = trial_reporter(uow=uow, run_id=claim.run_id)
            runtime = runtime_from_settings(settings, settings.runs_dir / str(claim.run_id))
            result = fit(claim.config, runtime, on_epoch=on_epoch, should_stop=watch.should_stop,
                         on_progress=watch.report)  # fmt: skip
        except Exception as exc:
            if watch.lost and not isinstance(exc, DiskFull):  # a full disk may have stalled the heartbeat too
                return "lost"
            log.exception("run %s failed", claim.run_id)
            _finish(context, claim, RunStatus.failed, error=describe_failure(exc, claim.config, context.settings.data_dir))
            return "failed"
    if watch.lost or not _record(context, claim, result.records):
        return "lost"
    status = _final_status(result.summary)
    _finish(context, claim, status, summary=result.summary)
    return str(status)


def _final_status(summary: RunSummary) -> RunStatus:
    """succeeded, or how `fit` was stopped: pruned by a sweep's pruner, else cancelled."""
    if not summary.stopped:
        return RunStatus.succeeded
    return RunStatus.pruned if summary.stop_reason == "pruned" else RunStatus.cancelled


def _record(context: WorkerContext, claim: Claim, records: Sequence[EpochRecord]) -> bool:
    """Store epochs (False: the run is no longer this attempt's), retrying a failed write.

    Each try is one transaction, so a failure leaves nothing half-written to retry over.

    Raises:
        EpochsNotRecorded: every try failed; `fit` stops before checkpointing the epoch.
    """
    tries = 0
    while True:
        tries += 1
        try:
            with context.unit_of_work() as uow:
                return record_epochs(uow=uow, run_id=claim.run_id, attempt=claim.attempt, records=records)
        except sqlalchemy.exc.DBAPIError as exc:
            cause = exc.orig or exc
            reason = f"{type(cause).__name__}: {str(cause).splitlines()[0]}"
            if tries == RECORD_TRIES:
                epochs = ", ".join(str(r.epoch) for r in records)
                raise EpochsNotRecorded(
                    f"the database refused to record epoch {epochs} {tries} times ({reason}); "
                    "check the database server (disk space, connections) and resubmit the run"
                ) from exc
            log.warning("run %s: recording epochs failed (%s); try %s of %s", claim.run_id, reason, tries, RECORD_TRIES)
            time.sleep(RECORD_PAUSE_S * tries)


def _finish(
    context: WorkerContext, claim: Claim, status: RunStatus, *, summary: RunSummary | None = None, error: str | None = None
) -> None:
    with context.unit_of_work() as uow:
        finish_run(uow=uow, claim=claim, status=status, summary=summary, error=error)


@shared_task(bind=True, name=EVALUATE_TASK)
def evaluate(self: Task, evaluation_id: int) -> str:
    """Judge a run's checkpoint on a dataset (evaluation `evaluation_id`); returns what happened."""
    context = context_for(self.app)
    try:
        with context.unit_of_work() as uow:
            claim = claim_evaluation(
                uow=uow, evaluation_id=evaluation_id, worker=this_worker(context.settings), owner_alive=owner_alive
            )
    except LookupError:
        if self.request.retries >= MISSING_RUN_RETRIES:
            log.warning("evaluation %s does not exist (its run deleted?): dropping its task", evaluation_id)
            return "missing"
        raise self.retry(countdown=1, max_retries=MISSING_RUN_RETRIES) from None
    if claim is None:
        return "skipped"
    return evaluate_claimed(context, claim)


def evaluate_claimed(context: WorkerContext, claim: EvaluationClaim) -> str:
    """Load the run's checkpoint, judge it on the dataset, and record the result or the failure."""
    settings = context.settings

    def beat() -> bool:
        with context.unit_of_work() as uow:
            return evaluation_heartbeat(uow=uow, claim=claim)

    with JobWatch(beat, interval_s=settings.heartbeat_interval_s, name=f"evaluation-{claim.evaluation_id}") as watch:
        try:
            from worker.training import evaluation, inference

            path = inference.checkpoint_in(settings.runs_dir / str(claim.run_id), claim.checkpoint)
            classifier = inference.load_classifier(path)
            measured = evaluation.evaluate_dataset(
                classifier, claim.dataset, settings.data_dir, claim.split, shared=claim.shared_classes,
                device=settings.device, num_workers=settings.num_workers, should_go_on=watch.check,
            )  # fmt: skip
        except Exception as exc:
            if watch.lost:
                return "lost"
            log.exception("evaluation %s failed", claim.evaluation_id)
            with context.unit_of_work() as uow:
                finish_evaluation(uow=uow, claim=claim, error=describe_failure(exc, None, settings.data_dir))
            return "failed"
    result = EvaluationResult(
        loss=measured.loss, count=measured.count, epoch=classifier.epoch, class_names=measured.class_names,
        confusion=measured.confusion, per_class_accuracy=measured.per_class_accuracy,
        class_mapping=measured.match.mapping, missing_classes=measured.match.missing,
        extra_classes=measured.match.extra, split_hash=measured.split_hash,
    )  # fmt: skip
    with context.unit_of_work() as uow:
        finished = finish_evaluation(uow=uow, claim=claim, accuracy=measured.accuracy, result=result)
    return "succeeded" if finished else "lost"


@shared_task(bind=True, name=LR_FIND_TASK)
def lr_find(self: Task, job_id: str) -> str:
    """Run the New run page's LR range test `job_id` (the CLI's test); the curve goes to its record."""
    settings: Settings = self.app.conf.stagewise_settings
    job = start_lr_find(settings=settings, job_id=job_id)
    if job is None:
        return "skipped"
    config = TrainConfig.model_validate(job.config)
    try:
        from worker.training.lr_find import find_lr

        runtime = runtime_from_settings(settings, settings.data_dir / "lr_finds")
        with _beating(settings, job_id):  # stopped before the record is finished: no beat writes over it
            found = find_lr(config, runtime, start=job.start, end=job.end, steps=job.steps)
    except Exception as exc:
        log.exception("LR range test %s failed", job_id)
        finish_lr_find(settings=settings, job=job, error=describe_failure(exc, config, settings.data_dir))
        return "failed"
    result = LrFindResult(
        lrs=found.lrs, losses=_finite(found.losses), smoothed=_finite(found.smoothed), suggestion=found.suggestion,
        steepest=found.steepest, diverged=found.diverged, ratios=found.ratios,
        stage_lrs=found.stage_lrs(found.suggestion) if found.suggestion is not None else {},
    )  # fmt: skip
    finish_lr_find(settings=settings, job=job, result=result)
    return "succeeded"


def _finite(values: Sequence[float]) -> list[float | None]:
    """JSON has no inf or NaN: an exploded loss is None."""
    return [value if math.isfinite(value) else None for value in values]


def describe_failure(exc: BaseException, config: TrainConfig | None, data_root: Path) -> str:
    """A message a human can act on, naming paths relative to `data_root`; the traceback and
    the server's own paths stay in the worker log. `config`: the run's, if training."""
    return relative_message(_failure_message(exc, config), data_root)


def _failure_message(exc: BaseException, config: TrainConfig | None) -> str:
    if isinstance(exc, TrainingError | EpochsNotRecorded):
        return str(exc)
    batch = f" at batch size {config.batch_size}" if config is not None else ""
    if type(exc).__name__ == "OutOfMemoryError":  # torch.OutOfMemoryError escaping fit
        return f"out of memory{batch}: lower batch_size or image_size"
    if isinstance(exc, MemoryError):
        return f"the worker host ran out of RAM{batch}: lower batch_size or num_workers"
    return f"internal error ({type(exc).__name__}: {exc}); see the log of worker {socket.gethostname()}"


@contextmanager
def _beating(settings: Settings, job_id: str) -> Iterator[None]:
    """Mark LR range test `job_id` alive every `heartbeat_interval_s` while the block runs, so
    that a reader can tell a job whose worker died (`lr_finds.get_lr_find`) from a slow one."""
    done = threading.Event()

    def beat() -> None:
        while not done.wait(settings.heartbeat_interval_s):
            try:
                beat_lr_find(settings=settings, job_id=job_id)
            except OSError:
                log.exception("LR range test %s: could not record a heartbeat", job_id)

    thread = threading.Thread(target=beat, name=f"lr-find-beat-{job_id[:8]}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def this_worker(settings: Settings) -> Worker:
    """Host, pid and device of this process, as recorded on the runs it trains."""
    return Worker(host=socket.gethostname(), pid=os.getpid(), gpu=_device_label(settings.device))


def _device_label(device: str) -> str:
    visible = visible_gpus()
    if device == "cpu" or visible == "":
        return "cpu"
    import torch

    if not torch.cuda.is_available():
        return "cpu"
    index = (torch.device(device).index if device.startswith("cuda") else None) or 0
    name = torch.cuda.get_device_name(index)
    return f"cuda:{index} {name}" + (f" (CUDA_VISIBLE_DEVICES={visible})" if visible is not None else "")


def owner_alive(host: str | None, pid: int | None) -> bool:
    """Whether a run's recorded owner process may still be alive.

    Only a process on this host can be checked; elsewhere the heartbeat timeout decides.
    """
    if host != socket.gethostname() or pid is None:
        return True
    if pid == os.getpid():
        return False  # this very process took the delivery again: the old attempt is gone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
