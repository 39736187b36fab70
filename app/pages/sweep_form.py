"""The New run page's "Sweep…" panel: the form's stage values turned into a sweep's ranges.

The panel's inputs sit in the New run form under `sweep.` (the run's own inputs are the
base config, `run_form.config_from_form`). Per stage a toggle makes its LR a range,
`low`…`high` (empty: the stage's LR ÷ 10 … × 10, log scale), and a group name shares one
LR among the stages that carry it (a stage group of the space language); weight decay and
the freeze depth are the other dimensions the panel offers. Any other config path is
left to the spec language (`POST /api/sweeps`). With the grid sampler a float range
becomes `grid_points` values, log- or evenly spaced, so a grid can be drawn from the
same toggles.

The mapping runs here only, for the page's script and the no-JavaScript submit alike; an
error is keyed by the input that made the offending part (`spec_field`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from app.schemas.errors import field_message
from app.schemas.sweeps import FREEZE_THROUGH
from app.schemas.train_config import TrainConfig

PREFIX = "sweep."
RANGE_FACTOR = 10.0  # the default range: the value ÷ 10 … × 10
WEIGHT_DECAY = "optimizer.weight_decay"
SETTINGS = ("name", "sampler", "pruner", "trials", "parallel", "objective", "grid_points", "seed")
DEFAULT_GRID_POINTS = 3
MAX_GRID_POINTS = 20


@dataclass(frozen=True)
class SweepRow:
    """One stage's row of the panel (what the template shows)."""

    name: str
    on: bool = False
    low: str = ""
    high: str = ""
    log: bool = True
    group: str = ""


@dataclass(frozen=True)
class SweepPanel:
    """What templates/partials/sweep_panel.html shows, re-shown as typed after an error."""

    rows: list[SweepRow]
    values: dict[str, str]
    freeze_choices: str
    open: bool = False

    def checked(self, key: str) -> bool:
        return bool(self.values.get(key))


def sweep_panel(stage_names: Sequence[str], form: Mapping[str, str] | None = None) -> SweepPanel:
    """The panel for a backbone's stages, empty or as `form` posted it."""
    form = form or {}
    posted = any(key.startswith(PREFIX) for key in form)
    rows = [
        SweepRow(name, bool(form.get(f"{PREFIX}stages.{name}.on")), form.get(f"{PREFIX}stages.{name}.low", ""),
                 form.get(f"{PREFIX}stages.{name}.high", ""),
                 bool(form.get(f"{PREFIX}stages.{name}.log")) if posted else True,
                 form.get(f"{PREFIX}stages.{name}.group", ""))
        for name in stage_names
    ]  # fmt: skip
    values = {key.removeprefix(PREFIX): value for key, value in form.items() if key.startswith(PREFIX)}
    if not posted:
        values[f"{WEIGHT_DECAY}.log"] = "1"
    default_choices = ", ".join(["none", *stage_names[:-1]])
    return SweepPanel(rows, values, values.get(f"{FREEZE_THROUGH}.choices", default_choices), open=posted)


class SweepFormError(ValueError):
    """A panel input that cannot make a spec (a range bound that is not a number); keyed by its input."""

    def __init__(self, field: str, msg: str) -> None:
        super().__init__(msg)
        self.field, self.msg = field, msg


@dataclass(frozen=True)
class SweepDraft:
    """The spec the panel describes, and for each space key the input that made it."""

    spec: dict[str, Any]
    fields: dict[str, str]


def spec_from_form(form: Mapping[str, str], config: TrainConfig) -> SweepDraft:
    """The sweep spec (not yet validated) of the panel's inputs over the base `config`.

    Raises:
        SweepFormError: a bound or a count is not a number (named by its input).
    """
    grid = form.get(f"{PREFIX}sampler") == "grid"
    points = _count(form, "grid_points", DEFAULT_GRID_POINTS) if grid else 0
    space: dict[str, Any] = {}
    fields: dict[str, str] = {}
    for key, field, dimension in _stage_dimensions(form, config, points):
        space[key], fields[key] = dimension, field
    if form.get(f"{PREFIX}{WEIGHT_DECAY}.on"):
        field = f"{PREFIX}{WEIGHT_DECAY}"
        space[WEIGHT_DECAY], fields[WEIGHT_DECAY] = _range(form, field, config.optimizer.weight_decay, points), field
    if form.get(f"{PREFIX}{FREEZE_THROUGH}.on"):
        text = form.get(f"{PREFIX}{FREEZE_THROUGH}.choices", "")
        choices = [c.strip() for c in text.split(",") if c.strip()]
        space[FREEZE_THROUGH] = {"type": "categorical", "choices": choices}
        fields[FREEZE_THROUGH] = f"{PREFIX}{FREEZE_THROUGH}"
    spec: dict[str, Any] = {"base": {"config": config.model_dump(mode="json")}, "space": space}
    for key in ("name", "sampler", "pruner", "objective"):
        if form.get(PREFIX + key, "").strip():
            spec[key] = form[PREFIX + key].strip()
    for key in ("trials", "parallel", "seed"):
        if form.get(PREFIX + key, "").strip():
            spec[key] = _count(form, key, 0, low=None if key == "seed" else 1)
    return SweepDraft(spec, fields)


