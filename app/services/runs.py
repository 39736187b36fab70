"""Runs as users see them: submit, list, read, cancel, clone, delete, download.

A submitted run is inserted and published in one transaction that commits only after
the broker accepted the task: with the broker down the user gets 503 and no `queued`
row is left behind that nothing would ever run.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session, selectinload

from app.db.types import utcnow
from app.models import Artifact, Run, RunStatus, User
from app.models.runs import NULLABLE_SORTS
from app.presets.studies import STUDIES
from app.queue import BROKER_ERRORS
from app.schemas.accounts import Principal
from app.schemas.metrics import FastPath
from app.schemas.runs import (
    MAX_ID,
    TOTAL_CAP,
    ArtifactRead,
    EpochMetricRead,
    RunClone,
    RunCreate,
    RunDetail,
    RunFilter,
    RunPage,
    RunRead,
    StudyCreate,
    StudyRead,
    StudyRuns,
    TestReportRead,
)
from app.schemas.train_config import TrainConfig
from app.services import disk, metrics
from app.services.configs import build_config, probe_request
from app.services.errors import (
    ArtifactNotFound,
    BrokerUnavailable,
    InvalidInput,
    QuotaExceeded,
    RunNotFound,
    RunStateConflict,
)
from app.services.run_search import search_conditions
from app.services.unit_of_work import UnitOfWork
from app.settings import Settings

CHECKPOINT_KINDS = {"best": "best.pt", "last": "checkpoint.pt"}
TEST_REPORT_FILE = "test_report.json"  # written by `fit` when it ends
FAST_PATH_FILE = "fast_path.json"  # written by `fit` when it starts and at each phase


def create_run(*, uow: UnitOfWork, principal: Principal, request: RunCreate) -> RunRead:
    """Validate, store and queue a new run owned by `principal`.

    Raises:
        InvalidInput: the config, preset, overrides or queue are invalid, or pass a limit.
        QuotaExceeded: the user has `max_active_runs_per_user` runs queued or running.
        BrokerUnavailable: the queue is down; nothing was stored.
    """
    queue = _queue(uow.settings, request.queue)
    downloads = probe_request(uow.settings, config=request.config, preset=request.preset, overrides=request.overrides)
    # The reads below (a source run, `run:<id>` weights, the quota) and the insert are one write.
    with uow.writing() as db:
        config = build_config(
            db=db, settings=uow.settings, principal=principal, config=request.config, preset=request.preset,
            overrides=request.overrides, name=request.name, downloads=downloads,
        )  # fmt: skip
        (run,) = _insert_and_enqueue(uow, db, principal=principal, configs=[config], queue=queue, cloned_from=None)
    return run


def list_studies() -> list[StudyRead]:
    """The studies a user can queue in one request."""
    return [StudyRead(name=s.name, title=s.title, description=s.description, presets=list(s.presets))
            for s in STUDIES.values()]  # fmt: skip


def create_study(*, uow: UnitOfWork, principal: Principal, request: StudyCreate) -> StudyRuns:
    """Queue every run of a study, owned by `principal`: all of them, or none.

    Raises:
        InvalidInput: unknown study or queue, or overrides that do not fit its presets
            (the message names the field).
        QuotaExceeded: the runs would take the user past `max_active_runs_per_user`.
        BrokerUnavailable: the queue is down; nothing was stored.
    """
    study = STUDIES.get(request.study)
    if study is None:
        raise InvalidInput.at(("body", "study"), f"unknown study {request.study!r}; allowed: {', '.join(STUDIES)}")
    queue = _queue(uow.settings, request.queue)
    probes = {p: probe_request(uow.settings, config=None, preset=p, overrides=request.overrides) for p in study.presets}
    with uow.writing() as db:
        configs = [
            build_config(
                db=db, settings=uow.settings, principal=principal, config=None, preset=p, overrides=request.overrides,
                downloads=probes[p],
            )
            for p in study.presets
        ]
        runs = _insert_and_enqueue(uow, db, principal=principal, configs=configs, queue=queue, cloned_from=None)
    return StudyRuns(study=study.name, runs=runs, compare_url="/compare?" + "&".join(f"ids={r.id}" for r in runs))


def clone_run(*, uow: UnitOfWork, principal: Principal, run_id: int, request: RunClone) -> RunRead:
    """A new queued run, owned by `principal`, with `run_id`'s config and `request.overrides` applied."""
    settings = uow.settings
    with uow.reading() as db:  # a run's config never changes: probe its weights' download outside the write
        source_config = _get(db, run_id, principal=principal).config
    downloads = probe_request(settings, config=source_config, preset=None, overrides=request.overrides)
    with uow.writing() as db:
        source = _get(db, run_id, principal=principal)
        # A queue the admin has since removed falls back to the default one.
        queue = _queue(settings, request.queue or (source.queue if source.queue in settings.queues else None))
        config = build_config(
            db=db, settings=settings, principal=principal, config=source.config, preset=None,
            overrides=request.overrides, name=request.name or clone_name(source.name, source.id), downloads=downloads,
        )  # fmt: skip
        (run,) = _insert_and_enqueue(uow, db, principal=principal, configs=[config], queue=queue,
                                     cloned_from=source.id)  # fmt: skip
    return run


