"""Short human descriptions of a run's stage learning rates, for tables and legends.

The reference results table names each model by its stage LRs, e.g.
"conv1–3 1e-4, conv4–5 1e-3, classifier 1e-1"; `describe_stage_lrs` writes that
line from any config so the Compare page can show it for every run.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from app.schemas.catalog import BACKBONES
from app.schemas.train_config import TrainConfig

_NUMBERED = re.compile(r"^(.*?)(\d+)$")


@dataclass(frozen=True)
class StageLR:
    """One stage's base LR (before the global schedule) and the epoch it starts training."""

    name: str
    lr: float
    unfreeze_epoch: int = 0


def format_lr(value: float) -> str:
    """An LR the way papers write it: 1e-4, 3e-4, 2.5e-3; 0 reads "frozen"."""
    if value == 0:
        return "frozen"
    mantissa, exponent = f"{value:.3e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    power = int(exponent)
    return mantissa if power == 0 else f"{mantissa}e{power}"


def _runs_of_numbered(names: Sequence[str]) -> list[str]:
    """["conv1", "conv2", "conv3", "classifier"] → ["conv1–3", "classifier"]."""
    runs: list[list[str]] = []  # each: [prefix, first number, last number] or [name]
    for name in names:
        match = _NUMBERED.match(name)
        last = runs[-1] if runs else None
        if match and last and len(last) == 3 and last[0] == match.group(1) and int(last[2]) + 1 == int(match.group(2)):
            last[2] = match.group(2)
        elif match:
            runs.append([match.group(1), match.group(2), match.group(2)])
        else:
            runs.append([name])
    return [run[0] if len(run) == 1 else run[0] + run[1] + ("" if run[1] == run[2] else f"–{run[2]}") for run in runs]


def _group_label(names: Sequence[str]) -> str:
    return "+".join(_runs_of_numbered(names))


def describe_stages(stages: Sequence[StageLR]) -> str:
    """Neighbouring stages with the same LR and unfreeze epoch share one phrase.

    All stages alike reads "all 1e-1"; a stage that waits reads "conv5 1e-3 from epoch 3".
    """
    if not stages:
        return ""
    groups: list[list[StageLR]] = []
    for stage in stages:
        last = groups[-1][-1] if groups else None
        if last and (last.lr, last.unfreeze_epoch) == (stage.lr, stage.unfreeze_epoch):
            groups[-1].append(stage)
        else:
            groups.append([stage])
    phrases = []
    for group in groups:
        label = "all" if len(groups) == 1 and len(stages) > 1 else _group_label([s.name for s in group])
        phrase = f"{label} {format_lr(group[0].lr)}"
        if group[0].unfreeze_epoch and group[0].lr > 0:
            phrase += f" from epoch {group[0].unfreeze_epoch + 1}"  # 1-based, as pages count
        phrases.append(phrase)
    return ", ".join(phrases)


def stage_lrs(config: TrainConfig) -> list[StageLR]:
    """The config's stages in backbone order with their absolute base LRs."""
    return [
        StageLR(name, config.stage(name).base_lr(config.optimizer.lr), config.stage(name).unfreeze_epoch)
        for name in BACKBONES[config.backbone].stage_names
    ]


def describe_stage_lrs(config: TrainConfig) -> str:
    """E.g. "conv1–3 1e-4, conv4–5 1e-3, classifier 1e-1" for the reference Model D."""
    return describe_stages(stage_lrs(config))