def _stage_dimensions(form: Mapping[str, str], config: TrainConfig, points: int) -> list[tuple[str, str, dict]]:
    """(space key, input, dimension) per toggled stage; stages sharing a group name share one
    dimension, whose range is its first stage's row (input side first)."""
    found: list[tuple[str, str, dict]] = []
    groups: dict[str, list[str]] = {}
    for name in config.stage_names:
        row = f"{PREFIX}stages.{name}"
        if not form.get(f"{row}.on"):
            continue
        group = form.get(f"{row}.group", "").strip()
        if group:
            if group not in groups:
                groups[group] = []
                found.append((group, row, {**_range(form, row, _stage_lr(config, name), points), "stages": groups[group]}))
            groups[group].append(name)
        else:
            found.append((f"stages.{name}.lr", row, _range(form, row, _stage_lr(config, name), points)))
    return found


def _stage_lr(config: TrainConfig, name: str) -> float:
    """The stage's LR in the base config; a frozen stage's range centres on the base LR."""
    return config.stage(name).base_lr(config.optimizer.lr) or config.optimizer.lr


def _range(form: Mapping[str, str], field: str, value: float, points: int) -> dict[str, Any]:
    """A float dimension from `field`'s low/high/log inputs (empty bounds: `value` ÷ 10 … × 10);
    with `points` (a grid), that many values between them instead."""
    low = _number(form, f"{field}.low", value / RANGE_FACTOR)
    high = _number(form, f"{field}.high", value * RANGE_FACTOR)
    log = bool(form.get(f"{field}.log"))
    if not points:
        return {"type": "float", "low": low, "high": high, "log": log}
    if points == 1 or low == high:
        return {"type": "categorical", "choices": [low]}
    if log and low > 0:
        values = [low * (high / low) ** (i / (points - 1)) for i in range(points)]
    else:
        values = [low + (high - low) * i / (points - 1) for i in range(points)]
    return {"type": "categorical", "choices": sorted({float(f"{v:.4g}") for v in values})}


def _number(form: Mapping[str, str], key: str, default: float) -> float:
    text = form.get(key, "").strip()
    if not text:
        return default
    try:
        return float(text)
    except ValueError:
        raise SweepFormError(key.rsplit(".", 1)[0], f"{key.rsplit('.', 1)[1]} must be a number, got {text!r}") from None


def _count(form: Mapping[str, str], key: str, default: int, low: int | None = 1) -> int:
    text = form.get(PREFIX + key, "").strip()
    if not text:
        return default
    if not (text.isascii() and text.lstrip("-").isdigit()) or (low is not None and int(text) < low):
        raise SweepFormError(PREFIX + key, f"{key} must be a whole number{'' if low is None else f' ≥ {low}'}, got {text!r}")
    number = int(text)
    if key == "grid_points" and number > MAX_GRID_POINTS:
        raise SweepFormError(PREFIX + key, f"at most {MAX_GRID_POINTS} grid points per range, got {number}")
    return number


def spec_field(loc: Sequence[str | int], msg: str, fields: Mapping[str, str]) -> str:
    """The input (or run-form field) that a spec error's location names.

    `("body", "base", "config", "epochs")` is the run form's `epochs`; `("space", key, …)` is
    the input that made `key`; `("trials",)` the panel's `sweep.trials`; a space-wide error
    whose message starts with a key (a grid that cannot be listed) that key's input; anything
    else the panel as a whole (`sweep`).
    """
    parts = [str(p) for p in loc]
    if parts[:1] == ["body"]:
        parts = parts[1:]
    if parts[:1] == ["base"]:
        parts = parts[1:]
        while parts and parts[0] in ("config", "overrides", "preset"):
            parts = parts[1:]
        if len(parts) > 2 and parts[0] == "stages":
            parts = parts[:2]
        return ".".join(parts)
    if parts[:1] == ["space"]:
        if len(parts) > 1 and parts[1] in fields:
            return fields[parts[1]]
        for key, field in fields.items():
            if msg.startswith(f"{key}:"):
                return field
        return "sweep.space"
    if parts and parts[0] in SETTINGS:
        return PREFIX + parts[0]
    return "sweep"


def spec_errors(exc: ValidationError, fields: Mapping[str, str]) -> list[dict[str, Any]]:
    """A spec's validation errors as the form's error records (`loc` = the input's path)."""
    records = []
    for error in exc.errors():
        msg = field_message(error)
        records.append({"loc": spec_field(error["loc"], msg, fields).split("."), "msg": msg})
    return records
