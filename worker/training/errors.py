"""Domain errors of the training core. Each message says what to do, not just what broke."""

from __future__ import annotations

from pathlib import Path


class TrainingError(Exception):
    """Base class: a run cannot start or cannot go on, for a reason a human can act on."""


class WeightsUnavailable(TrainingError):
    """Pretrained weights are not on this machine and downloading is not allowed."""


class CheckpointMismatch(TrainingError):
    """A checkpoint's keys or shapes do not fit the chosen backbone."""


class DatasetNotFound(TrainingError):
    """The dataset's folder is missing under the data root."""


class BadImage(TrainingError):
    """An image file cannot be decoded."""


class ImageTooLarge(BadImage):
    """An image has more pixels than allowed (a decompression bomb, or simply too big)."""


class ExportMismatch(TrainingError):
    """An exported model's outputs differ from PyTorch's: the export is not offered."""


class InvalidDataset(TrainingError):
    """The data cannot satisfy the config (too few images for a subset, empty class…)."""


class DivergedLoss(TrainingError):
    """The loss became NaN or infinite."""


class OutOfMemory(TrainingError):
    """The device ran out of memory."""


class DiskFull(TrainingError):
    """A write found no space left (ENOSPC, or EDQUOT: over quota). Not a lost worker: retrying on
    the same disk fills it again, so the run fails at once with the file that did not fit.

    `path` is absolute where raised (`checkpoints.save_atomic`); `fit` names it relative to the
    data root (`disk.no_space_is_fatal`).
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        super().__init__(
            f"no space left on the device holding {path}: free space there (or keep only the last "
            "checkpoint) and resubmit the run"
        )
