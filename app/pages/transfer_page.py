"""The transfer matrix: runs × datasets, each cell a run's accuracy on a dataset.

Rows are runs, columns datasets (each run's own dataset first: its cell there is the run's
own test split, the diagonal). A cell links to its evaluation's confusion matrix. From
Compare, "Evaluate on…" leads here with the runs; the form queues every run × every
chosen dataset in one request (`evaluations.create_transfer`). Colours are CSS classes
(`heat-0` … `heat-10`), not inline styles, so the page needs no `style-src 'unsafe-inline'`.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.api.deps import IdPath, PrincipalDep, SettingsDep, UowDep
from app.pages.confusion import ConfusionView, confusion_view
from app.pages.errors import html_errors
from app.pages.templating import get_templates, percent
from app.schemas.accounts import Principal
from app.schemas.catalog_api import DatasetRead
from app.schemas.evaluations import EvaluationRead, TransferMatrix, TransferRequest
from app.schemas.metrics import TestReport
from app.schemas.train_config import DatasetConfig
from app.services import catalog, compare, evaluations
from app.services.errors import InvalidInput
from app.services.unit_of_work import UnitOfWork
from app.settings import Settings

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class CellView:
    text: str  # "87.50%", "queued", "—"
    heat: int | None  # 0..10: the colour bucket of the accuracy
    href: str | None
    title: str
    own: bool = False


@dataclass(frozen=True)
class RowView:
    run_id: int
    label: str
    cells: list[CellView]


@dataclass(frozen=True)
class DatasetChoice:
    value: str  # "name" or "name:path", what the form posts
    label: str


@dataclass(frozen=True)
class TransferPage:
    ids_text: str = ""
    columns: list[str] = field(default_factory=list)
    rows: list[RowView] = field(default_factory=list)
    choices: list[DatasetChoice] = field(default_factory=list)
    pending: bool = False
    error: str = ""
    export: dict[str, Any] = field(default_factory=dict)  # what transfer.js draws as the PNG


@dataclass(frozen=True)
class EvaluationPage:
    evaluation: EvaluationRead
    matrix: ConfusionView | None


def transfer_view(matrix: TransferMatrix, *, ids_text: str, choices: list[DatasetChoice]) -> TransferPage:
    """The page's table: one row per run, one cell per column, coloured by accuracy."""
    rows = []
    for row in matrix.rows:
        cells = []
        for column in matrix.columns:
            cell = row.cells.get(column)
            if cell is None:
                cells.append(CellView("—", None, None, f"{row.label} not evaluated on {column}"))
                continue
            text = percent(cell.accuracy) if cell.accuracy is not None else cell.status
            heat = round(cell.accuracy * 10) if cell.accuracy is not None else None
            href = f"/runs/{row.run_id}#test-split" if cell.own else f"/evaluations/{cell.evaluation_id}"
            what = "own test split" if cell.own else cell.status
            cells.append(CellView(text, heat, href, f"{row.label} on {column} ({what}): {text}", own=cell.own))
        rows.append(RowView(row.run_id, row.label, cells))
    return TransferPage(
        ids_text=ids_text, columns=matrix.columns, rows=rows, choices=choices, pending=matrix.pending,
        export=transfer_export(matrix),
    )  # fmt: skip


def transfer_export(matrix: TransferMatrix) -> dict[str, Any]:
    """The matrix as the PNG export draws it: labels, accuracies (None: no number) and the diagonal."""
    cells = [[row.cells.get(column) for column in matrix.columns] for row in matrix.rows]
    return {
        "columns": matrix.columns,
        "rows": [row.label for row in matrix.rows],
        "accuracy": [[c.accuracy if c is not None else None for c in line] for line in cells],
        "own": [[c is not None and c.own for c in line] for line in cells],
    }


