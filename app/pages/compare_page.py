"""The Compare page: the reference table (model, description, train acc, test acc), the
config differences, curve data for the overlay, and the same numbers as CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from app.pages.descriptions import StageLR, describe_stage_lrs, format_lr, stage_lrs
from app.schemas.runs import CompareRead, ConfigDifference, EpochMetricRead, RunRead
from app.schemas.train_config import TrainConfig
from app.schemas.weights_source import chained_from

METRICS: tuple[tuple[str, str], ...] = (
    ("val_acc", "Validation accuracy"),
    ("test_acc", "Test accuracy"),
    ("train_acc", "Train accuracy"),
    ("val_loss", "Validation loss"),
    ("test_loss", "Test loss"),
    ("train_loss", "Train loss"),
    ("images_per_s", "Images per second"),
)
EPOCH_FIELDS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "images_per_s", "seconds")


@dataclass(frozen=True)
class SummaryRow:
    """One run in the reference layout."""

    id: int
    label: str
    description: str
    train_acc: float | None
    test_acc: float | None  # the last epoch's: the reference table selects no model on extra labels
    test_acc_at_best_val: float | None
    best_val_acc: float | None
    weights: str
    weights_href: str | None  # a chained run's source run
    epochs_done: int
    epochs: int
    status: str


@dataclass(frozen=True)
class DiffCell:
    text: str
    differs: bool  # from the baseline run's value (the first run unless the user picked one)


@dataclass(frozen=True)
class DiffRow:
    path: str
    cells: list[DiffCell]


def run_label(run: RunRead) -> str:
    """"#12 Model D" — the id keeps two runs with one name apart in legends."""
    return f"#{run.id} {run.name}" if run.name else f"#{run.id}"


def describe(run: RunRead) -> str:
    """The stage-LR description of a stored config ("" if it no longer validates)."""
    try:
        return describe_stage_lrs(TrainConfig.model_validate(run.config))
    except ValidationError:
        return ""  # written by an older schema; the config table still shows it


def weights_label(weights: str) -> str:
    """"ImageNet", "scratch", "run #7, best checkpoint (epoch 3)", or the file a run started from."""
    source = chained_from(weights)
    if source is not None:
        epoch = f" (epoch {source.epoch})" if source.epoch is not None else ""
        return f"run #{source.run_id}, {source.checkpoint} checkpoint{epoch}"
    return {"imagenet": "ImageNet", "none": "scratch"}.get(weights, weights)


def weights_href(weights: str) -> str | None:
    """The Run page of the run whose checkpoint a run started from, if it did."""
    source = chained_from(weights)
    return f"/runs/{source.run_id}" if source is not None else None


def best_val_test_acc(curve: list[EpochMetricRead]) -> float | None:
    """Test accuracy of the epoch with the best validation accuracy (ties: the earliest)."""
    scored = [m for m in curve if m.val_acc is not None]
    if not scored:
        return None
    return max(scored, key=lambda m: (m.val_acc, -m.epoch)).test_acc


def last_test_acc(curve: list[EpochMetricRead]) -> float | None:
    """Test accuracy of the latest epoch that was tested."""
    tested = [m.test_acc for m in curve if m.test_acc is not None]
    return tested[-1] if tested else None


def summary_row(run: RunRead, curve: list[EpochMetricRead]) -> SummaryRow:
    """A finished run's numbers come from its summary; a running one's from its curve so far."""
    summary = run.summary
    train_acc = summary.final_train_acc if summary else (curve[-1].train_acc if curve else None)
    test_acc = summary.final_test_acc if summary else last_test_acc(curve)
    at_best_val = summary.test_acc_at_best_val if summary else best_val_test_acc(curve)
    weights = str(run.config.get("weights", ""))
    return SummaryRow(
        run.id, run_label(run), describe(run), train_acc, test_acc, at_best_val, run.best_val_acc,
        weights_label(weights), weights_href(weights), run.epochs_done, run.epochs, run.status,
    )  # fmt: skip


def _cell_text(value: Any) -> str:
    if value is None:
        return "–"
    return value if isinstance(value, str) else json.dumps(value)


def _row(path: str, values: list[Any], to_text: Callable[[Any], str] = _cell_text, base: int = 0) -> DiffRow:
    return DiffRow(path, [DiffCell(to_text(v), i != base and v != values[base]) for i, v in enumerate(values)])


def diff_rows(differences: list[ConfigDifference], run_ids: list[int], base: int = 0) -> list[DiffRow]:
    """Differences as table rows, each cell flagged where it differs from run `run_ids[base]`.

    Raw `stages.*` paths are left to `stage_rows`: `{}` and six explicit LRs can mean the
    same training, so the raw keys would show differences that are not there.
    """
    return [
        _row(diff.path, [diff.values.get(i) for i in run_ids], base=base)
        for diff in differences
        if diff.path != "stages" and not diff.path.startswith("stages.")
    ]


def _stage_text(stage: StageLR | None) -> str:
    if stage is None:
        return "–"
    late = f" from epoch {stage.unfreeze_epoch + 1}" if stage.unfreeze_epoch and stage.lr else ""
    return format_lr(stage.lr) + late


def stage_rows(runs: list[RunRead], base: int = 0) -> list[DiffRow]:
    """One row per stage whose effective LR (absolute, after multipliers) differs from run `runs[base]`'s."""
    per_run: list[dict[str, StageLR]] = []
    for run in runs:
        try:
            per_run.append({s.name: s for s in stage_lrs(TrainConfig.model_validate(run.config))})
        except ValidationError:
            per_run.append({})
    names = list(dict.fromkeys(name for stages in per_run for name in stages))
    rows = [_row(f"LR of {name}", [stages.get(name) for stages in per_run], _stage_text, base) for name in names]
    return [row for row in rows if any(cell.differs for cell in row.cells)]


