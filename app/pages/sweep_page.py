"""The Sweep page's view: the trial table, best-so-far, a heat map over two axes, parallel
coordinates, importances and the winning configuration's stage LRs.

Pure functions of the API's `SweepRead` (no database), so the page shows what the API
says and the shapes are unit-tested without a server. The charts' numbers are computed
here (binned, ordered, labelled); `app/static/js/sweep.js` only hands them to Plotly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from app.schemas.sweeps import SweepRead, TrialRead
from app.schemas.train_config import TrainConfig

MAX_LEVELS = 10  # an axis with more distinct values than this is binned
BINS = 6
COMPARE_TOP = 5


@dataclass(frozen=True)
class TrialRow:
    number: int
    state: str  # "pruned after epoch 3" for a pruned trial (epochs 1-based, as the Run page shows them)
    value: float | None
    epochs_done: int
    params: list[tuple[str, str]]
    run_id: int
    error: str | None


@dataclass(frozen=True)
class SweepPage:
    sweep: SweepRead
    rows: list[TrialRow]
    axes: list[str]  # the dimensions the heat map can use
    x: str | None
    y: str | None
    best_stage_lrs: list[tuple[str, str]]
    importances: list[tuple[str, float]]
    new_run_url: str | None
    compare_url: str | None
    compare_count: int
    charts: dict[str, Any] = field(default_factory=dict)


def sweep_page(
    sweep: SweepRead, importances: dict[str, float] | None, *, x: str | None = None, y: str | None = None
) -> SweepPage:
    """The page of one sweep; `x`, `y` pick the heat map's axes (default: the first two dimensions)."""
    axes = list(sweep.spec.get("space", {}))
    x = x if x in axes else (axes[0] if axes else None)
    y = y if y in axes and y != x else next((a for a in axes if a != x), None)
    ranked = ranked_trials(sweep)
    return SweepPage(
        sweep=sweep, rows=[_row(t) for t in sweep.trials], axes=axes, x=x, y=y,
        best_stage_lrs=stage_lrs(sweep.best.config) if sweep.best else [],
        importances=sorted((importances or {}).items(), key=lambda kv: -kv[1]),
        new_run_url=f"/runs/new?from_run={sweep.best.run_id}" if sweep.best else None,
        compare_url="/compare?ids=" + ",".join(str(t.run_id) for t in ranked[:COMPARE_TOP]) if len(ranked) >= 2 else None,
        compare_count=min(COMPARE_TOP, len(ranked)),
        charts={
            "objective": sweep.objective, "state": sweep.state, "id": sweep.id,
            "best_so_far": best_so_far(sweep), "heat_map": heat_map(sweep, x, y) if x and y else None,
            "parallel": parallel_coordinates(sweep),
        },
    )  # fmt: skip


def ranked_trials(sweep: SweepRead) -> list[TrialRead]:
    """Trials with a value, best first (complete and pruned alike)."""
    sign = -1 if sweep.objective == "val_acc" else 1
    return sorted((t for t in sweep.trials if t.value is not None), key=lambda t: (sign * (t.value or 0.0), t.number))


def _row(trial: TrialRead) -> TrialRow:
    state = trial.state
    if trial.state == "pruned" and trial.pruned_epoch is not None:
        state = f"pruned after epoch {trial.pruned_epoch + 1}"
    return TrialRow(
        number=trial.number, state=state, value=trial.value, epochs_done=trial.epochs_done,
        params=[(k, _fmt(v)) for k, v in trial.params.items()], run_id=trial.run_id, error=trial.error,
    )  # fmt: skip


def stage_lrs(config: dict[str, Any]) -> list[tuple[str, str]]:
    """Each stage's LR as trained (absolute, before the schedule), "frozen" for 0, with its unfreeze epoch."""
    parsed = TrainConfig.model_validate(config)
    out = []
    for name in parsed.stage_names:
        stage = parsed.stage(name)
        lr = stage.base_lr(parsed.optimizer.lr)
        text = "frozen" if lr == 0 else f"{lr:.3g}"
        if stage.unfreeze_epoch:
            text += f" from epoch {stage.unfreeze_epoch + 1}"
        out.append((name, text))
    return out


