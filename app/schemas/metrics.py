"""Typed records the training core reports and the service stores."""

from __future__ import annotations

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
    stop_reason: str | None = None


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

    @property
    def per_class_accuracy(self) -> dict[str, float | None]:
        """Accuracy per true class; None for a class absent from the test split."""
        return {
            name: (row[i] / sum(row)) if sum(row) else None
            for i, (name, row) in enumerate(zip(self.class_names, self.confusion, strict=True))
        }