def curve_data(compare: CompareRead) -> dict[str, Any]:
    """The overlay's data: per run its label, epochs and each metric's values."""
    return {
        "runs": [
            {
                "id": run.id,
                "label": run_label(run),
                "epochs": [m.epoch for m in compare.curves.get(run.id, [])],
                "metrics": {key: [getattr(m, key) for m in compare.curves.get(run.id, [])] for key, _ in METRICS},
            }
            for run in compare.runs
        ]
    }


@dataclass(frozen=True)
class ComparePage:
    """Everything templates/compare.html shows."""

    rows: list[SummaryRow] = field(default_factory=list)
    differences: list[DiffRow] = field(default_factory=list)
    curves: dict[str, Any] = field(default_factory=dict)
    ids_text: str = ""
    metric: str = "val_acc"
    max_compare: int = 20
    error: str | None = None
    metric_options: tuple[tuple[str, str], ...] = METRICS
    baseline: int | None = None  # the run the differences are measured from
    study_name: str = ""  # "Save as study", re-shown with its error
    study_error: str = ""

    @property
    def baseline_label(self) -> str:
        return next((row.label for row in self.rows if row.id == self.baseline), "the first run")


def compare_page(compare: CompareRead, *, metric: str, max_compare: int, baseline: int | None = None) -> ComparePage:
    """The Compare page view of a `CompareRead`; differences are flagged against run `baseline`
    (the first run when it is None or not among the compared runs)."""
    ids = [run.id for run in compare.runs]
    base = ids.index(baseline) if baseline in ids else 0
    return ComparePage(
        rows=[summary_row(run, compare.curves.get(run.id, [])) for run in compare.runs],
        differences=stage_rows(compare.runs, base) + diff_rows(compare.differences, ids, base),
        baseline=ids[base] if ids else None,
        curves=curve_data(compare),
        ids_text=",".join(map(str, ids)),
        metric=metric if metric in dict(METRICS) else "val_acc",
        max_compare=max_compare,
    )


def _csv(header: list[str], rows: list[list[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def summary_csv(page: ComparePage) -> str:
    """The summary table as CSV, accuracies as fractions (as the API reports them)."""
    header = ["run_id", "model", "description", "train_acc", "test_acc", "test_acc_at_best_val", "best_val_acc",
              "weights", "epochs_done", "epochs", "status"]  # fmt: skip
    return _csv(header, [[r.id, r.label, r.description, r.train_acc, r.test_acc, r.test_acc_at_best_val,
                          r.best_val_acc, r.weights,
                          r.epochs_done, r.epochs, r.status] for r in page.rows])  # fmt: skip


def curves_csv(compare: CompareRead) -> str:
    """Every epoch of every run, one row each, with one `lr.<stage>` column per stage seen."""
    stages = sorted({stage for curve in compare.curves.values() for m in curve for stage in m.lr})
    header = ["run_id", "model", *EPOCH_FIELDS, *(f"lr.{s}" for s in stages)]
    rows = [  # epochs counted from 1, as every page and plot shows them (the API's records count from 0)
        [run.id, run_label(run), m.epoch + 1, *(getattr(m, f) for f in EPOCH_FIELDS[1:]), *(m.lr.get(s) for s in stages)]
        for run in compare.runs
        for m in compare.curves.get(run.id, [])
    ]
    return _csv(header, rows)
