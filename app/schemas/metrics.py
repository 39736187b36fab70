"""Typed records the training core reports and the service stores."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict


class EpochRecord(BaseModel):
    """One finished epoch. Accuracies are fractions in [0, 1]; test fields are None
    on epochs where the test split was not evaluated (`test_every`)."""

    model_config = ConfigDict(frozen=True)

    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float | None
    val_acc: float | None
    test_loss: float | None
    test_acc: float | None
    lr: dict[str, float]
    images_per_s: float
    seconds: float


class EpochVerdict(StrEnum):
    """What `fit`'s `on_epoch` callback may answer after an epoch is reported (None: go on).

    `PRUNE`: a sweep's pruner judged the run unpromising; `fit` writes the epoch's checkpoint,
    trains no further, and its summary says `stop_reason="pruned"` at `pruned_epoch`.
    """

    PRUNE = "prune"


class RunSummary(BaseModel):
    """What a finished (or stopped) run achieved."""

    model_config = ConfigDict(frozen=True)

    epochs_done: int
    best_val_acc: float | None
    best_epoch: int | None
    test_acc_at_best_val: float | None
    final_train_acc: float | None
    final_test_acc: float | None
    images_per_s: float | None
    split_hash: str
    stopped: bool = False
    stop_reason: str | None = None  # "cancelled" | "pruned"
    pruned_epoch: int | None = None  # the epoch after which a sweep's pruner stopped the run


class TestReport(BaseModel):
    """The test split judged by one model: accuracy, and a confusion matrix whose rows
    are true classes and columns predictions (so per-class accuracy = diagonal / row sum)."""

    model_config = ConfigDict(frozen=True)
    __test__ = False  # not a pytest test class, despite the name

    model: Literal["best", "last"]
    epoch: int
    accuracy: float
    class_names: list[str]
    confusion: list[list[int]]
    # The predicted class of each test image, in the split's order (`select_files(...)["test"]`
    # for folder datasets); None in reports written before it was recorded.
    predictions: list[int] | None = None

    @property
    def per_class_accuracy(self) -> dict[str, float | None]:
        """Accuracy per true class; None for a class absent from the test split."""
        return {
            name: (row[i] / sum(row)) if sum(row) else None
            for i, (name, row) in enumerate(zip(self.class_names, self.confusion, strict=True))
        }


class FastPath(BaseModel):
    """How a run's training was made fast (`fast_path.json` in its folder; docs/training.md).

    Written when the run starts and again whenever a phase of gradual unfreezing moves the
    frozen prefix, so a live run shows it too. Fields missing from older files are None.
    """

    model_config = ConfigDict(frozen=True)

    data: str | None = None  # resident | streamed | cpu
    decode: str | None = None  # cache hit | no cache hit
    precision: str | None = None  # bf16 autocast, channels_last | fp32
    frozen_prefix: str | None = None  # none | no_grad | cached features, or one entry per phase
    compile: str | None = None  # on | off
    fused_optimizer: str | None = None  # on | off
    test_split: str | None = None  # how often the test split is evaluated (worker/training/eval_cadence.py)

    def summary(self) -> str:
        """One line for the Run page: "data resident · decode cache hit · …"."""
        parts = {
            "data": self.data, "decode": self.decode, "precision": self.precision,
            "frozen prefix": self.frozen_prefix, "compile": self.compile, "fused optimizer": self.fused_optimizer,
        }  # fmt: skip
        return " · ".join(f"{label} {value}" for label, value in parts.items() if value)


class RunProgress(BaseModel):
    """Where a running run is inside its current epoch, as the worker last reported it.

    `epoch` counts from 0 like `EpochRecord.epoch`; `step` is the training steps done in
    it, of `steps`; `images_per_s` the training pace of this attempt so far; `eta_s` the
    seconds left for the whole run at that pace (evaluation included, as it is timed too).
    """

    epoch: int
    step: int
    steps: int
    images_per_s: float | None = None
    eta_s: float | None = None
