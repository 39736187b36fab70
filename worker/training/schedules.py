"""Learning rates over time, as pure functions (no torch).

`lr_at` is the single source of truth: the training loop sets every optimizer group
from it, `stagewise plan` and the API's preview print it, and the dashboard plots it.
A stage's LR = its base LR (absolute, or a multiple of `optimizer.lr`) × the global
schedule factor at that point in training, or 0 while the stage is frozen.
"""

from __future__ import annotations

import math

from app.schemas.catalog import BACKBONES
from app.schemas.train_config import ScheduleConfig, TrainConfig


def _warmup(schedule: ScheduleConfig, t: float) -> float:
    """Linear ramp from `warmup_start` to 1 over `warmup_epochs` (t in epochs)."""
    if schedule.warmup_epochs <= 0 or t >= schedule.warmup_epochs:
        return 1.0
    return schedule.warmup_start + (1 - schedule.warmup_start) * t / schedule.warmup_epochs


def _cosine(start: float, end: float, pct: float) -> float:
    return end + (start - end) * (1 + math.cos(math.pi * min(max(pct, 0.0), 1.0))) / 2


def _step(schedule: ScheduleConfig, epoch: int) -> float:
    if schedule.milestones:
        passed = sum(1 for m in schedule.milestones if epoch >= m)
    else:
        passed = epoch // (schedule.step_size or 1)
    return schedule.gamma**passed


def _onecycle(schedule: ScheduleConfig, step: float, total: float) -> float:
    """`torch.optim.lr_scheduler.OneCycleLR`'s factor at `step` (0-based) of `total` steps.

    Smith & Topin (2017), as torch computes it (two phases, cosine annealing): from
    max/div_factor up to max at step pct_start * total - 1, then down to
    max / (div_factor * final_div) at the last step, total - 1.
    """
    peak = schedule.max_factor
    start = peak / schedule.div_factor
    end = start / schedule.final_div
    up = schedule.pct_start * total - 1
    if step <= up:
        return _cosine(start, peak, step / up if up > 0 else 1.0)
    return _cosine(peak, end, (step - up) / max(total - 1 - up, 1e-9))


def schedule_factor(schedule: ScheduleConfig, t: float, epochs: int, steps_per_epoch: int = 1) -> float:
    """The global multiplier at time `t` (in epochs, fractional) of `epochs`.

    Warm-up multiplies the main curve, whose clock starts after warm-up ends, so a
    cosine still spans the whole remaining run and reaches its floor at t = epochs
    (as PyTorch's CosineAnnealingLR with T_max = epochs does). `onecycle` counts
    optimizer steps (`steps_per_epoch` of them per epoch, or one per epoch when not
    `per_step`), as OneCycleLR's `total_steps` does.
    """
    if not schedule.per_step:
        t, steps_per_epoch = math.floor(t), 1
    main_t = max(t - schedule.warmup_epochs, 0.0)
    main_len = max(epochs - schedule.warmup_epochs, 1e-9)
    if schedule.name == "constant":
        factor = 1.0
    elif schedule.name == "step":
        factor = _step(schedule, math.floor(main_t))
    elif schedule.name == "cosine":
        factor = _cosine(1.0, schedule.min_factor, main_t / main_len)
    else:  # onecycle, counted in whole steps so that it lands on torch's values exactly
        factor = _onecycle(schedule, round(main_t * steps_per_epoch), main_len * steps_per_epoch)
    return factor * _warmup(schedule, t)


def lr_at(config: TrainConfig, stage: str, epoch: int, step: int = 0, steps_per_epoch: int = 1) -> float:
    """The LR of `stage` at `step` (0-based) of `epoch` (0-based). 0 means frozen."""
    spec = config.stage(stage)
    if epoch < spec.unfreeze_epoch:
        return 0.0
    base = spec.base_lr(config.optimizer.lr)
    if base == 0:
        return 0.0
    t = epoch + step / max(steps_per_epoch, 1)
    return base * schedule_factor(config.schedule, t, config.epochs, max(steps_per_epoch, 1))


def is_frozen(config: TrainConfig, stage: str, epoch: int) -> bool:
    """Whether the stage is frozen during `epoch`: LR 0, or before its unfreeze epoch.

    Decided from the stage's base LR, not the scheduled value, so a warm-up that starts
    at 0 does not freeze anything.
    """
    spec = config.stage(stage)
    return spec.base_lr(config.optimizer.lr) == 0 or epoch < spec.unfreeze_epoch


def is_trainable_ever(config: TrainConfig, stage: str) -> bool:
    """Whether the stage trains at any point of the run (else it never enters the optimizer)."""
    return config.stage(stage).base_lr(config.optimizer.lr) > 0


def lr_table(config: TrainConfig, steps_per_epoch: int = 1) -> dict[str, list[float]]:
    """Each stage's LR at the first step of every epoch, in stage order."""
    stages = BACKBONES[config.backbone].stage_names
    return {s: [lr_at(config, s, e, 0, steps_per_epoch) for e in range(config.epochs)] for s in stages}


def lr_curve(config: TrainConfig, points_per_epoch: int) -> dict[str, list[float]]:
    """Each stage's LR at `points_per_epoch` evenly spaced moments of every epoch (`lr_at` at
    step k of `points_per_epoch`), so a plot draws warm-up as the ramp the loop follows."""
    stages = BACKBONES[config.backbone].stage_names
    moments = [(e, k) for e in range(config.epochs) for k in range(points_per_epoch)]
    return {s: [lr_at(config, s, e, k, points_per_epoch) for e, k in moments] for s in stages}


def frozen_table(config: TrainConfig) -> dict[str, list[bool]]:
    """Each stage's frozen flag for every epoch (`is_frozen`), in stage order."""
    stages = BACKBONES[config.backbone].stage_names
    return {s: [is_frozen(config, s, e) for e in range(config.epochs)] for s in stages}
