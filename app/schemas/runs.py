"""API shapes of runs, their metrics and comparisons (separate from the ORM tables)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, computed_field, field_validator, model_validator

from app.schemas.bounds import Text
from app.schemas.metrics import EpochRecord, RunProgress, RunSummary, TestReport
from app.schemas.weights_source import WeightsSource, chained_from

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

    name: Text | None = Field(default=None, max_length=200)
    config: dict[str, Any] | None = Field(default=None, description="a TrainConfig (see /api/presets for examples)")
    preset: Text | None = Field(default=None, max_length=200, description="a name from /api/presets")
    overrides: dict[str, Any] = Field(default_factory=dict, description="dotted path -> value")
    queue: Text | None = Field(default=None, max_length=64, description="queue (GPU kind) to run on")

    @model_validator(mode="after")
    def _one_source(self) -> RunCreate:
        if (self.config is None) == (self.preset is None):
            raise ValueError("give exactly one of config or preset")
        return self


# Names and tags are shown in pages, chips, CSV and terminals: no control characters.
MAX_NAME = 200
MAX_NOTES = 20_000
MAX_TAG = 40
MAX_TAGS = 20
TAG_RULE = f"1–{MAX_TAG} letters, digits or - _ . : / + (no spaces)"
_TAG_CHARS = set("-_.:/+")


def _printable(value: str, *, field: str, keep: str = "") -> str:
    """`value` unless it holds a control character (other than those in `keep`)."""
    bad = next((c for c in value if (ord(c) < 32 or 127 <= ord(c) < 160) and c not in keep), None)
    if bad is not None:
        raise ValueError(f"{field} must not contain control characters (found U+{ord(bad):04X})")
    return value


def check_tag(tag: str) -> str:
    """A valid tag, stripped; ValueError saying the rule otherwise."""
    tag = tag.strip()
    if not 0 < len(tag) <= MAX_TAG or not all(c.isalnum() or c in _TAG_CHARS for c in tag):
        raise ValueError(f"tag {tag[:MAX_TAG + 10]!r} is not valid: a tag is {TAG_RULE}")
    return tag


def check_name(name: str) -> str:
    """A run name, stripped; ValueError if it is empty, too long or holds control characters."""
    name = _printable(name, field="name").strip()
    if not 0 < len(name) <= MAX_NAME:
        raise ValueError(f"name must be 1–{MAX_NAME} characters")
    return name


class RunUpdate(BaseModel):
    """Organise a run: rename it, write notes (markdown), set, add or remove tags. Absent = unchanged.

    `tags` replaces every tag; `add_tags` and `remove_tags` change some (removed after added).
    """

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, description=f"1–{MAX_NAME} characters, no control characters")
    notes: str | None = Field(default=None, description=f"markdown, at most {MAX_NOTES:,} characters; \"\" clears")
    tags: list[str] | None = Field(default=None, description=f"replaces every tag; at most {MAX_TAGS}, each {TAG_RULE}")
    add_tags: list[str] = Field(default_factory=list, max_length=MAX_TAGS)
    remove_tags: list[str] = Field(default_factory=list, max_length=MAX_TAGS)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return None if value is None else check_name(value)

    @field_validator("notes")
    @classmethod
    def _notes(cls, value: str | None) -> str | None:
        if value is not None and len(value) > MAX_NOTES:
            raise ValueError(f"notes must be at most {MAX_NOTES:,} characters, got {len(value):,}")
        return None if value is None else _printable(value, field="notes", keep="\n\r\t")

    @field_validator("tags", "add_tags", "remove_tags")
    @classmethod
    def _tags(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if len(value) > MAX_TAGS:
            raise ValueError(f"at most {MAX_TAGS} tags, got {len(value)}")
        return list(dict.fromkeys(check_tag(t) for t in value))


class RunBulk(BaseModel):
    """One action on a selection of runs (the Runs list's bulk bar)."""

    model_config = ConfigDict(extra="forbid")

    ids: list[int] = Field(min_length=1, max_length=500, description="the selected runs")
    action: Literal["tag", "untag", "cancel", "delete"]
    tags: list[str] = Field(default_factory=list, max_length=MAX_TAGS, description="for tag and untag")

    @field_validator("ids")
    @classmethod
    def _ids(cls, value: list[int]) -> list[int]:
        if any(not 0 < i <= MAX_ID for i in value):
            raise ValueError(f"ids must be between 1 and {MAX_ID}")
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(check_tag(t) for t in value))


class RunBulkResult(BaseModel):
    """What a bulk action did: the runs it changed, and those it skipped with the reason."""

    action: str
    done: list[int]
    skipped: dict[int, str]


class RunClone(BaseModel):
    """A copy of an existing run's config, with overrides (a new name, a different LR…)."""

    model_config = ConfigDict(extra="forbid")

    name: Text | None = Field(default=None, max_length=200)
    overrides: dict[str, Any] = Field(default_factory=dict)
    queue: Text | None = Field(default=None, max_length=64)


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
    tags: list[str] = Field(default_factory=list, description="sorted; filter the list with ?tag=")
    notes: str | None = Field(default=None, description="markdown, as written (pages render it sanitised)")
    progress: RunProgress | None = Field(
        default=None, description="steps done in the current epoch, pace and time left (running runs)"
    )

    @computed_field(description="the run (and checkpoint, with its epoch) whose weights this run started from")  # type: ignore[prop-decorator]
    @property
    def weights_source(self) -> WeightsSource | None:
        return chained_from(self.config.get("weights"))


class StudyCreate(BaseModel):
    """Queue every run of a study (all or none), with the same overrides applied to each."""

    model_config = ConfigDict(extra="forbid")

    study: Text = Field(max_length=200, description="a name from /api/studies")
    overrides: dict[str, Any] = Field(
        default_factory=dict, description="dotted path -> value, applied to every run, e.g. {\"epochs\": 30}"
    )
    queue: Text | None = Field(default=None, max_length=64, description="queue (GPU kind) to run on")


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


# The run list counts its matches up to here (or to the end of the page asked for, if further):
# a full count reads every match, which grows with the table; beyond, it says "10,000+".
TOTAL_CAP = 10_000


class RunPage(BaseModel):
    """One page of the run list."""

    items: list[RunRead]
    total: int = Field(description=f"matches counted, at most {TOTAL_CAP:,} or to the end of this page")
    total_capped: bool = Field(default=False, description="true: there are more matches than `total`")
    limit: int
    offset: int


class RunFilter(BaseModel):
    """What the run list may be narrowed and ordered by."""

    model_config = ConfigDict(extra="forbid")

    status: RunStatusName | None = None
    dataset: Text | None = Field(default=None, max_length=64)
    backbone: Text | None = Field(default=None, max_length=64)
    owner: Text | None = Field(default=None, max_length=64, description="the user name that started the runs")
    tag: Text | None = Field(default=None, max_length=MAX_TAG, description="only runs with this tag")
    q: Text | None = Field(default=None, max_length=MAX_NAME, description="text in the name or notes (any case)")
    sort: SortKey = "-created_at"
    limit: int = Field(default=50, ge=1)
    offset: int = Field(default=0, ge=0, le=MAX_ID)

    @field_validator("tag", "q")
    @classmethod
    def _text(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else _printable(value, field=str(info.field_name))


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
