"""Param groups, per-step LRs and frozen stages, on a real ResNet-18."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from app.schemas.train_config import TrainConfig
from worker.training.backbones import build_model
from worker.training.param_groups import (
    apply_freezing,
    apply_lrs,
    build_optimizer,
    build_param_groups,
)
from worker.training.schedules import lr_at

MODEL_D_LRS = {"conv1": 1e-4, "conv2": 1e-4, "conv3": 1e-4, "conv4": 1e-3, "conv5": 1e-3, "classifier": 1e-1}


def _config(**fields: Any) -> TrainConfig:
    """Model D (resnet18, SGD momentum 0.9, wd 5e-4) with `fields` replaced."""
    base: dict[str, Any] = {
        "backbone": "resnet18",
        "weights": "none",
        "epochs": 4,
        "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4},
        "stages": MODEL_D_LRS,
    }
    return TrainConfig.model_validate(base | fields)


def _model(config: TrainConfig, tmp_path: Path, *, meta: bool = False) -> nn.Module:
    torch.manual_seed(0)
    with torch.device("meta" if meta else "cpu"):
        return build_model(config, 10, data_root=tmp_path)


def _train_steps(model: nn.Module, config: TrainConfig, epoch: int = 0, steps: int = 3) -> None:
    """A few real SGD steps on random 32 px images, as the loop runs them."""
    model.train()
    apply_freezing(model, config, epoch)
    optimizer = build_optimizer(model, config)
    apply_lrs(optimizer, config, epoch, 0, steps)
    generator = torch.Generator().manual_seed(1)
    for _ in range(steps):
        images = torch.randn(4, 3, 32, 32, generator=generator)
        labels = torch.randint(0, 10, (4,), generator=generator)
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(images), labels).backward()
        optimizer.step()


def _snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items()}


def test_every_group_carries_its_stage_lr(tmp_path: Path) -> None:
    config = _config()

    groups = build_param_groups(_model(config, tmp_path, meta=True), config)

    assert {(g["stage"], g["lr"]) for g in groups} == set(MODEL_D_LRS.items())


def test_every_trainable_parameter_is_in_exactly_one_group(tmp_path: Path) -> None:
    config = _config()
    model = _model(config, tmp_path, meta=True)

    grouped = [id(p) for g in build_param_groups(model, config) for p in g["params"]]

    assert sorted(grouped) == sorted(id(p) for p in model.parameters())


def test_decay_norm_and_bias_false_spares_norm_weights_and_biases(tmp_path: Path) -> None:
    config = _config(optimizer={"lr": 0.1, "weight_decay": 5e-4, "decay_norm_and_bias": False})
    model = _model(config, tmp_path, meta=True)

    decay_of = {id(p): g["weight_decay"] for g in build_param_groups(model, config) for p in g["params"]}

    assert decay_of[id(model.layer2[0].bn1.weight)] == 0.0
    assert decay_of[id(model.fc.bias)] == 0.0
    assert decay_of[id(model.layer2[0].conv1.weight)] == 5e-4
    assert decay_of[id(model.fc.weight)] == 5e-4


def test_every_parameter_decays_by_default_as_in_the_lecture_and_torchvision(tmp_path: Path) -> None:
    config = _config(optimizer={"lr": 0.1, "weight_decay": 5e-4})

    groups = build_param_groups(_model(config, tmp_path, meta=True), config)

    assert {g["weight_decay"] for g in groups} == {5e-4}
    assert len(groups) == len(MODEL_D_LRS)


def test_a_stage_at_lr_zero_is_out_of_the_optimizer_and_frozen(tmp_path: Path) -> None:
    config = _config(stages=MODEL_D_LRS | {"conv2": 0})
    model = _model(config, tmp_path, meta=True)

    apply_freezing(model, config, 0)
    optimizer = build_optimizer(model, config)

    assert "conv2" not in {g["stage"] for g in optimizer.param_groups}
    assert not any(p.requires_grad for p in model.layer1.parameters())
    assert all(p.requires_grad for p in model.layer2.parameters())


def test_training_leaves_frozen_stages_bit_identical_and_changes_the_rest(tmp_path: Path) -> None:
    config = _config(stages=MODEL_D_LRS | {"conv1": 0, "conv2": 0})
    model = _model(config, tmp_path)
    frozen_before, trained_before = _snapshot(model.layer1), _snapshot(model.layer4)

    _train_steps(model, config)

    assert all(torch.equal(v, frozen_before[k]) for k, v in model.layer1.state_dict().items())
    assert not torch.equal(model.layer4[1].conv2.weight, trained_before["1.conv2.weight"])


def test_frozen_batchnorm_keeps_its_running_statistics(tmp_path: Path) -> None:
    config = _config(stages=MODEL_D_LRS | {"conv1": 0})
    model = _model(config, tmp_path)
    before = model.bn1.running_mean.clone()

    _train_steps(model, config)

    assert torch.equal(model.bn1.running_mean, before)
    assert not model.bn1.training


def test_train_frozen_bn_updates_frozen_batchnorm_statistics(tmp_path: Path) -> None:
    config = _config(stages=MODEL_D_LRS | {"conv1": 0}, train_frozen_bn=True)
    model = _model(config, tmp_path)
    mean_before, weight_before = model.bn1.running_mean.clone(), model.bn1.weight.clone()

    _train_steps(model, config)

    assert not torch.equal(model.bn1.running_mean, mean_before)
    assert torch.equal(model.bn1.weight, weight_before)


def test_a_stage_is_frozen_before_its_unfreeze_epoch_and_trains_from_it(tmp_path: Path) -> None:
    config = _config(stages=MODEL_D_LRS | {"conv5": {"lr": 1e-3, "unfreeze_epoch": 2}})
    model = _model(config, tmp_path, meta=True)

    apply_freezing(model, config, 1)
    frozen_in_epoch_1 = not any(p.requires_grad for p in model.layer4.parameters())
    apply_freezing(model, config, 2)

    assert frozen_in_epoch_1
    assert all(p.requires_grad for p in model.layer4.parameters())


def test_a_stage_waiting_to_unfreeze_is_in_the_optimizer_but_does_not_move(tmp_path: Path) -> None:
    config = _config(stages=MODEL_D_LRS | {"conv5": {"lr": 1e-3, "unfreeze_epoch": 1}})
    model = _model(config, tmp_path)
    before = _snapshot(model.layer4)

    _train_steps(model, config, epoch=0)

    assert "conv5" in {g["stage"] for g in build_param_groups(model, config)}
    assert all(torch.equal(v, before[k]) for k, v in model.layer4.state_dict().items())


SCHEDULES = {
    "step": {"name": "step", "step_size": 2, "gamma": 0.5},
    "cosine": {"name": "cosine", "min_factor": 0.01},
    "onecycle": {"name": "onecycle", "pct_start": 0.25},
    "warmup": {"name": "cosine", "warmup_epochs": 1.5, "warmup_start": 0.0},
}


@pytest.mark.parametrize("schedule", list(SCHEDULES))
def test_apply_lrs_sets_every_group_to_lr_at_on_every_step(schedule: str, tmp_path: Path) -> None:
    config = _config(schedule=SCHEDULES[schedule], stages=MODEL_D_LRS | {"conv1": 0})
    optimizer = build_optimizer(_model(config, tmp_path, meta=True), config)
    steps = 3

    for epoch in range(config.epochs):
        for step in range(steps):
            reported = apply_lrs(optimizer, config, epoch, step, steps)
            expected = {stage: lr_at(config, stage, epoch, step, steps) for stage in MODEL_D_LRS}
            assert reported == expected
            assert all(g["lr"] == expected[g["stage"]] for g in optimizer.param_groups)


def test_apply_lrs_reports_zero_for_a_stage_outside_the_optimizer(tmp_path: Path) -> None:
    config = _config(stages=MODEL_D_LRS | {"conv1": 0})
    optimizer = build_optimizer(_model(config, tmp_path, meta=True), config)

    assert apply_lrs(optimizer, config, 1, 0, 10)["conv1"] == 0.0


def test_sgd_carries_momentum_and_nesterov(tmp_path: Path) -> None:
    config = _config(optimizer={"name": "sgd", "lr": 0.1, "momentum": 0.8, "nesterov": True})

    optimizer = build_optimizer(_model(config, tmp_path, meta=True), config)

    assert isinstance(optimizer, torch.optim.SGD)
    assert all(g["momentum"] == 0.8 and g["nesterov"] for g in optimizer.param_groups)


def test_adamw_builds_with_the_configured_betas(tmp_path: Path) -> None:
    config = _config(optimizer={"name": "adamw", "lr": 1e-3, "betas": (0.8, 0.95), "weight_decay": 0.05})

    optimizer = build_optimizer(_model(config, tmp_path, meta=True), config)

    assert isinstance(optimizer, torch.optim.AdamW)
    assert all(g["betas"] == (0.8, 0.95) for g in optimizer.param_groups)
    assert {g["weight_decay"] for g in optimizer.param_groups} == {0.05}
