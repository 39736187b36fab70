"""Evaluations as the API and the pages see them: a run's model judged on a dataset."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.schemas.inference import CheckpointKind
from app.schemas.runs import MAX_ID
from app.schemas.train_config import DatasetConfig

EvaluationStatusName = Literal["queued", "running", "succeeded", "failed"]
EvalSplit = Literal["all", "train", "val", "test"]
MAX_LISTED_RUNS = 100


class EvaluationCreate(BaseModel):
    """Judge a run's checkpoint on a dataset (its class folders named as the run's classes)."""

    model_config = ConfigDict(extra="forbid")

    dataset: DatasetConfig = Field(
        description='as in a run config, e.g. {"name": "imagefolder", "path": "uploads/webcam"} or {"name": "hymenoptera"}'
    )
    split: EvalSplit = Field(default="all", description="which images: all of them, or one split as a run would cut it")
    checkpoint: CheckpointKind = "best"
    shared_classes: bool = Field(
        default=False, description="judge only the classes the dataset and the run share (recorded with the result)"
    )
    queue: str | None = Field(default=None, max_length=64, description="queue (GPU kind) to run on")


class EvaluationResult(BaseModel):
    """What the worker measured."""

    model_config = ConfigDict(frozen=True)

    loss: float
    count: int = Field(description="images judged")
    epoch: int = Field(description="epochs the checkpoint had trained")
    class_names: list[str] = Field(description="the run's classes: rows (true) and columns (predicted) of confusion")
    confusion: list[list[int]]
    per_class_accuracy: dict[str, float | None]
    class_mapping: dict[str, int] = Field(description="dataset class folder → the model's output index")
    missing_classes: list[str] = Field(description="run classes the dataset lacks")
    extra_classes: list[str] = Field(description="dataset classes left out (only with shared_classes)")
    split_hash: str = Field(description="fingerprint of the images judged, as the training core computes it")


class EvaluationRead(BaseModel):
    """An evaluation: the request, where it stands, and once succeeded its result."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    run_id: int
    status: EvaluationStatusName
    dataset: dict[str, Any]
    dataset_label: str
    split: EvalSplit
    checkpoint: CheckpointKind
    shared_classes: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    attempt: int
    error: str | None
    accuracy: float | None
    result: EvaluationResult | None


class EvaluationFilter(BaseModel):
    """`?run_ids=1,2,3`: the evaluations of these runs (yours; an admin's: any)."""

    run_ids: str = Field(default="", max_length=1000, description="comma-separated run ids")

    def ids(self) -> list[int]:
        """The ids, or a ValueError naming the bad one."""
        parsed = []
        for part in filter(None, (p.strip() for p in self.run_ids.split(","))):
            if not part.isdigit() or not 0 < int(part) <= MAX_ID:
                raise ValueError(f"{part!r} is not a run id")
            parsed.append(int(part))
        if len(parsed) > MAX_LISTED_RUNS:
            raise ValueError(f"at most {MAX_LISTED_RUNS} runs at once")
        return parsed


class TransferRequest(BaseModel):
    """Queue each run × each dataset in one request (the transfer matrix's "Evaluate on…")."""

    model_config = ConfigDict(extra="forbid")

    run_ids: list[int] = Field(min_length=1, max_length=MAX_LISTED_RUNS)
    datasets: list[DatasetConfig] = Field(min_length=1, max_length=20)
    split: EvalSplit = "all"
    checkpoint: CheckpointKind = "best"
    shared_classes: bool = False


class TransferCell(BaseModel):
    """One run on one dataset: its latest evaluation there, or (own) the run's own test split."""

    status: str = Field(description="an evaluation status, or 'test split' for the run's own")
    accuracy: float | None
    evaluation_id: int | None = None
    own: bool = Field(default=False, description="the run's own test split (the diagonal)")


class TransferRow(BaseModel):
    run_id: int
    label: str = Field(description='"#12 name"')
    own_dataset: str = Field(description="the column of the run's own dataset")
    cells: dict[str, TransferCell] = Field(description="column (dataset label) → cell; absent: not evaluated")


class TransferMatrix(BaseModel):
    """Runs × datasets: rows are runs, columns datasets (each run's own first), cells accuracy."""

    columns: list[str]
    rows: list[TransferRow]

    @property
    def pending(self) -> bool:
        """Whether any cell is still queued or running."""
        return any(c.status in ("queued", "running") for row in self.rows for c in row.cells.values())
