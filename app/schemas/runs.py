"""API shapes of runs, their metrics and comparisons (separate from the ORM tables)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator

from app.schemas.metrics import EpochRecord, RunSummary, TestReport

# Ids are PostgreSQL INTEGERs: a larger number names nothing, and must not reach the
# database (SQLite and PostgreSQL both raise on it, which would be a 500).
MAX_ID = 2**31 - 1

RunStatusName = Literal["queued", "running", "succeeded", "failed", "cancelled", "pruned"]
SortKey = Literal[
    "created_at", "-created_at", "finished_at", "-finished_at", "best_val_acc", "-best_val_acc", "name", "-name", "id", "-id"
]


class RunCreate(BaseModel):
    """A new run: a full config, or a preset; either with dotted-path overrides.

    `config` is a `TrainConfig` mapping; its `weights` may be `"run:<id>"` to start from
    that run's best checkpoint. Overrides use the CLI's `--set` paths, e.g.
    `{"epochs": 2, "stages.conv1.lr": 0}`.
    """

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    config: dict[str, Any] | None = Field(default=None, description="a TrainConfig (see /api/presets for examples)")
    preset: str | None = Field(default=None, max_length=200, description="a name from /api/presets")
    overrides: dict[str, Any] = Field(default_factory=dict, description="dotted path -> value")
    queue: str | None = Field(default=None, max_length=64, description="queue (GPU kind) to run on")

    @model_validator(mode="after")
    def _one_source(self) -> RunCreate:
        if (self.config is None) == (self.preset is None):
            raise ValueError("give exactly one of config or preset")
        return self


class RunClone(BaseModel):
    """A copy of an existing run's config, with overrides (a new name, a different LR…)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    overrides: dict[str, Any] = Field(default_factory=dict)
    queue: str | None = Field(default=None, max_length=64)


class ArtifactRead(BaseModel):
    kind: str
    size_bytes: int
    created_at: datetime


class RunRead(BaseModel):
    """A run as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str | None
    status: RunStatusName
    queue: str
    dataset: str
    backbone: str
    epochs: int
    epochs_done: int
    config: dict[str, Any]
    cloned_from: int | None
    owner_name: str | None = Field(default=None, description="the user who started the run")
    sweep_id: int | None = Field(default=None, description="the sweep this run is a trial of")
    trial_number: int | None = Field(default=None, description="its trial number in that sweep")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    attempt: int
    worker_host: str | None
    gpu: str | None
    cancel_requested: bool
    error: str | None
    best_val_acc: float | None
    summary: RunSummary | None


class StudyCreate(BaseModel):
    """Queue every run of a study (all or none), with the same overrides applied to each."""

    model_config = ConfigDict(extra="forbid")

    study: str = Field(max_length=200, description="a name from /api/studies")
    overrides: dict[str, Any] = Field(
        default_factory=dict, description="dotted path -> value, applied to every run, e.g. {\"epochs\": 30}"
    )
    queue: str | None = Field(default=None, max_length=64, description="queue (GPU kind) to run on")


class StudyRead(BaseModel):
    """A study: its presets, and where its runs will be compared."""

    name: str
    title: str
    description: str
    presets: list[str]


class StudyRuns(BaseModel):
    """The runs a study queued, in its order, and the Compare page of them."""

    study: str
    runs: list[RunRead]
    compare_url: str


class RunDetail(RunRead):
    """One run with the files it left (checkpoints, metrics)."""

    artifacts: list[ArtifactRead] = Field(default_factory=list)


class RunPage(BaseModel):
    """One page of the run list."""

    items: list[RunRead]
    total: int
    limit: int
    offset: int


class RunFilter(BaseModel):
    """What the run list may be narrowed and ordered by."""

    model_config = ConfigDict(extra="forbid")

    status: RunStatusName | None = None
    dataset: str | None = Field(default=None, max_length=64)
    backbone: str | None = Field(default=None, max_length=64)
    owner: str | None = Field(default=None, max_length=64, description="the user name that started the runs")
    sort: SortKey = "-created_at"
    limit: int = Field(default=50, ge=1)
    offset: int = Field(default=0, ge=0, le=MAX_ID)


class EpochMetricRead(EpochRecord):
    """One epoch of a run: the fields of metrics.jsonl."""


class TestReportRead(TestReport):
    """A finished run's test report (`test_report.json`) with its per-class accuracy in the JSON."""

    __test__ = False  # not a pytest test class, despite the name

    @computed_field  # type: ignore[prop-decorator]
    @property
    def per_class_accuracy(self) -> dict[str, float | None]:
        """Accuracy per true class, by class name; None for a class absent from the test split."""
        return super().per_class_accuracy


class ConfigDifference(BaseModel):
    """One config field whose value differs between the compared runs (None = absent)."""

    path: str
    values: dict[int, Any]


class CompareRead(BaseModel):
    """Several runs side by side: configs, summaries, curves and what differs."""

    runs: list[RunRead]
    curves: dict[int, list[EpochMetricRead]]
    differences: list[ConfigDifference]
