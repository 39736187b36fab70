"""From stage schedules to an optimizer: param groups, per-step LRs and frozen stages.

One group per stage (two when weight decay is set to spare norm and bias parameters), tagged
with its stage name so that `apply_lrs` can set each group from `schedules.lr_at`.
Stages that never train stay out of the optimizer entirely: no momentum buffers, no
weight decay creeping into weights that are meant to stay put.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from app.schemas.catalog import BACKBONES
from app.schemas.train_config import TrainConfig
from worker.training.backbones import stage_modules, stage_parameters
from worker.training.schedules import is_frozen, is_trainable_ever, lr_at


def build_param_groups(model: nn.Module, config: TrainConfig) -> list[dict[str, Any]]:
    """Optimizer param groups, in stage order, for every stage that trains at some point.

    Each group has "params", "stage", "weight_decay" and "lr" (the LR at the first
    step). Every parameter decays by default (torchvision's reference recipe); with
    `config.optimizer.decay_norm_and_bias: false`, parameters with `ndim <= 1` (norm
    weights, biases) get none, as in timm's `param_groups_weight_decay`.
    """
    decay = config.optimizer.weight_decay
    groups: list[dict[str, Any]] = []
    for stage, named in stage_parameters(model, config.backbone).items():
        if not is_trainable_ever(config, stage):
            continue
        params = [param for _, param in named]
        if config.optimizer.decay_norm_and_bias:
            split = [(decay, params)]
        else:
            split = [(decay, [p for p in params if p.ndim > 1]), (0.0, [p for p in params if p.ndim <= 1])]
        lr = lr_at(config, stage, 0)
        groups += [{"params": chosen, "stage": stage, "weight_decay": wd, "lr": lr} for wd, chosen in split if chosen]
    return groups


def build_optimizer(model: nn.Module, config: TrainConfig, *, fused: bool = False) -> torch.optim.Optimizer:
    """SGD or AdamW (per `config.optimizer`) over `build_param_groups(model, config)`.

    `fused` (CUDA parameters only) updates all parameters in one kernel per step.
    """
    opt = config.optimizer
    groups = build_param_groups(model, config)
    kernels = {"fused": True} if fused else {}
    if opt.name == "adamw":
        return torch.optim.AdamW(groups, lr=opt.lr, betas=opt.betas, weight_decay=opt.weight_decay, **kernels)
    return torch.optim.SGD(
        groups, lr=opt.lr, momentum=opt.momentum, nesterov=opt.nesterov, weight_decay=opt.weight_decay, **kernels
    )


def apply_lrs(
    optimizer: torch.optim.Optimizer, config: TrainConfig, epoch: int, step: int, steps_per_epoch: int
) -> dict[str, float]:
    """Set every group's LR to `lr_at` for this step; return the LR of every stage.

    Stages outside the optimizer (never trained) and frozen ones report 0.0.
    """
    for group in optimizer.param_groups:
        group["lr"] = lr_at(config, group["stage"], epoch, step, steps_per_epoch)
    return {
        stage: lr_at(config, stage, epoch, step, steps_per_epoch) for stage in BACKBONES[config.backbone].stage_names
    }


def apply_freezing(model: nn.Module, config: TrainConfig, epoch: int) -> None:
    """Freeze or unfreeze each stage's parameters for `epoch`, and set its layers' modes.

    Call it right after `model.train()` at each epoch start. A frozen stage runs in eval
    mode as a fixed function: its norm layers keep the starting weights' running
    statistics (fastai's `train_bn=False`), its dropout and stochastic depth are off
    (Keras's `base_model(x, training=False)`), so its output depends on its input alone.
    `config.train_frozen_bn` leaves frozen stages in the model's mode instead.
    """
    modules = stage_modules(model, config.backbone)
    for stage, named in stage_parameters(model, config.backbone).items():
        frozen = is_frozen(config, stage, epoch)
        for _, param in named:
            param.requires_grad_(not frozen)
        hold = frozen and not config.train_frozen_bn
        for module in modules[stage]:
            module.train(model.training and not hold)
