"""The Compare page's table, differences and CSV, from API shapes (no database)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

from app.pages.compare_page import compare_page, curves_csv, summary_csv
from app.schemas.metrics import RunSummary
from app.schemas.runs import CompareRead, ConfigDifference, EpochMetricRead, RunRead

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _run(run_id: int, config: dict[str, Any], summary: RunSummary | None = None) -> RunRead:
    return RunRead(
        id=run_id, name=f"run{run_id}", status="succeeded" if summary else "running", queue="default",
        dataset="fake", backbone="resnet18", epochs=2, epochs_done=2, config=config, cloned_from=None,
        created_at=NOW, started_at=NOW, finished_at=None, heartbeat_at=None, attempt=1, worker_host=None,
        gpu=None, cancel_requested=False, error=None, best_val_acc=0.6, summary=summary,
    )  # fmt: skip


def _epoch(epoch: int, val_acc: float, test_acc: float) -> EpochMetricRead:
    return EpochMetricRead(
        epoch=epoch, train_loss=1.0, train_acc=0.5 + epoch / 10, val_loss=1.0, val_acc=val_acc, test_loss=1.0,
        test_acc=test_acc, lr={"conv1": 0.01, "classifier": 0.1}, images_per_s=100.0, seconds=1.0,
    )  # fmt: skip


SUMMARY = RunSummary(epochs_done=2, best_val_acc=0.6, best_epoch=0, test_acc_at_best_val=0.55, final_train_acc=0.9,
                     final_test_acc=0.5, images_per_s=100.0, split_hash="x")  # fmt: skip
D = {"weights": "imagenet", "stages": {"conv1": 1e-4, "conv2": 1e-4, "conv3": 1e-4, "conv4": 1e-3, "conv5": 1e-3,
                                       "classifier": 0.1}}  # fmt: skip
SAME = {"weights": "none", "optimizer": {"lr": 0.1}}
COMPARE = CompareRead(
    runs=[_run(1, D, SUMMARY), _run(2, SAME)],
    curves={1: [_epoch(0, 0.6, 0.55), _epoch(1, 0.5, 0.5)], 2: [_epoch(0, 0.4, 0.3), _epoch(1, 0.7, 0.65)]},
    differences=[ConfigDifference(path="weights", values={1: "imagenet", 2: "none"}),
                 ConfigDifference(path="stages.conv1", values={1: 1e-4, 2: None})],
)  # fmt: skip


def test_rows_follow_the_reference_layout() -> None:
    rows = compare_page(COMPARE, metric="val_acc", max_compare=20).rows
    assert [(r.label, r.description, r.train_acc, r.test_acc, r.weights) for r in rows] == [
        ("#1 run1", "conv1–3 1e-4, conv4–5 1e-3, classifier 1e-1", 0.9, 0.5, "ImageNet"),
        ("#2 run2", "all 1e-1", 0.6, 0.65, "scratch"),  # running: from its curve so far
    ]


def test_test_acc_is_the_last_epochs_and_the_best_val_pick_stands_beside_it() -> None:
    # The reference table selects no model on extra labels: its test accuracy is the last epoch's.
    first, second = compare_page(COMPARE, metric="val_acc", max_compare=20).rows

    assert (first.test_acc, first.test_acc_at_best_val) == (0.5, 0.55)
    assert (second.test_acc, second.test_acc_at_best_val) == (0.65, 0.65)


def test_stage_lrs_are_compared_as_trained_and_raw_stage_keys_are_dropped() -> None:
    rows = compare_page(COMPARE, metric="val_acc", max_compare=20).differences
    by_path = {row.path: [(c.text, c.differs) for c in row.cells] for row in rows}
    assert by_path["LR of conv1"] == [("1e-4", False), ("1e-1", True)]
    assert "LR of classifier" not in by_path  # 1e-1 in both, written differently
    assert by_path["weights"] == [("imagenet", False), ("none", True)]
    assert not any(path.startswith("stages") for path in by_path)


def test_an_unknown_metric_falls_back_to_validation_accuracy() -> None:
    assert compare_page(COMPARE, metric="nonsense", max_compare=20).metric == "val_acc"


def test_curves_csv_has_one_row_per_epoch_with_stage_lrs_counting_epochs_from_1() -> None:
    rows = list(csv.DictReader(io.StringIO(curves_csv(COMPARE))))
    assert [(r["run_id"], r["epoch"], r["lr.classifier"]) for r in rows] == [
        ("1", "1", "0.1"), ("1", "2", "0.1"), ("2", "1", "0.1"), ("2", "2", "0.1"),
    ]  # fmt: skip


def test_summary_csv_keeps_accuracies_as_fractions() -> None:
    page = compare_page(COMPARE, metric="val_acc", max_compare=20)
    first = next(csv.DictReader(io.StringIO(summary_csv(page))))
    assert (first["model"], first["test_acc"], first["test_acc_at_best_val"]) == ("#1 run1", "0.5", "0.55")
