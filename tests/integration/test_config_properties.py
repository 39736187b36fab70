"""Property: any config the API accepts, the worker can run.

Hypothesis draws configs from wide ranges (negative, huge, NaN and infinite numbers, control
characters in names) and sends each to the real API's `POST /api/plan`, which validates a
run body exactly as `POST /api/runs` does but queues nothing. A 422 is fine; a config the
API accepts must then pass everything the worker does before its first batch: the config
survives the trip through the database's JSON, the model's param groups and optimizer
build, every stage's LR is a finite number at every step, the seeds seed torch, and a batch
is prepared at the config's image size and augmentation.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import Backend
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from app.schemas.catalog import BACKBONES, DATASETS
from app.schemas.train_config import TrainConfig
from worker.training.backbones import build_model
from worker.training.datasets import storage_size
from worker.training.param_groups import apply_freezing, apply_lrs, build_optimizer
from worker.training.plan import make_plan
from worker.training.schedules import lr_at
from worker.training.transforms import prepare_batch

SMALL_BACKBONES = ["resnet18", "resnet50", *(name for name in BACKBONES if "mobilenet" in name)]
SIZED_DATASETS = sorted(name for name in DATASETS if name not in ("imagefolder", "fake"))
# Values that break naive code: past 64 bits, negative, not finite, denormal, control characters.
EXTREMES = st.sampled_from([
    10**40, 2**64, 2**63, 2**63 - 1, -1, -(2**63) - 1, 0, 10**6, 1e308, -1e-9, 5e-324,
    float("inf"), float("-inf"), float("nan"), "ok1\n", "a\x00b", "\u202egnp.exe",
])  # fmt: skip
PROBES = [
    "epochs", "batch_size", "eval_batch_size", "image_size", "seed", "test_every", "label_smoothing", "grad_clip",
    "name", "optimizer.lr", "optimizer.momentum", "optimizer.weight_decay", "schedule.warmup_epochs",
    "schedule.warmup_start", "schedule.step_size", "schedule.gamma", "schedule.min_factor", "schedule.pct_start",
    "schedule.max_factor", "schedule.div_factor", "schedule.final_div", "dataset.train_size", "dataset.val_size",
    "dataset.split_seed", "dataset.path", "stages.conv1.lr", "stages.classifier.mult", "stages.conv5.unfreeze_epoch",
]  # fmt: skip


def _unit(low: float, high: float) -> st.SearchStrategy[float]:
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


@st.composite
def valid_configs(draw: st.DrawFn) -> dict[str, Any]:
    """A config from sensible ranges; most runs the API should accept."""
    epochs = draw(st.integers(1, 30))
    stage = st.fixed_dictionaries({}, optional={
        "lr": _unit(0, 1), "mult": _unit(0, 10), "unfreeze_epoch": st.integers(0, epochs - 1),
    }).filter(lambda spec: not ("lr" in spec and "mult" in spec))  # fmt: skip
    return {
        "backbone": draw(st.sampled_from(SMALL_BACKBONES)), "weights": "none", "epochs": epochs,
        "dataset": draw(st.fixed_dictionaries({"name": st.sampled_from(SIZED_DATASETS)}, optional={
            "train_size": st.integers(10, 5000), "val_size": st.integers(0, 1000), "split_seed": st.integers(0, 2**32),
        })),
        "optimizer": draw(st.fixed_dictionaries({"name": st.sampled_from(["sgd", "adamw"])}, optional={
            "lr": _unit(1e-5, 1), "momentum": _unit(0, 0.99), "weight_decay": _unit(0, 0.1),
            "decay_norm_and_bias": st.booleans(),
        })),
        "schedule": draw(st.fixed_dictionaries({"name": st.sampled_from(["constant", "cosine", "onecycle"])}, optional={
            "warmup_epochs": _unit(0, 3), "warmup_start": _unit(0, 1), "min_factor": _unit(0, 1),
            "pct_start": _unit(0.05, 0.95), "max_factor": _unit(0.1, 10), "div_factor": _unit(1, 100),
            "final_div": _unit(1, 1e5), "per_step": st.booleans(), "step_size": st.integers(1, 10),
            "gamma": _unit(0.01, 1),
        })),
        "stages": draw(st.dictionaries(st.sampled_from(["conv1", "conv4", "classifier"]), stage, max_size=2)),
        **draw(st.fixed_dictionaries({}, optional={
            "batch_size": st.integers(1, 512), "eval_batch_size": st.integers(1, 1024),
            "image_size": st.integers(8, 96), "seed": st.integers(0, 2**32), "test_every": st.integers(1, 5),
            "label_smoothing": _unit(0, 0.5), "grad_clip": _unit(0.1, 10), "name": st.text(max_size=20),
            "augment": st.sampled_from(["auto", "none", "flip", "crop_flip", "resized_crop_flip"]),
        })),
    }  # fmt: skip


def _put(config: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for key in parents:
        config = config.setdefault(key, {})
    config[leaf] = value


@st.composite
def run_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """A sensible config with one or two fields set to an extreme value."""
    config = draw(valid_configs())
    for path in draw(st.lists(st.sampled_from(PROBES), min_size=1, max_size=2, unique=True)):
        _put(config, path, draw(EXTREMES))
    return {"config": config}


def _finite_lrs(config: TrainConfig, steps_per_epoch: int) -> None:
    epochs = sorted({0, 1, config.epochs // 2, config.epochs - 1} & set(range(config.epochs)))
    for epoch in epochs:
        for step in (0, steps_per_epoch - 1):
            for stage in config.stage_names:
                lr = lr_at(config, stage, epoch, step, steps_per_epoch)
                assert math.isfinite(lr) and lr >= 0, (stage, epoch, step, lr)


def _worker_checks(config: TrainConfig, tmp_path: Path) -> None:
    """What the worker does with a config before its first batch, without data or training."""
    stored = json.loads(json.dumps(config.model_dump(mode="json"), allow_nan=False))  # the runs.config column
    assert TrainConfig.model_validate(stored) == config
    torch.manual_seed(config.seed)
    torch.Generator().manual_seed(config.seed)
    with torch.device("meta"):
        model = build_model(config, 10, data_root=tmp_path)
    model.train()
    apply_freezing(model, config, 0)
    optimizer = build_optimizer(model, config)
    apply_lrs(optimizer, config, 0, 0, 7)
    _finite_lrs(config, 7)
    make_plan(config, 10, 7)
    image_size = config.resolved_image_size()
    side = storage_size(config.dataset, image_size)
    images = torch.zeros(2, 3, side, side, dtype=torch.uint8)
    for train in (True, False):
        batch = prepare_batch(images, train=train, image_size=image_size, augment=config.resolved_augment(),
                              normalization=config.resolved_normalization())  # fmt: skip
        assert batch.shape == (2, 3, image_size, image_size)


def _tiny(**fields: Any) -> dict[str, Any]:
    return {"config": {"backbone": "resnet18", "weights": "none", "epochs": 2, **fields}}


@given(body=run_bodies())
@example(body=_tiny(seed=10**40))  # issue 15: accepted, then an overflow in the worker
@example(body=_tiny(dataset={"name": "digits", "split_seed": 2**64}))
@example(body=_tiny(stages={"conv1": {"lr": float("inf")}}))
@example(body=_tiny(schedule={"name": "onecycle", "max_factor": float("inf")}))
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_any_config_the_api_accepts_passes_the_workers_checks(
    client: TestClient, backend: Backend, tmp_path: Path, body: dict[str, Any]
) -> None:
    if backend.name != "embedded":
        pytest.skip("validation does not depend on the database or broker")
    response = client.post("/api/plan", content=json.dumps(body), headers={"content-type": "application/json"})

    assert response.status_code in (200, 422), response.text
    if response.status_code == 200:
        _worker_checks(TrainConfig.model_validate(body["config"]), tmp_path)
