"""What a run will do before it starts: per-stage LRs, frozen flags and parameter counts.

Built by `worker.training.plan.make_plan` and shown by `stagewise plan`, the API's
preview and the dashboard's LR plot, so what users see is what the loop runs.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StagePlan(BaseModel):
    """One stage of the plan.

    Attributes:
        name: the stage name from the catalog.
        base_lr: the stage's LR before the global schedule multiplies it (0 = never trains).
        lr: the LR at the first step of the run.
        frozen: whether the stage is frozen during the first epoch.
        unfreeze_epoch: the first epoch (0-based, as in the config) in which the stage may
            train; pages show it 1-based ("unfreeze at epoch unfreeze_epoch + 1").
        params: parameters in the stage (with the head sized for the run's classes).
    """

    model_config = ConfigDict(frozen=True)

    name: str
    base_lr: float
    lr: float
    frozen: bool
    unfreeze_epoch: int
    params: int


class Plan(BaseModel):
    """The whole run's plan.

    Attributes:
        lr: per stage, the LR at the start of every epoch (`epochs` values each; index 0 is
            the epoch pages call 1).
        points_per_epoch: how many LR samples `lr_curve` holds per epoch.
        lr_curve: per stage, the LR at `points_per_epoch` evenly spaced moments of every
            epoch (`epochs × points_per_epoch` values), so warm-up shows as a ramp.
        frozen: per stage, whether it is frozen in each epoch (`epochs` values).
        trainable_params: parameters of the stages that train at some point.
    """

    model_config = ConfigDict(frozen=True)

    backbone: str
    num_classes: int
    epochs: int
    stages: list[StagePlan]
    lr: dict[str, list[float]]
    points_per_epoch: int = 1
    lr_curve: dict[str, list[float]] = {}
    frozen: dict[str, list[bool]] = {}
    total_params: int
    trainable_params: int
