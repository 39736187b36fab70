"""The reference presets follow the lecture's recipe (and torchvision's reference train.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from app.presets import preset_names, resolve_config
from app.schemas.train_config import TrainConfig
from worker.training.backbones import build_model
from worker.training.param_groups import build_param_groups
from worker.training.schedules import lr_at

REFERENCE = [name for name in preset_names() if name.startswith("cifar10-4000/")]


def test_there_are_the_six_rows_and_the_cosine_variant() -> None:
    assert len(REFERENCE) == 7


@pytest.mark.parametrize("name", REFERENCE)
def test_reference_presets_select_no_model_on_extra_labels(name: str) -> None:
    # The lecture reports the 100th epoch's test accuracy: no validation split to pick an epoch with.
    config = resolve_config(name)

    assert config.dataset.val_size == 0
    assert (config.epochs, config.dataset.train_size) == (100, 4000)


@pytest.mark.parametrize("name", REFERENCE)
def test_reference_presets_decay_every_parameter(name: str, tmp_path: Path) -> None:
    config = resolve_config(name, {"weights": "none"})  # the starting weights do not change the groups
    with torch.device("meta"):
        model = build_model(config, 10, data_root=tmp_path)

    groups = build_param_groups(model, config)

    assert {g["weight_decay"] for g in groups} == {5e-4}
    assert sum(len(g["params"]) for g in groups) == len([p for p in model.parameters()])


def test_the_default_optimizer_decays_norm_and_bias_too() -> None:
    assert TrainConfig().optimizer.decay_norm_and_bias is True


def test_the_cosine_variants_warmup_never_trains_at_lr_zero() -> None:
    config = resolve_config("cifar10-4000/model-d-cosine")

    first = {stage: lr_at(config, stage, 0, 0, 32) for stage in config.stage_names}

    assert all(lr > 0 for lr in first.values())
