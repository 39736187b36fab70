"""Where a run's starting weights came from when they are another run's checkpoint.

A submit turns `weights: "run:<id>[:best|:last]"` into a pinned copy of that checkpoint as
it is at that moment (`runs/<id>/snapshots/<best|last>-epoch<k>.pt`, a hard link: the
training loop replaces its files by rename, so the link keeps the old one). The path is the
record: it names the run, the checkpoint and its epoch, and it is what the worker loads. One
module writes and reads that name, so the API, the Run page and Compare agree on it.
"""

from __future__ import annotations

import posixpath
import re
from typing import Literal

from pydantic import BaseModel, Field

CheckpointName = Literal["best", "last"]
CHECKPOINT_FILES: dict[CheckpointName, str] = {"best": "best.pt", "last": "checkpoint.pt"}

_SNAPSHOT = re.compile(r"runs/(\d+)/snapshots/(best|last)-epoch(\d+)\.pt")
_LIVE_FILE = re.compile(r"runs/(\d+)/(best|checkpoint)\.pt")  # chained before snapshots, or typed by hand


class WeightsSource(BaseModel):
    """The run whose checkpoint another run started from."""

    run_id: int
    checkpoint: CheckpointName = Field(description="best: its best validation epoch; last: its latest epoch")
    epoch: int | None = Field(
        description="epochs the checkpoint had trained when the new run was submitted (1-based: the model after "
        "that epoch); null when not recorded (a checkpoint path written by hand)"
    )


def snapshot_path(run_id: int, checkpoint: CheckpointName, epoch: int) -> str:
    """The data-root-relative path of run `run_id`'s `checkpoint` pinned at `epoch`."""
    return f"runs/{run_id}/snapshots/{checkpoint}-epoch{epoch}.pt"


def chained_from(weights: object) -> WeightsSource | None:
    """The run a config's `weights` point into, or None (ImageNet, scratch, another file)."""
    if not isinstance(weights, str):
        return None
    path = posixpath.normpath(weights.replace("\\", "/"))
    if pinned := _SNAPSHOT.fullmatch(path):
        return WeightsSource(run_id=int(pinned[1]), checkpoint=pinned[2], epoch=int(pinned[3]))  # type: ignore[arg-type]
    if live := _LIVE_FILE.fullmatch(path):
        return WeightsSource(run_id=int(live[1]), checkpoint="best" if live[2] == "best" else "last", epoch=None)
    return None
