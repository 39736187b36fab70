"""The LR range test as a job on the workers (`POST /api/lr-finds`), for the New run page.

The test itself is `worker.training.lr_find` (the same as `stagewise lr-find`); these are
the request, what the page reads back, and the job's record kept under the data root.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

JOB_ID = r"^[0-9a-f]{32}$"
LrFindState = Literal["queued", "running", "succeeded", "failed"]


class LrFindCreate(BaseModel):
    """The config to test (as a run's: a config or a preset, with overrides) and the LR sweep:
    `steps` training steps, the base LR growing exponentially from `start` to `end`."""

    model_config = ConfigDict(extra="forbid")

    config: dict[str, Any] | None = Field(default=None, description="a TrainConfig")
    preset: str | None = Field(default=None, max_length=200)
    overrides: dict[str, Any] = Field(default_factory=dict)
    start: Annotated[float, Field(gt=0, le=1)] = 1e-7
    end: Annotated[float, Field(gt=0, le=100)] = 10.0
    steps: Annotated[int, Field(ge=5, le=1000)] = 100

    @model_validator(mode="after")
    def _check(self) -> LrFindCreate:
        if (self.config is None) == (self.preset is None):
            raise ValueError("give exactly one of config or preset")
        if self.start >= self.end:
            raise ValueError(f"start ({self.start:g}) must be below end ({self.end:g})")
        return self


class LrFindResult(BaseModel):
    """What the test found: the curve, the suggestion (fastai's valley) and each stage's LR at it."""

    lrs: list[float]
    losses: list[float | None] = Field(description="None where the loss was not finite (it exploded)")
    smoothed: list[float | None]
    suggestion: float | None
    steepest: float | None
    diverged: bool
    ratios: dict[str, float] = Field(description="each stage's LR / the base LR (0: frozen)")
    stage_lrs: dict[str, float] = Field(description="each stage's LR at the suggested base LR")


class LrFindRead(BaseModel):
    """One LR range test job."""

    id: str
    state: LrFindState
    base_lr: float = Field(description="optimizer.lr of the tested config")
    start: float
    end: float
    steps: int
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    result: LrFindResult | None = None


class LrFindJob(LrFindRead):
    """The job's record (`lr_finds/<id>.json` under the data root): what the page reads, and what
    the worker needs."""

    owner_id: int | None
    queue: str
    config: dict[str, Any]
    beat_at: datetime | None = None  # the worker's latest sign of life while the job runs
