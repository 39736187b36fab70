"""`SweepSpec`: a base config, a search space over config paths, a sampler, a pruner, a budget.

Plain pydantic, no Optuna: the shape is checked here (types, `low <= high`, a grid only
over dimensions that can be counted, the budget against the grid). What depends on the
base config (a path the config has, a stage its backbone has, a value the config accepts)
is checked by `app.sweeps.space.check_sweep`, which applies each dimension's extremes to
the base and validates the result as a `TrainConfig`. docs/sweeps.md describes the language.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

# Dimensions whose key is a name rather than a config path (see app.sweeps.space.apply).
FREEZE_THROUGH = "freeze_through"
LAYER_DECAY = "layer_decay"
NAMED_DIMENSIONS = (FREEZE_THROUGH, LAYER_DECAY)

MAX_DIMENSIONS = 32
MAX_TRIALS = 1000
DEFAULT_TRIALS = 20  # random and TPE, when `trials` is not given

Choice = str | int | float | bool | None


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FloatDimension(_Frozen):
    """A float in [low, high]: uniform, log-uniform (`log`), or on a lattice (`step`).

    With `stages` the dimension is a stage group: one LR shared by those stages.
    """

    type: Literal["float"]
    low: float
    high: float
    log: bool = False
    step: Annotated[float, Field(gt=0)] | None = None
    stages: tuple[str, ...] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _range(self) -> FloatDimension:
        _check_range(self.low, self.high, self.log)
        if self.log and self.step is not None:
            raise ValueError("give log or step, not both (a log scale has no even step)")
        return self

    def grid(self) -> list[Choice] | None:
        """Every value on the lattice low, low + step, … ≤ high; None without a step."""
        if self.step is None:
            return None
        count = math.floor((self.high - self.low) / self.step + 1e-9) + 1
        return [round(self.low + i * self.step, 12) for i in range(count)]

    def extremes(self) -> list[Choice]:
        return [self.low, self.high]


class IntDimension(_Frozen):
    """An integer in [low, high] (both included), every `step`-th, or log-uniform (`log`)."""

    type: Literal["int"]
    low: int
    high: int
    log: bool = False
    step: Annotated[int, Field(ge=1)] = 1

    @model_validator(mode="after")
    def _range(self) -> IntDimension:
        _check_range(self.low, self.high, self.log)
        if self.log and self.step != 1:
            raise ValueError("give log or step, not both (a log scale has no even step)")
        return self

    def grid(self) -> list[Choice]:
        return list(range(self.low, self.high + 1, self.step))

    def extremes(self) -> list[Choice]:
        return [self.low, self.high]


class CategoricalDimension(_Frozen):
    """One of `choices`; with `stages`, an LR shared by those stages."""

    type: Literal["categorical"]
    choices: tuple[Choice, ...] = Field(min_length=1, max_length=1000)
    stages: tuple[str, ...] | None = Field(default=None, min_length=1)

    @field_validator("choices")
    @classmethod
    def _distinct(cls, value: tuple[Choice, ...]) -> tuple[Choice, ...]:
        repeated = [choice for i, choice in enumerate(value) if choice in value[:i]]
        if repeated:
            raise ValueError(f"choice {repeated[0]!r} is given twice")
        return value

    def grid(self) -> list[Choice]:
        return list(self.choices)

    def extremes(self) -> list[Choice]:
        return list(self.choices)  # few and unordered: every one is checked


Dimension = Annotated[FloatDimension | IntDimension | CategoricalDimension, Field(discriminator="type")]


def _check_range(low: float, high: float, log: bool) -> None:
    if low > high:
        raise ValueError(f"low ({low:g}) is above high ({high:g})")
    if log and low <= 0:
        raise ValueError(f"a log scale needs low > 0, got {low:g}")


class SweepBase(_Frozen):
    """The config every trial starts from: a preset or a full config, with dotted-path overrides
    (the same as `RunCreate`'s)."""

    preset: str | None = Field(default=None, max_length=200)
    config: dict[str, Any] | None = None
    overrides: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_source(self) -> SweepBase:
        if (self.config is None) == (self.preset is None):
            raise ValueError("give exactly one of config or preset")
        return self


class RepeatBest(_Frozen):
    """When the search ends, train the `top` best configurations again with `seeds` seeds each."""

    top: Annotated[int, Field(ge=1, le=20)] = 3
    seeds: Annotated[int, Field(ge=1, le=20)] = 3


class SweepSpec(_Frozen):
    """A sweep: what to vary (`space`), how to pick (`sampler`), when to stop a trial early
    (`pruner`), how many trials (`trials`, `parallel` at a time) and what to maximise.

    `trials` defaults to the grid's size for a grid sweep, else to 20; a grid sweep with
    fewer trials than points runs that many of them.
    """

    name: str | None = Field(default=None, max_length=200)
    base: SweepBase
    sampler: Literal["grid", "random", "tpe"] = "tpe"
    pruner: Literal["none", "median", "successive_halving", "hyperband"] = "none"
    # Declared after sampler so that its validator can see it.
    space: dict[Annotated[str, Field(min_length=1, max_length=200)], Dimension] = Field(
        min_length=1, max_length=MAX_DIMENSIONS
    )
    trials: Annotated[int, Field(ge=1, le=MAX_TRIALS)] | None = None
    parallel: Annotated[int, Field(ge=1, le=64)] = 1
    objective: Literal["val_acc", "val_loss"] = "val_acc"
    repeat_best: RepeatBest | None = None
    seed: int = 0
    # The queue (GPU kind) its trials and repeats go to; None: the server's default queue.
    queue: str | None = Field(default=None, max_length=64)

    @field_validator("space")
    @classmethod
    def _dimensions(cls, space: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        for key, dimension in space.items():
            _check_key(key, dimension)
        if info.data.get("sampler") == "grid":
            uncountable = [key for key, dimension in space.items() if dimension.grid() is None]
            if uncountable:
                raise ValueError(
                    f"{uncountable[0]}: a grid sweep needs values it can list: give this float a step, "
                    "or make it categorical"
                )
        return space

    @model_validator(mode="after")
    def _budget(self) -> SweepSpec:
        if self.sampler != "grid":
            if self.trials is None:
                object.__setattr__(self, "trials", DEFAULT_TRIALS)  # frozen: set once, while validating
            return self
        size = grid_size(self.space)
        if self.trials is not None and self.trials > size:
            raise ValueError(f"trials ({self.trials}) exceeds the grid's {size} points")
        if self.trials is None:
            if size > MAX_TRIALS:
                raise ValueError(f"the grid has {size} points, more than {MAX_TRIALS}: coarsen it or set trials")
            object.__setattr__(self, "trials", size)
        return self


def _check_key(key: str, dimension: FloatDimension | IntDimension | CategoricalDimension) -> None:
    """What a key may be: a named dimension of the right kind, a stage group, or a config path."""
    group = getattr(dimension, "stages", None) is not None
    if key == FREEZE_THROUGH:
        if not isinstance(dimension, CategoricalDimension) or group:
            raise ValueError(f"{key}: must be categorical over 'none' and stage names, e.g. [none, conv1, conv3]")
        if not all(isinstance(choice, str) for choice in dimension.choices):
            raise ValueError(f"{key}: choices are 'none' or stage names")
    elif key == LAYER_DECAY:
        if group or isinstance(dimension, CategoricalDimension) and not all(_is_number(c) for c in dimension.choices):
            raise ValueError(f"{key}: a factor: float, or categorical over numbers, without stages")
    elif group and "." in key:
        raise ValueError(f"{key}: a stage group is named without dots (its stages say what it sets)")
    elif not group and any(not part for part in key.split(".")):
        raise ValueError(f"{key}: empty key in dotted path")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def grid_size(space: dict[str, FloatDimension | IntDimension | CategoricalDimension]) -> int:
    """How many points the grid over `space` has (every dimension must be countable)."""
    return math.prod(len(dimension.grid() or ()) for dimension in space.values())


# --- what the API answers ------------------------------------------------------------------

SweepStateName = Literal["running", "finished", "cancelled"]
TrialStateName = Literal["queued", "running", "complete", "pruned", "failed", "cancelled"]


class TrialRead(BaseModel):
    """One trial of a sweep: its run, the parameters it drew and how it ended.

    `value` is the objective at the run's best epoch so far (None before a validated epoch);
    `pruned_epoch` is the epoch after which the pruner stopped it.
    """

    number: int
    state: TrialStateName
    params: dict[str, Any]
    value: float | None
    run_id: int
    epochs_done: int
    pruned_epoch: int | None = None
    error: str | None = None


class BestTrial(BaseModel):
    """The best complete trial: its parameters, value, run and the config it trained."""

    number: int
    params: dict[str, Any]
    value: float
    run_id: int
    config: dict[str, Any]


class RepeatRead(BaseModel):
    """One of the best configurations trained again with other seeds (`repeat_best`).

    `mean` and `std` are over the repeats that ended with a value (the sample standard
    deviation, None below two); the trial that chose the configuration is not among them,
    so the numbers are not biased towards its lucky seed.
    """

    trial_number: int = Field(description="the trial whose configuration is repeated")
    params: dict[str, Any]
    seeds: list[int]
    runs: list[int]
    states: list[TrialStateName]
    mean: float | None
    std: float | None
    test_acc_mean: float | None = None
    test_acc_std: float | None = None


class SweepSummary(BaseModel):
    """A sweep in the list: what it searches and how far it is."""

    id: int
    name: str | None
    state: SweepStateName
    sampler: str
    pruner: str
    objective: str
    planned_trials: int
    parallel: int
    queue: str
    trial_counts: dict[str, int] = Field(description="trials per state")
    best_value: float | None
    owner_name: str | None
    created_at: datetime
    finished_at: datetime | None


class SweepRead(SweepSummary):
    """A sweep with every trial so far, the best one, and the spec it was created from."""

    spec: dict[str, Any]
    trials: list[TrialRead]
    best: BestTrial | None
    repeats: list[RepeatRead] = Field(default_factory=list, description="the best configurations over more seeds")