def check_visible(*, uow: UnitOfWork, principal: Principal, run_id: int) -> None:
    """Raise RunNotFound unless `principal` may see run `run_id` (theirs, or any for an admin).

    Another user's run answers exactly like a missing one: its existence is not revealed.
    """
    with uow.reading() as db:
        _get(db, run_id, principal=principal)


def clone_name(name: str | None, run_id: int) -> str:
    """The name of a copy of run `run_id` (the API's clone and `stagewise clone` alike)."""
    return f"{name or f'run {run_id}'} (copy)"[:200]


def _queue(settings: Settings, queue: str | None) -> str:
    chosen = queue or settings.default_queue
    if chosen not in settings.queues:
        raise InvalidInput.at(("body", "queue"), f"unknown queue {chosen!r}; allowed: {', '.join(settings.queues)}")
    return chosen


def queue_configs(
    uow: UnitOfWork, db: Session, *, principal: Principal, configs: list[TrainConfig], queue: str | None = None
) -> list[RunRead]:
    """Store and queue `configs` as runs of `principal` inside the caller's write (all or none),
    under the quota, on `queue` (default: the default queue)."""
    return _insert_and_enqueue(uow, db, principal=principal, configs=configs, queue=_queue(uow.settings, queue),
                               cloned_from=None)  # fmt: skip


def _insert_and_enqueue(
    uow: UnitOfWork, db: Session, *, principal: Principal, configs: list[TrainConfig], queue: str,
    cloned_from: int | None,
) -> list[RunRead]:
    """Store and queue the runs inside the caller's write: all of them, or (on any failure) none.

    A task published before a later publish failed names a run that is then never
    committed; its worker finds no such run and drops the task (`train_run`).
    """
    disk.require_room_for_runs(uow.settings)
    _check_quota(db, uow.settings, principal, adding=len(configs))
    runs = [_new_run(config, queue=queue, owner_id=principal.user_id, cloned_from=cloned_from) for config in configs]
    db.add_all(runs)
    db.flush()  # assigns the ids, which the task messages carry
    try:
        for run in runs:
            uow.tasks.train(run.id, queue)
    except BROKER_ERRORS as exc:
        raise BrokerUnavailable(f"the job queue is unreachable ({type(exc).__name__}); nothing was submitted: retry later") from exc
    return [RunRead.model_validate(run) for run in runs]


def _new_run(config: TrainConfig, *, queue: str, owner_id: int | None, cloned_from: int | None) -> Run:
    return Run(
        name=config.name, status=RunStatus.queued, queue=queue, config=config.model_dump(mode="json"),
        dataset=config.dataset.name, backbone=config.backbone, epochs=config.epochs, cloned_from=cloned_from,
        owner_id=owner_id,
    )  # fmt: skip


def _check_quota(db: Session, settings: Settings, principal: Principal, *, adding: int = 1) -> None:
    """Refuse runs that would take the user past the quota of queued + running runs.

    Runs inside the submit's write transaction, which on PostgreSQL locks the user's row
    first, so two simultaneous submits cannot both take the last slot.
    """
    if db.bind is not None and db.bind.dialect.name == "postgresql":
        db.execute(select(User.id).where(User.id == principal.user_id).with_for_update())
    active = db.scalar(
        select(func.count()).select_from(Run)
        .where(Run.owner_id == principal.user_id, Run.status.in_([RunStatus.queued, RunStatus.running]))
    ) or 0  # fmt: skip
    limit = settings.max_active_runs_per_user
    if active + adding > limit:
        if adding == 1:
            raise QuotaExceeded(
                f"{principal.name} has {active} runs queued or running, the most allowed "
                f"(STAGEWISE_MAX_ACTIVE_RUNS_PER_USER={limit}): wait for one or cancel one"
            )
        raise QuotaExceeded(
            f"{principal.name} has {active} runs queued or running; {adding} more would pass the most allowed "
            f"(STAGEWISE_MAX_ACTIVE_RUNS_PER_USER={limit}): nothing was queued, wait for runs or cancel some"
        )


