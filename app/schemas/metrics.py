"""Typed records the training core reports and the service stores."""

from __future__ import annotations

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
