"""The Run page's progress facts and planned LR, from API shapes (no database): issue 14, part 2."""

from __future__ import annotations

from datetime import UTC, datetime

from app.pages.run_page import run_page
from app.pages.runs_page import run_row
from app.schemas.metrics import RunProgress
from app.schemas.runs import EpochMetricRead, RunDetail

NOW = datetime(2026, 1, 1, tzinfo=UTC)
CONFIG = {"backbone": "resnet18", "weights": "none", "epochs": 4, "schedule": {"name": "cosine"},
          "stages": {"conv1": 0, "classifier": 0.1}}  # fmt: skip


def _running(progress: RunProgress | None) -> RunDetail:
    return RunDetail(
        id=1, name="r", status="running", queue="default", dataset="digits", backbone="resnet18", epochs=4,
        epochs_done=1, config=CONFIG, cloned_from=None, created_at=NOW, started_at=NOW, finished_at=None,
        heartbeat_at=NOW, attempt=1, worker_host="h", gpu=None, cancel_requested=False, error=None,
        best_val_acc=None, summary=None, progress=progress,
    )  # fmt: skip


EPOCH = EpochMetricRead(epoch=0, train_loss=1.0, train_acc=0.5, val_loss=1.0, val_acc=0.5, test_loss=None,
                        test_acc=None, lr={"classifier": 0.1}, images_per_s=10.0, seconds=60.0)  # fmt: skip


def test_time_left_is_the_workers_estimate_while_it_reports_one() -> None:
    progress = RunProgress(epoch=1, step=5, steps=10, images_per_s=20.0, eta_s=123.0)
    assert run_page(_running(progress), [EPOCH]).eta == 123.0
    assert run_page(_running(None), [EPOCH]).eta == 180.0  # 3 epochs left × 60 s


def test_the_lr_plot_gets_every_planned_epoch_before_any_is_done() -> None:
    planned = run_page(_running(None), []).live["planned_lr"]
    assert [len(planned[stage]) for stage in ("conv1", "classifier")] == [4, 4]
    assert planned["conv1"] == [0.0] * 4 and planned["classifier"][0] == 0.1 > planned["classifier"][-1]


def test_the_runs_list_takes_the_workers_time_left_inside_an_epoch() -> None:
    progress = RunProgress(epoch=1, step=5, steps=10, images_per_s=20.0, eta_s=77.0)
    assert run_row(_running(progress), NOW).eta == 77.0
    assert run_row(_running(None), NOW).eta == 0.0  # no report: the old estimate (no time elapsed here)
