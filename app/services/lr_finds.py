"""LR range tests as jobs on the workers: queue one for a config, read how it went.

A job is one JSON file, `lr_finds/<id>.json` under the data root (a random id), written
atomically, not a table: it is a throw-away measurement a page waits for, nothing joins or
lists it, and the workers already share the data root with the API (checkpoints). The
worker marks it running, runs `worker.training.lr_find.find_lr` (the CLI's test) and
writes the curve and the suggestion into it. Only its owner (or an admin) reads it.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

from app.db.types import utcnow
from app.queue import BROKER_ERRORS
from app.schemas.accounts import Principal
from app.schemas.lr_finds import LrFindCreate, LrFindJob, LrFindRead, LrFindResult
from app.services import disk
from app.services.configs import build_config, probe_request
from app.services.errors import BrokerUnavailable, LrFindNotFound, QuotaExceeded
from app.services.unit_of_work import UnitOfWork
from app.settings import Settings

FOLDER = "lr_finds"
KEEP_FINISHED = timedelta(days=30)  # a finished test's record is removed after this


def create_lr_find(*, uow: UnitOfWork, principal: Principal, request: LrFindCreate) -> LrFindRead:
    """Validate the config as a run's (422 naming the field), record the job and queue it.

    Raises:
        InvalidInput: the config, preset or overrides do not make a valid config.
        InsufficientStorage: the data volume is under the server's free-space minimum (507).
        QuotaExceeded: the user has `max_active_runs_per_user` LR range tests queued or running.
        BrokerUnavailable: the queue is down; nothing was kept.
    """
    disk.require_room_for_runs(uow.settings)  # its record, and the decode cache the test fills
    _check_quota(uow.settings, principal)
    downloads = probe_request(uow.settings, config=request.config, preset=request.preset, overrides=request.overrides)
    with uow.reading() as db:
        config = build_config(
            db=db, settings=uow.settings, principal=principal, config=request.config, preset=request.preset,
            overrides=request.overrides, downloads=downloads,
        )  # fmt: skip
    job = LrFindJob(
        id=uuid.uuid4().hex, state="queued", base_lr=config.optimizer.lr, start=request.start, end=request.end,
        steps=request.steps, created_at=utcnow(), owner_id=principal.user_id, queue=uow.settings.default_queue,
        config=config.model_dump(mode="json"),
    )  # fmt: skip
    _write(uow.settings, job)
    try:
        uow.tasks.lr_find(job.id, job.queue)
    except BROKER_ERRORS as exc:
        _path(uow.settings, job.id).unlink(missing_ok=True)
        raise BrokerUnavailable(f"the job queue is unreachable ({type(exc).__name__}); nothing was queued") from exc
    return LrFindRead.model_validate(job.model_dump())


def _check_quota(settings: Settings, principal: Principal) -> None:
    """A user's LR range tests queued or running count against `max_active_runs_per_user` (they
    hold a worker like runs do, on a quota of their own). Finished records older than
    `KEEP_FINISHED` are removed on the way, so the folder does not grow for ever."""
    active, now = 0, utcnow()
    for path in (settings.data_dir / FOLDER).glob("*.json"):
        try:
            job = _read(settings, path.stem)
        except ValueError:  # not a record this version can read: leave it, count nothing
            continue
        if job is None:
            continue
        if job.state in ("succeeded", "failed"):
            if now - (job.finished_at or job.created_at) > KEEP_FINISHED:
                path.unlink(missing_ok=True)
            continue
        if job.owner_id == principal.user_id and _fail_if_silent(settings, job).state in ("queued", "running"):
            active += 1
    limit = settings.max_active_runs_per_user
    if active >= limit:
        raise QuotaExceeded(
            f"{principal.name} has {active} LR range tests queued or running, the most allowed "
            f"(STAGEWISE_MAX_ACTIVE_RUNS_PER_USER={limit}): wait for one to finish"
        )


def get_lr_find(*, uow: UnitOfWork, principal: Principal, job_id: str) -> LrFindRead:
    """The job as the page reads it.

    Raises:
        LrFindNotFound: no such job, or another user's.
    """
    job = _read(uow.settings, job_id)
    if job is None or not (principal.is_admin or job.owner_id == principal.user_id):
        raise LrFindNotFound(job_id)
    job = _fail_if_silent(uow.settings, job)
    return LrFindRead.model_validate(job.model_dump(exclude={"owner_id", "queue", "config", "beat_at"}))


def _fail_if_silent(settings: Settings, job: LrFindJob) -> LrFindJob:
    """A running job whose worker gave no sign of life for `heartbeat_timeout_s` ends failed
    (its worker died: killed, out of memory, host lost), instead of showing "running" for ever."""
    if job.state != "running":
        return job
    seen = job.beat_at or job.started_at or job.created_at
    silent = (utcnow() - seen).total_seconds()
    if silent <= settings.heartbeat_timeout_s:
        return job
    failed = job.model_copy(update={
        "state": "failed", "finished_at": utcnow(),
        "error": f"the worker running this test stopped (no sign of it for {silent:.0f} s): run the test again",
    })  # fmt: skip
    _write(settings, failed)
    return failed


def beat_lr_find(*, settings: Settings, job_id: str) -> None:
    """The worker's sign of life while it runs the job (every `heartbeat_interval_s`)."""
    job = _read(settings, job_id)
    if job is not None and job.state == "running":
        _write(settings, job.model_copy(update={"beat_at": utcnow()}))


def start_lr_find(*, settings: Settings, job_id: str) -> LrFindJob | None:
    """The worker takes the job: marked running (a redelivered job runs again: it keeps nothing
    between tries); None when it is gone or already finished."""
    job = _read(settings, job_id)
    if job is None or job.state in ("succeeded", "failed"):
        return None
    job = job.model_copy(update={"state": "running", "started_at": utcnow(), "beat_at": utcnow()})
    _write(settings, job)
    return job


def finish_lr_find(
    *, settings: Settings, job: LrFindJob, result: LrFindResult | None = None, error: str | None = None
) -> None:
    """Record the curve and suggestion, or the error a person can act on."""
    state = "failed" if result is None else "succeeded"
    _write(settings, job.model_copy(update={"state": state, "finished_at": utcnow(), "result": result, "error": error}))


def _path(settings: Settings, job_id: str) -> Path:
    return settings.data_dir / FOLDER / f"{job_id}.json"


def _read(settings: Settings, job_id: str) -> LrFindJob | None:
    if len(job_id) != 32 or any(c not in "0123456789abcdef" for c in job_id):
        return None  # never a path outside the folder
    try:
        return LrFindJob.model_validate_json(_path(settings, job_id).read_text())
    except FileNotFoundError:
        return None


def _write(settings: Settings, job: LrFindJob) -> None:
    """Write the record whole or not at all (a reader never sees half a file)."""
    folder = settings.data_dir / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(job.model_dump_json())
        os.replace(tmp, _path(settings, job.id))
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
