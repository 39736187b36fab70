"""Evaluations as users ask for them: judge a run's checkpoint on a dataset, read the result.

A request is checked before anything is stored: the run is the caller's and has the
checkpoint, and the dataset's class folders are the run's classes (else 422 naming the
missing and extra ones, unless `shared_classes`). Listing the dataset and reading the
checkpoint's class names are file work, done before the short write that inserts the
row and publishes the job (insert + publish + commit, as for runs: with the broker down
nothing is stored). The worker's side is `services.evaluation_jobs`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Evaluation, EvaluationStatus, Run
from app.queue import BROKER_ERRORS
from app.schemas.accounts import Principal
from app.schemas.evaluations import (
    EvalSplit,
    EvaluationCreate,
    EvaluationFilter,
    EvaluationRead,
    TransferCell,
    TransferMatrix,
    TransferRequest,
    TransferRow,
)
from app.schemas.runs import MAX_ID
from app.schemas.train_config import DatasetConfig
from app.services import runs
from app.services.errors import (
    ArtifactNotFound,
    BrokerUnavailable,
    EvaluationNotFound,
    FieldError,
    InvalidInput,
    RunStateConflict,
)
from app.services.unit_of_work import UnitOfWork

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class _Job:
    """One checked (run, dataset) pair, ready to insert."""

    run_id: int
    dataset: DatasetConfig


def create_evaluation(*, uow: UnitOfWork, principal: Principal, run_id: int, request: EvaluationCreate) -> EvaluationRead:
    """Queue run `run_id`'s `request.checkpoint` judged on `request.dataset`.

    Raises:
        RunNotFound: no run of the caller's with this id (404).
        RunStateConflict: the run has no such checkpoint yet (409).
        InvalidInput: the dataset cannot be read, or its classes differ from the run's (422).
        BrokerUnavailable: the queue is down; nothing was stored (503).
    """
    queue = _queue(uow, request.queue)
    classes = _run_classes(uow=uow, principal=principal, run_id=run_id, checkpoint=request.checkpoint)
    _check_dataset(uow, request.dataset, classes, run_id, shared=request.shared_classes, loc=("body", "dataset"))
    (made,) = _insert_and_enqueue(
        uow, principal, [_Job(run_id, request.dataset)], split=request.split, checkpoint=request.checkpoint,
        shared=request.shared_classes, queue=queue,
    )  # fmt: skip
    return made


def create_transfer(*, uow: UnitOfWork, principal: Principal, request: TransferRequest) -> list[EvaluationRead]:
    """Queue every run × every dataset (the transfer matrix), all or none; errors name the run or dataset."""
    queue = _queue(uow, None)
    jobs: list[_Job] = []
    errors: list[FieldError] = []
    for run_id in request.run_ids:
        classes = _run_classes(uow=uow, principal=principal, run_id=run_id, checkpoint=request.checkpoint)
        for index, dataset in enumerate(request.datasets):
            try:
                _check_dataset(uow, dataset, classes, run_id, shared=request.shared_classes,
                               loc=("body", "datasets", index))  # fmt: skip
            except InvalidInput as exc:
                errors.extend(exc.errors)
                continue
            jobs.append(_Job(run_id, dataset))
    if errors:
        raise InvalidInput(errors)
    return _insert_and_enqueue(
        uow, principal, jobs, split=request.split, checkpoint=request.checkpoint, shared=request.shared_classes,
        queue=queue,
    )  # fmt: skip


def get_evaluation(*, uow: UnitOfWork, principal: Principal, evaluation_id: int) -> EvaluationRead:
    """One evaluation of a run the caller may see (404 otherwise, like a missing one)."""
    with uow.reading() as db:
        return EvaluationRead.model_validate(_get(db, principal, evaluation_id))


def list_evaluations(*, uow: UnitOfWork, principal: Principal, query: EvaluationFilter) -> list[EvaluationRead]:
    """The evaluations of the runs in `query` (all the caller's when empty), newest first."""
    try:
        run_ids = query.ids()
    except ValueError as exc:
        raise InvalidInput.at(("query", "run_ids"), str(exc)) from exc
    statement = select(Evaluation).join(Run, Run.id == Evaluation.run_id).order_by(Evaluation.id.desc())
    if run_ids:
        statement = statement.where(Evaluation.run_id.in_(run_ids))
    if not principal.is_admin:
        statement = statement.where(Run.owner_id == principal.user_id)
    with uow.reading() as db:
        return [EvaluationRead.model_validate(row) for row in db.scalars(statement.limit(1000))]


def _get(db: Session, principal: Principal, evaluation_id: int) -> Evaluation:
    evaluation = db.get(Evaluation, evaluation_id) if 0 < evaluation_id <= MAX_ID else None
    if evaluation is None:
        raise EvaluationNotFound(evaluation_id)
    run = db.get(Run, evaluation.run_id)
    if run is None or (not principal.is_admin and run.owner_id != principal.user_id):
        raise EvaluationNotFound(evaluation_id)
    return evaluation


def _queue(uow: UnitOfWork, queue: str | None) -> str:
    chosen = queue or uow.settings.default_queue
    if chosen not in uow.settings.queues:
        raise InvalidInput.at(("body", "queue"), f"unknown queue {chosen!r}; allowed: {', '.join(uow.settings.queues)}")
    return chosen


def _run_classes(*, uow: UnitOfWork, principal: Principal, run_id: int, checkpoint: str) -> list[str]:
    """The class names the run's checkpoint was trained on (read from the file, outside any transaction)."""
    try:
        path = runs.checkpoint_file(uow=uow, principal=principal, run_id=run_id, kind=checkpoint)
    except ArtifactNotFound as exc:
        raise RunStateConflict(f"run {run_id} has no {checkpoint} checkpoint yet: nothing to evaluate") from exc
    from worker.training import checkpoints  # torch: only once there is a checkpoint to read
    from worker.training.errors import TrainingError

    try:
        classes = list(checkpoints.load_trusted_format(path).get("class_names") or [])
    except TrainingError as exc:
        raise RunStateConflict(f"run {run_id}: {exc}") from exc
    if not classes:
        raise RunStateConflict(f"run {run_id}: its {checkpoint} checkpoint names no classes (an older Stagewise wrote it)")
    return classes


def _check_dataset(
    uow: UnitOfWork, dataset: DatasetConfig, classes: Sequence[str], run_id: int, *, shared: bool, loc: Loc
) -> None:
    """The dataset can be listed and its class folders match the run's (by name)."""
    from worker.training import evaluation
    from worker.training.errors import TrainingError

    try:
        found = evaluation.dataset_classes(dataset, uow.settings.data_dir)
        evaluation.match_classes(classes, found, shared=shared)
    except evaluation.ClassMismatch as exc:
        hint = "" if shared else "; or ask for shared_classes: true to judge only the classes both have"
        raise InvalidInput([FieldError(loc, f"run {run_id}: {exc}{hint}", "class_mismatch")]) from exc
    except TrainingError as exc:
        raise InvalidInput.at(loc, str(exc)) from exc


def dataset_label(dataset: DatasetConfig, split: EvalSplit) -> str:
    """The short name of what was judged: the folder for an image folder, else the dataset's label."""
    name = dataset.path if dataset.name == "imagefolder" and dataset.path else dataset.label
    return name if split == "all" else f"{name} ({split})"


def _insert_and_enqueue(
    uow: UnitOfWork, principal: Principal, jobs: Sequence[_Job], *, split: EvalSplit, checkpoint: str,
    shared: bool, queue: str,
) -> list[EvaluationRead]:  # fmt: skip
    with uow.writing() as db:
        for job in jobs:  # the run may have been deleted since it was checked
            runs.visible_run(db, principal=principal, run_id=job.run_id)
        rows = [
            Evaluation(
                run_id=job.run_id, owner_id=principal.user_id, status=EvaluationStatus.queued, queue=queue,
                dataset=job.dataset.model_dump(mode="json", exclude_none=True),
                dataset_label=dataset_label(job.dataset, split)[:300], split=split, checkpoint=checkpoint,
                shared_classes=shared, attempt=0,
            )
            for job in jobs
        ]  # fmt: skip
        db.add_all(rows)
        db.flush()  # assigns the ids the task messages carry
        try:
            for row in rows:
                uow.tasks.evaluate(row.id, queue)
        except BROKER_ERRORS as exc:
            raise BrokerUnavailable(f"the job queue is unreachable ({type(exc).__name__}); nothing was queued") from exc
        return [EvaluationRead.model_validate(row) for row in rows]


def transfer_matrix(*, uow: UnitOfWork, principal: Principal, run_ids: Sequence[int]) -> TransferMatrix:
    """Runs × datasets: each run's latest evaluation per dataset, and its own test split on the diagonal.

    Raises:
        RunNotFound: a run the caller may not see (404, like a missing one).
    """
    with uow.reading() as db:
        chosen = [runs.visible_run(db, principal=principal, run_id=run_id) for run_id in run_ids]
        labels = {run.id: (f"#{run.id} {run.name}" if run.name else f"#{run.id}") for run in chosen}
        own = {run.id: _own_label(run.config) for run in chosen}
        rows = db.scalars(select(Evaluation).where(Evaluation.run_id.in_(list(run_ids))).order_by(Evaluation.id))
        latest = {(e.run_id, e.dataset_label): e for e in rows}  # later ids replace earlier ones
    columns = list(dict.fromkeys([*own.values(), *(label for _, label in latest)]))
    matrix = []
    for run_id in run_ids:
        cells = {label: TransferCell(status=e.status, accuracy=e.accuracy, evaluation_id=e.id)
                 for (owner, label), e in latest.items() if owner == run_id}  # fmt: skip
        report = runs.find_test_report(uow=uow, principal=principal, run_id=run_id)
        if report is not None:
            cells[own[run_id]] = TransferCell(status="test split", accuracy=report.accuracy, own=True)
        matrix.append(TransferRow(run_id=run_id, label=labels[run_id], own_dataset=own[run_id], cells=cells))
    return TransferMatrix(columns=columns, rows=matrix)


def _own_label(config: dict[str, Any]) -> str:
    """The column of a run's own dataset: the label its evaluations on that dataset would get."""
    try:
        return dataset_label(DatasetConfig.model_validate(config.get("dataset", {})), "all")
    except ValueError:
        return str(config.get("dataset", {}).get("name", "?"))
