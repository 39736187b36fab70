"""The Run page (`/runs/{id}`): facts, curves, config and test-split results of one run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import ValidationError

from app.pages.compare_page import describe, run_label, weights_href, weights_label
from app.pages.confusion import ConfusionView, confusion_view
from app.pages.progress import eta_from_epochs
from app.schemas.catalog import BACKBONES
from app.schemas.metrics import FastPath
from app.schemas.runs import EpochMetricRead, RunDetail, TestReportRead
from app.schemas.train_config import TrainConfig
from worker.training.schedules import lr_table  # pure Python: the trainer's own plan, no torch

POLL_MS = 2000  # how often the page asks for new epochs while the run is live


@dataclass(frozen=True)
class RunPageView:
    """Everything templates/run_detail.html shows."""

    run: RunDetail
    metrics: list[EpochMetricRead]
    title: str
    description: str
    config_text: str
    eta: float | None
    images_per_s: float | None
    can_cancel: bool
    cancelling: bool  # cancel requested, the worker has not stopped yet
    has_checkpoint: bool
    live: dict[str, Any]
    test_split: ConfusionView | None = None
    fast_path: str | None = None
    test_cadence: str = ""
    weights: str = ""  # what the run started from: "ImageNet", "scratch", "run #7, best checkpoint (epoch 3)"…
    weights_href: str | None = None  # the source run's page, for a chained run
    predict_batch: int = 16  # images per predict request (the server's max_predict_files)


def run_page(
    run: RunDetail, metrics: list[EpochMetricRead], report: TestReportRead | None = None,
    fast_path: FastPath | None = None, *, predict_batch: int = 16,
) -> RunPageView:
    """The Run page view; `live` is what run_live.js starts from before it polls; `report`
    (a finished run's test report) fills the "Test split" section; `fast_path` the fact of that name."""
    live_status = run.status in ("queued", "running")
    stages = list(BACKBONES[run.backbone].stage_names) if run.backbone in BACKBONES else sorted(
        {s for m in metrics for s in m.lr}
    )
    return RunPageView(
        run=run,
        metrics=metrics,
        title=run_label(run),
        description=describe(run),
        config_text=yaml.safe_dump(run.config, sort_keys=False, default_flow_style=None, width=100),
        eta=_eta(run, metrics) if live_status else None,
        images_per_s=metrics[-1].images_per_s if metrics else None,
        can_cancel=live_status and not run.cancel_requested,
        cancelling=live_status and run.cancel_requested,
        has_checkpoint=any(a.kind == "best" for a in run.artifacts),
        live={
            "run": run.model_dump(mode="json", include={"id", "status", "epochs"}),
            "metrics": [m.model_dump(mode="json") for m in metrics],
            "stages": stages,
            "planned_lr": planned_lr(run.config),
            "poll_ms": POLL_MS,
        },
        test_split=confusion_view(report) if report is not None else None,
        fast_path=fast_path.summary() if fast_path is not None else None,
        test_cadence=describe_test_cadence(run.config.get("test_every", 1), fast_path),
        weights=weights_label(str(run.config.get("weights", ""))),
        weights_href=weights_href(str(run.config.get("weights", ""))),
        predict_batch=predict_batch,
    )


def describe_test_cadence(test_every: int | str, fast_path: FastPath | None) -> str:
    """How often the run evaluates its test split: the worker's decision once it started
    (`auto` depends on the split sizes), else what the config asks for."""
    if fast_path is not None and fast_path.test_split:
        return fast_path.test_split
    if test_every == "auto":
        return "auto: every epoch while it costs at most a quarter of one (decided when the run starts)"
    return "every epoch" if test_every == 1 else f"every {test_every} epochs and the last"
def _eta(run: RunDetail, metrics: list[EpochMetricRead]) -> float | None:
    """The worker's own estimate while it trains (every heartbeat), else mean epoch time × epochs left."""
    if run.progress is not None and run.progress.eta_s is not None:
        return run.progress.eta_s
    return eta_from_epochs(run.epochs, [m.seconds for m in metrics])


def planned_lr(config: dict[str, Any]) -> dict[str, list[float]]:
    """Each stage's LR at every epoch as the run's schedule plans it (the trainer's own `lr_table`),
    so the LR plot shows the whole run before its first epoch ends; {} for a config that no longer validates."""
    try:
        return lr_table(TrainConfig.model_validate(config))
    except ValidationError:
        return {}
