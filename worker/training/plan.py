"""The plan of a run, from its config alone: no data, no weights, no device."""

from __future__ import annotations

from pathlib import Path

from app.schemas.plan import Plan, StagePlan
from app.schemas.train_config import TrainConfig
from worker.training.backbones import count_stage_params
from worker.training.datasets import num_classes_for
from worker.training.schedules import frozen_table, is_frozen, is_trainable_ever, lr_at, lr_curve, lr_table

MAX_POINTS_PER_EPOCH = 8  # LR samples per epoch for plots: enough to draw a warm-up ramp
MAX_CURVE_POINTS = 400  # per stage: a long run gets fewer samples per epoch, not a megabyte of JSON


def plan_for(config: TrainConfig, data_root: Path) -> Plan:
    """The plan of `config` on the data under `data_root` (the API's preview and `stagewise plan`).

    Raises:
        TrainingError: the dataset's folder is missing or unreadable.
    """
    return make_plan(config, num_classes_for(config.dataset, data_root))


def make_plan(config: TrainConfig, num_classes: int, steps_per_epoch: int = 1) -> Plan:
    """Per-stage LRs, frozen flags and parameter counts of the run `config` describes.

    Parameters are counted on the meta device, so even large backbones plan in
    milliseconds; `steps_per_epoch` only matters for per-step schedules.
    """
    counts = count_stage_params(config.backbone, num_classes)
    points = max(1, min(MAX_POINTS_PER_EPOCH, MAX_CURVE_POINTS // max(config.epochs, 1)))
    stages = [
        StagePlan(
            name=name,
            base_lr=config.stage(name).base_lr(config.optimizer.lr),
            lr=lr_at(config, name, 0, 0, steps_per_epoch),
            frozen=is_frozen(config, name, 0),
            unfreeze_epoch=config.stage(name).unfreeze_epoch,
            params=params,
        )
        for name, params in counts.items()
    ]
    return Plan(
        backbone=config.backbone,
        num_classes=num_classes,
        epochs=config.epochs,
        stages=stages,
        lr=lr_table(config, steps_per_epoch),
        points_per_epoch=points,
        lr_curve=lr_curve(config, points),
        frozen=frozen_table(config),
        total_params=sum(counts.values()),
        trainable_params=sum(n for name, n in counts.items() if is_trainable_ever(config, name)),
    )
