"""From a trial's parameters to a run config, and the checks a spec passes before it is stored.

A trial's *parameters* are one value per dimension of the space (what Optuna stores and
plots). `overrides_for` turns them into *overrides* of the base config: dotted paths
(`"stages.conv4.lr"`, `"optimizer.weight_decay"`), one `stages.<s>.lr` per stage of a stage
group, and the named dimensions `freeze_through` and `layer_decay`, which `apply` resolves
against the config they land on. Overrides are plain JSON, so a run can record them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from optuna.trial import BaseTrial
from pydantic import ValidationError

from app.presets import InvalidOverride, UnknownPreset, apply_overrides, resolve_config
from app.schemas.catalog import BACKBONES
from app.schemas.sweeps import (
    FREEZE_THROUGH,
    LAYER_DECAY,
    NAMED_DIMENSIONS,
    CategoricalDimension,
    Choice,
    FloatDimension,
    IntDimension,
    SweepBase,
    SweepSpec,
)
from app.schemas.train_config import StageSchedule, TrainConfig
from app.sweeps.errors import InvalidSweep

AnyDimension = FloatDimension | IntDimension | CategoricalDimension
Space = Mapping[str, AnyDimension]


def trial_params(trial: BaseTrial, space: Space) -> dict[str, Choice]:
    """Ask `trial` for one value per dimension (Optuna's `suggest_*`), keyed by dimension name."""
    params: dict[str, Choice] = {}
    for key, dim in space.items():
        if isinstance(dim, FloatDimension):
            params[key] = trial.suggest_float(key, dim.low, dim.high, log=dim.log, step=dim.step)
        elif isinstance(dim, IntDimension):
            params[key] = trial.suggest_int(key, dim.low, dim.high, log=dim.log, step=dim.step)
        else:
            params[key] = trial.suggest_categorical(key, dim.choices)
    return params


def overrides_for(params: Mapping[str, Choice], space: Space) -> dict[str, Any]:
    """Config overrides for a trial's parameters: a stage group becomes one `stages.<s>.lr` per
    stage; config paths and the named dimensions pass through."""
    overrides: dict[str, Any] = {}
    for key, value in params.items():
        stages = getattr(space[key], "stages", None)
        if stages is None:
            overrides[key] = value
        else:
            overrides.update({f"stages.{stage}.lr": value for stage in stages})
    return overrides


def suggest(trial: BaseTrial, space: Space) -> dict[str, Any]:
    """The overrides of the config `trial` is to train (its parameters are recorded in the trial)."""
    return overrides_for(trial_params(trial, space), space)


def apply(base: TrainConfig, overrides: Mapping[str, Any]) -> TrainConfig:
    """`base` with `overrides` applied, validated.

    Order: dotted paths (setting a stage's `lr` drops its `mult` and keeps its
    `unfreeze_epoch`), then `layer_decay` (stage k below the classifier gets the
    classifier's LR × factor^k), then `freeze_through` (that stage and all before it get LR 0).

    Raises:
        pydantic.ValidationError: the result is not a valid `TrainConfig`.
        InvalidOverride: a dotted path steps into a value that is not a mapping.
        InvalidSweep: a named dimension's value does not fit the backbone.
    """
    data = base.model_dump(mode="json")
    for path, value in overrides.items():
        if path not in NAMED_DIMENSIONS:
            data = _set_path(data, path, value)
    spec = BACKBONES.get(data.get("backbone", ""))
    if spec is not None and LAYER_DECAY in overrides:
        _decay_layers(data, spec.stage_names, overrides[LAYER_DECAY])
    if spec is not None and FREEZE_THROUGH in overrides:
        _freeze_through(data, spec.name, spec.stage_names, overrides[FREEZE_THROUGH])
    return TrainConfig.model_validate(data)


def _set_path(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    keys = path.split(".")
    if keys[0] == "stages" and len(keys) == 2:
        keys.append("lr")  # `stages.conv1: 1e-3` means its lr, as in a config file
    if keys[0] == "stages" and len(keys) == 3 and keys[2] in ("lr", "mult"):
        _set_stage(data, keys[1], **{keys[2]: value})
        return data
    return apply_overrides(data, {path: value})


def _set_stage(data: dict[str, Any], stage: str, *, lr: Any = None, mult: Any = None) -> None:
    """Give `stage` an absolute `lr` or a `mult`, never both; its `unfreeze_epoch` stays."""
    stages = data.setdefault("stages", {})
    entry = dict(stages.get(stage) or {})
    entry["lr"], entry["mult"] = lr, mult
    stages[stage] = entry


def _decay_layers(data: dict[str, Any], stage_names: tuple[str, ...], factor: float) -> None:
    # timm's layer-wise LR decay, with stages as the layers: the head keeps its LR.
    head = stage_names[-1]
    head_lr = StageSchedule.model_validate(data["stages"].get(head) or {}).base_lr(data["optimizer"]["lr"])
    for depth, stage in enumerate(reversed(stage_names[:-1]), start=1):
        _set_stage(data, stage, lr=head_lr * factor**depth)


def _freeze_through(data: dict[str, Any], backbone: str, stage_names: tuple[str, ...], value: Any) -> None:
    if value == "none":
        return
    below_head = stage_names[:-1]
    if value not in below_head:
        allowed = ", ".join(("none", *below_head))
        raise InvalidSweep((FREEZE_THROUGH,), f"unknown stage {value!r} for {backbone}; allowed: {allowed}")
    for stage in below_head[: below_head.index(value) + 1]:
        _set_stage(data, stage, lr=0.0)


def grid_search_space(space: Space) -> dict[str, list[Choice]]:
    """Every dimension's values, for Optuna's `GridSampler` (floats need a step)."""
    grid: dict[str, list[Choice]] = {}
    for key, dimension in space.items():
        values = dimension.grid()
        if values is None:
            raise InvalidSweep(("space", key), "a grid sweep needs a step for a float, or categorical choices")
        grid[key] = values
    return grid


def resolve_base(base: SweepBase) -> TrainConfig:
    """The base config of a sweep (a preset or a config, with overrides), validated.

    `weights: run:<id>` is the service's to resolve (it checks the caller owns the run).

    Raises:
        InvalidSweep: at `("base", …)`, naming the field.
    """
    try:
        return resolve_config(base.preset if base.preset is not None else base.config or {}, base.overrides)
    except UnknownPreset as exc:
        raise InvalidSweep(("base", "preset"), str(exc)) from None
    except InvalidOverride as exc:
        raise InvalidSweep(("base", "overrides", exc.path), str(exc)) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidSweep(("base", *first["loc"]), _message(first["msg"])) from None


def check_sweep(spec: SweepSpec, base: TrainConfig) -> None:
    """Refuse a spec that would queue an invalid trial, before anything is stored.

    Checks that the objective has a validation split to be measured on, that every stage of
    a stage group exists, that no two dimensions set one stage's LR, and that each
    dimension's extremes (every choice of a categorical one) give a valid config when
    applied alone to `base`.

    Raises:
        InvalidSweep: at the dimension, e.g. `("space", "stages.conv9.lr")`.
    """
    _check_objective(spec, base)
    _check_stage_claims(spec.space, base)
    for key, dimension in spec.space.items():
        for value in dimension.extremes():
            try:
                apply(base, overrides_for({key: value}, {key: dimension}))
            except (ValidationError, InvalidOverride, InvalidSweep) as exc:
                raise InvalidSweep(("space", key), f"{value!r} makes an invalid config: {_reason(exc)}") from None


def _check_objective(spec: SweepSpec, base: TrainConfig) -> None:
    fractions = base.dataset.resolved_fractions()
    if (fractions is not None and fractions.val == 0) or base.dataset.val_size == 0:
        raise InvalidSweep(
            ("objective",), f"{spec.objective} is measured on the validation split, and the base config has none"
        )


def _check_stage_claims(space: Space, base: TrainConfig) -> None:
    """Each stage's LR is set by one dimension at most; a stage group names real stages."""
    allowed = base.stage_names
    claimed: dict[str, str] = {}
    for key, dimension in space.items():
        for position, stage in enumerate(_stages_set_by(key, dimension, allowed)):
            if stage not in allowed:
                loc = ("space", key, "stages", position) if getattr(dimension, "stages", None) else ("space", key)
                raise InvalidSweep(loc, f"unknown stage {stage!r} for {base.backbone}; allowed: {', '.join(allowed)}")
            if stage in claimed:
                owner = "this group" if claimed[stage] == key else claimed[stage]
                raise InvalidSweep(("space", key), f"sets the LR of {stage}, which {owner} sets too")
            claimed[stage] = key


def _stages_set_by(key: str, dimension: AnyDimension, stage_names: tuple[str, ...]) -> list[str]:
    group = getattr(dimension, "stages", None)
    if group is not None:
        return list(group)
    if key == LAYER_DECAY:
        return list(stage_names[:-1])
    keys = key.split(".")
    if keys[0] == "stages" and (len(keys) == 2 or (len(keys) == 3 and keys[2] in ("lr", "mult"))):
        return [keys[1]]
    return []


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return f"{where}: {_message(first['msg'])}" if where else _message(first["msg"])
    if isinstance(exc, InvalidSweep):
        return exc.msg
    return str(exc)


def _message(msg: str) -> str:
    return msg.removeprefix("Value error, ")  # pydantic's prefix for a ValueError raised in a validator