def get_run(*, uow: UnitOfWork, principal: Principal, run_id: int) -> RunDetail:
    """One run with its artifacts."""
    with uow.reading() as db:
        run = _get(db, run_id, principal=principal)
        artifacts = db.scalars(select(Artifact).where(Artifact.run_id == run_id).order_by(Artifact.kind)).all()
        detail = RunDetail.model_validate(run)
    detail.artifacts = [ArtifactRead(kind=a.kind, size_bytes=a.size_bytes, created_at=a.created_at) for a in artifacts]
    return detail


def list_runs(*, uow: UnitOfWork, principal: Principal, query: RunFilter) -> RunPage:
    """A page of the runs `principal` may see, filtered and sorted.

    `total` counts the matches up to `TOTAL_CAP` (or to the end of this page, if further);
    `total_capped` says there are more.
    """
    if query.limit > uow.settings.max_page_size:
        raise InvalidInput.at(("query", "limit"), f"must be <= {uow.settings.max_page_size}")
    conditions = [
        column == value
        for column, value in ((Run.status, query.status), (Run.dataset, query.dataset), (Run.backbone, query.backbone))
        if value is not None
    ]
    if not principal.is_admin:
        conditions.append(Run.owner_id == principal.user_id)
    conditions.extend(search_conditions(query))
    # Count at most `cap` matches (and always past this page): a full count reads every match,
    # which grows with them; past the cap the list says "10,000+" (`total_capped`).
    cap = max(TOTAL_CAP, query.offset + query.limit)
    with uow.reading() as db:
        if query.owner is not None:
            # The owner's id as a value, not a subquery: PostgreSQL then estimates how many runs
            # are theirs and picks the (owner_id, …) index rather than a scan checking each row.
            owner_id = db.scalar(select(User.id).where(User.name == query.owner))
            if owner_id is None:
                return RunPage(items=[], total=0, limit=query.limit, offset=query.offset)
            conditions.append(Run.owner_id == owner_id)
        total = db.scalar(
            select(func.count()).select_from(select(Run.id).where(*conditions).limit(cap + 1).subquery())
        ) or 0  # fmt: skip
        page = (
            select(Run).options(selectinload(Run.owner), selectinload(Run.tag_rows)).where(*conditions)
            .order_by(*_list_order(query.sort)).limit(query.limit).offset(query.offset)
        )  # fmt: skip
        items = [RunRead.model_validate(r) for r in db.scalars(page).all()]
    return RunPage(
        items=items, total=min(total, cap), total_capped=total > cap, limit=query.limit, offset=query.offset
    )


def _list_order(sort: str) -> list[ColumnElement[Any]]:
    """ORDER BY of a list sort: NULLs (unfinished, unnamed) last both ways, ties by id in the key's direction.

    Exactly the column order of an index of migration 0003 (`app.models.runs.list_index_columns`),
    so a page is read in index order on SQLite and PostgreSQL rather than sorted from all rows.
    """
    name, descending = sort.lstrip("-"), sort.startswith("-")
    key = getattr(Run, name)
    order: list[ColumnElement[Any]] = [key.is_(None)] if name in NULLABLE_SORTS else []
    if name != "id":
        order.append(key.desc() if descending else key.asc())
    order.append(Run.id.desc() if descending else Run.id.asc())
    return order


def run_metrics(
    *, uow: UnitOfWork, principal: Principal, run_id: int, after: int | None = None
) -> list[EpochMetricRead]:
    """The finished epochs of a run `principal` may see; `after=N` only epochs > N."""
    with uow.reading() as db:
        _get(db, run_id, principal=principal)
        return metrics.list_metrics(db, run_id=run_id, after=after)


def cancel_run(*, uow: UnitOfWork, principal: Principal, run_id: int) -> RunRead:
    """Cancel a queued run at once; ask a running one to stop (its worker confirms).

    Raises:
        RunStateConflict: the run already finished.
    """
    with uow.writing() as db:
        run = _get(db, run_id, lock=True, principal=principal)
        if RunStatus(run.status).finished:
            raise RunStateConflict(f"run {run_id} already {run.status}; only queued or running runs can be cancelled")
        if run.status == RunStatus.queued:
            run.status, run.finished_at = RunStatus.cancelled, utcnow()
        run.cancel_requested = True
        db.flush()
        return RunRead.model_validate(run)