def transfer_csv(matrix: TransferMatrix) -> str:
    """The matrix as CSV: a row per run, a column per dataset, accuracies as fractions (empty: none)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["run", *matrix.columns])
    for row in matrix.rows:
        values = [row.cells.get(c) for c in matrix.columns]
        writer.writerow([row.label, *("" if v is None or v.accuracy is None else f"{v.accuracy:.6f}" for v in values)])
    return buffer.getvalue()


def dataset_choices(datasets: list[DatasetRead]) -> list[DatasetChoice]:
    """What the "Evaluate on…" form offers: every available catalog dataset and every scanned folder."""
    choices = []
    for dataset in datasets:
        if dataset.available and dataset.name not in ("fake", "imagefolder"):
            choices.append(DatasetChoice(dataset.name, dataset.name))
        for folder in dataset.scanned:
            choices.append(DatasetChoice(f"{dataset.name}:{folder.path}", f"{folder.path} ({dataset.name})"))
    return choices


def parse_choice(value: str) -> DatasetConfig:
    """A posted choice ("name" or "name:path") as a dataset config."""
    name, _, path = value.partition(":")
    return DatasetConfig.model_validate({"name": name, **({"path": path} if path else {})})


def evaluation_page(evaluation: EvaluationRead) -> EvaluationPage:
    """One evaluation with its confusion matrix (rows true, columns predicted), once it has one."""
    result = evaluation.result
    if result is None or evaluation.accuracy is None:
        return EvaluationPage(evaluation, None)
    report = TestReport(
        model=evaluation.checkpoint, epoch=max(result.epoch - 1, 0), accuracy=evaluation.accuracy,
        class_names=result.class_names, confusion=result.confusion,
    )  # fmt: skip
    return EvaluationPage(evaluation, confusion_view(report))


def _render(request: Request, template: str, page: Any, status_code: int = 200) -> HTMLResponse:
    return get_templates().TemplateResponse(request, template, {"page": page, "nav": ""}, status_code=status_code)


def _matrix_page(uow: UnitOfWork, settings: Settings, principal: Principal, ids: str) -> TransferPage:
    choices = dataset_choices(catalog.datasets(uow=uow))
    if not ids:
        return TransferPage(choices=choices)
    run_ids = compare.parse_ids(ids, settings=settings)
    matrix = evaluations.transfer_matrix(uow=uow, principal=principal, run_ids=run_ids)
    return transfer_view(matrix, ids_text=",".join(map(str, run_ids)), choices=choices)


@router.get("/transfer", response_class=HTMLResponse)
@html_errors
def transfer(request: Request, uow: UowDep, settings: SettingsDep, principal: PrincipalDep, ids: str = "") -> HTMLResponse:
    """Runs × datasets for the runs in `ids`, with the "Evaluate on…" form."""
    return _render(request, "transfer.html", _matrix_page(uow, settings, principal, ids))


@router.get("/transfer.csv", response_class=Response)
@html_errors
def transfer_download(request: Request, uow: UowDep, settings: SettingsDep, principal: PrincipalDep,
                      ids: str = "") -> Response:  # fmt: skip
    """The matrix as CSV."""
    run_ids = compare.parse_ids(ids, settings=settings)
    body = transfer_csv(evaluations.transfer_matrix(uow=uow, principal=principal, run_ids=run_ids))
    filename = f"transfer-{'-'.join(map(str, run_ids))}.csv"
    return Response(body, media_type="text/csv", headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.post("/transfer", response_model=None)
@html_errors
def queue_transfer(
    request: Request, uow: UowDep, settings: SettingsDep, principal: PrincipalDep,
    ids: Annotated[str, Form()], datasets: Annotated[list[str], Form()] = [],  # noqa: B006
    split: Annotated[str, Form()] = "all", checkpoint: Annotated[str, Form()] = "best",
    shared_classes: Annotated[bool, Form()] = False,
) -> Response:  # fmt: skip
    """Queue every run × every chosen dataset, then show the matrix filling in."""
    run_ids = compare.parse_ids(ids, settings=settings)
    target = f"/transfer?ids={','.join(map(str, run_ids))}"
    try:
        if not datasets:
            raise InvalidInput.at(("body", "datasets"), "pick one or more datasets to evaluate on")
        body = TransferRequest.model_validate({
            "run_ids": run_ids, "datasets": [parse_choice(d) for d in datasets], "split": split,
            "checkpoint": checkpoint, "shared_classes": shared_classes,
        })  # fmt: skip
        evaluations.create_transfer(uow=uow, principal=principal, request=body)
    except (InvalidInput, ValueError) as exc:
        message = "; ".join(e.msg for e in exc.errors) if isinstance(exc, InvalidInput) else str(exc)
        page = dataclasses.replace(_matrix_page(uow, settings, principal, ids), error=message)
        return _render(request, "transfer.html", page, status_code=422)
    return RedirectResponse(target, status_code=303)


@router.get("/evaluations/{evaluation_id}", response_class=HTMLResponse)
@html_errors
def evaluation_detail(request: Request, evaluation_id: IdPath, uow: UowDep, principal: PrincipalDep) -> HTMLResponse:
    """One evaluation: what was judged, accuracy, per-class accuracy and the confusion matrix."""
    found = evaluations.get_evaluation(uow=uow, principal=principal, evaluation_id=evaluation_id)
    return _render(request, "evaluation_detail.html", evaluation_page(found))