def best_so_far(sweep: SweepRead) -> dict[str, list[Any]]:
    """Each ended trial's value in trial order, and the best value up to it."""
    maximise = sweep.objective == "val_acc"
    numbers, values, best, states = [], [], [], []
    current: float | None = None
    for trial in sorted(sweep.trials, key=lambda t: t.number):
        if trial.value is None or trial.state in ("queued", "running"):
            continue
        if trial.state == "complete":
            current = trial.value if current is None else (max if maximise else min)(current, trial.value)
        numbers.append(trial.number)
        values.append(trial.value)
        best.append(current)
        states.append(trial.state)
    return {"number": numbers, "value": values, "best": best, "state": states}


def heat_map(sweep: SweepRead, x: str, y: str) -> dict[str, Any] | None:
    """The best objective in each cell of x × y (None where no trial landed), axes binned when continuous."""
    trials = [t for t in sweep.trials if t.value is not None and x in t.params and y in t.params]
    if not trials:
        return None
    x_axis, y_axis = _Axis.of([t.params[x] for t in trials]), _Axis.of([t.params[y] for t in trials])
    pick = max if sweep.objective == "val_acc" else min
    z: list[list[float | None]] = [[None] * len(x_axis.labels) for _ in y_axis.labels]
    counts = [[0] * len(x_axis.labels) for _ in y_axis.labels]
    for trial in trials:
        i, j = y_axis.index(trial.params[y]), x_axis.index(trial.params[x])
        z[i][j] = trial.value if z[i][j] is None else pick(z[i][j], trial.value)
        counts[i][j] += 1
    return {"x": x, "y": y, "x_labels": x_axis.labels, "y_labels": y_axis.labels, "z": z, "counts": counts}


@dataclass(frozen=True)
class _Axis:
    """Distinct values as they are, or bins (log-spaced for positive values over more than a decade)."""

    labels: list[str]
    levels: list[Any] | None = None
    edges: list[float] | None = None
    log: bool = False

    @classmethod
    def of(cls, values: list[Any]) -> _Axis:
        distinct = sorted(set(values), key=_order)
        if len(distinct) <= MAX_LEVELS or not all(_is_number(v) for v in distinct):
            return cls(labels=[_fmt(v) for v in distinct], levels=distinct)
        low, high = float(distinct[0]), float(distinct[-1])
        log = low > 0 and high / low > 10
        ends = (math.log10(low), math.log10(high)) if log else (low, high)
        edges = [ends[0] + (ends[1] - ends[0]) * k / BINS for k in range(BINS + 1)]
        shown = [10**e for e in edges] if log else edges
        return cls(labels=[f"{shown[k]:.2g}–{shown[k + 1]:.2g}" for k in range(BINS)], edges=edges, log=log)

    def index(self, value: Any) -> int:
        if self.levels is not None:
            return self.levels.index(value)
        assert self.edges is not None
        point = math.log10(value) if self.log else float(value)
        return min(BINS - 1, max(0, next((k for k in range(BINS) if point < self.edges[k + 1]), BINS - 1)))


def parallel_coordinates(sweep: SweepRead) -> dict[str, Any] | None:
    """One axis per dimension (log10 for log-scaled floats, indices for categories) plus the objective."""
    trials = [t for t in sweep.trials if t.value is not None]
    if not trials:
        return None
    dimensions = []
    for key, dim in sweep.spec.get("space", {}).items():
        values = [t.params.get(key) for t in trials]
        if all(_is_number(v) for v in values) and dim.get("type") != "categorical":
            log = bool(dim.get("log"))
            dimensions.append({
                "label": f"log10 {key}" if log else key,
                "values": [math.log10(v) if log and v > 0 else v for v in values],
            })  # fmt: skip
        else:
            levels = sorted(set(map(_fmt, values)), key=_order)
            dimensions.append({
                "label": key, "values": [levels.index(_fmt(v)) for v in values],
                "tickvals": list(range(len(levels))), "ticktext": levels,
            })  # fmt: skip
    dimensions.append({"label": sweep.objective, "values": [t.value for t in trials]})
    return {"dimensions": dimensions, "color": [t.value for t in trials]}


def _fmt(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _order(value: Any) -> tuple[int, Any]:
    return (0, float(value)) if _is_number(value) else (1, str(value))