def delete_run(*, uow: UnitOfWork, principal: Principal, run_id: int) -> None:
    """Delete a run that is not running, its metrics, artifacts and files.

    Raises:
        RunStateConflict: the run is running (cancel it first).
    """
    with uow.writing() as db:
        run = _get(db, run_id, lock=True, principal=principal)
        if run.status == RunStatus.running:
            raise RunStateConflict(f"run {run_id} is running; cancel it and wait until it stops before deleting")
        db.delete(run)
    # Files after the commit: a failed commit must not lose a run's checkpoints.
    shutil.rmtree(uow.settings.runs_dir / str(run_id), ignore_errors=True)


def checkpoint_file(*, uow: UnitOfWork, principal: Principal, run_id: int, kind: str) -> Path:
    """The checkpoint file of a run, found by id only (never from a client path)."""
    check_visible(uow=uow, principal=principal, run_id=run_id)
    if kind not in CHECKPOINT_KINDS:
        raise InvalidInput.at(("query", "kind"), f"unknown kind {kind!r}; allowed: {', '.join(CHECKPOINT_KINDS)}")
    path = _run_file(uow.settings, run_id, CHECKPOINT_KINDS[kind])
    if not path.is_file():
        raise ArtifactNotFound(f"run {run_id} has no {kind} checkpoint ({CHECKPOINT_KINDS[kind]}) yet")
    return path


def get_test_report(*, uow: UnitOfWork, principal: Principal, run_id: int) -> TestReportRead:
    """Per-class accuracy and confusion matrix on the test split of a finished run (404 without one)."""
    report = find_test_report(uow=uow, principal=principal, run_id=run_id)
    if report is None:
        with uow.reading() as db:
            run = _get(db, run_id, principal=principal)
        if run.status in (RunStatus.queued, RunStatus.running):
            raise ArtifactNotFound(f"run {run_id} is {run.status}: its test report is written when it finishes")
        raise ArtifactNotFound(f"run {run_id} has no test report: it {run.status} before evaluating the test split")
    return report


def find_test_report(*, uow: UnitOfWork, principal: Principal, run_id: int) -> TestReportRead | None:
    """The report `fit` wrote into the run's folder, found by id only; None until the run has finished.

    A run re-queued after its worker died may hold a report from an attempt that is about
    to be trained again, so a queued or running run has none.
    """
    with uow.reading() as db:
        run = _get(db, run_id, principal=principal)
    path = _run_file(uow.settings, run_id, TEST_REPORT_FILE)
    if run.status in (RunStatus.queued, RunStatus.running) or not path.is_file():
        return None
    return TestReportRead.model_validate_json(path.read_text())


def get_fast_path(*, uow: UnitOfWork, principal: Principal, run_id: int) -> FastPath:
    """How the run's worker trains it (data placement, decode cache, precision, frozen prefix, …)."""
    fast_path = find_fast_path(uow=uow, principal=principal, run_id=run_id)
    if fast_path is None:
        raise ArtifactNotFound(f"run {run_id} has no fast-path record yet: a worker writes it when training starts")
    return fast_path


def find_fast_path(*, uow: UnitOfWork, principal: Principal, run_id: int) -> FastPath | None:
    """The record `fit` keeps in the run's folder; None before a worker started it (or if unreadable)."""
    check_visible(uow=uow, principal=principal, run_id=run_id)
    path = _run_file(uow.settings, run_id, FAST_PATH_FILE)
    try:
        return FastPath.model_validate_json(path.read_text())
    except (OSError, ValueError):  # not written yet, or a file this version cannot read
        return None


def _run_file(settings: Settings, run_id: int, filename: str) -> Path:
    """A file in a run's folder; the path comes from the id, never from a client."""
    return settings.runs_dir / str(run_id) / filename


def visible_run(db: Session, *, principal: Principal, run_id: int) -> Run:
    """Run `run_id` inside the caller's block, if `principal` may see it (RunNotFound otherwise)."""
    return _get(db, run_id, principal=principal)


def _get(db: Session, run_id: int, *, principal: Principal, lock: bool = False) -> Run:
    """Run `run_id` if `principal` may see it (RunNotFound otherwise); the caller is required."""
    run = db.get(Run, run_id, with_for_update=lock) if 0 < run_id <= MAX_ID else None
    if run is None or (not principal.is_admin and run.owner_id != principal.user_id):
        raise RunNotFound(run_id)
    return run
