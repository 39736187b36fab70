"""A progress bar with ETA over the whole run, on stderr (tqdm)."""

from __future__ import annotations

import sys

from tqdm import tqdm

from app.schemas.metrics import EpochRecord


class Progress:
    """Counts training steps across all epochs, so tqdm's ETA covers the whole run."""

    def __init__(self, epochs: int, steps_per_epoch: int, *, enabled: bool) -> None:
        self.epochs = epochs
        self._bar = tqdm(
            total=epochs * steps_per_epoch, disable=not enabled, file=sys.stderr,
            unit="step", dynamic_ncols=True, desc=f"epoch 1/{epochs}",
        )  # fmt: skip
        self._steps_per_epoch = steps_per_epoch

    def skip(self, epochs_done: int) -> None:
        """Account for epochs already done by a resumed run."""
        self._bar.update(epochs_done * self._steps_per_epoch)
        self._bar.set_description(f"epoch {epochs_done + 1}/{self.epochs}")

    def step(self, epoch: int, *, loss: float | None) -> None:
        """One training step of `epoch` (0-based) finished; `loss`: the latest running mean read (None: none yet)."""
        self._bar.set_description(f"epoch {epoch + 1}/{self.epochs}", refresh=False)
        if loss is not None:
            self._bar.set_postfix(loss=f"{loss:.3f}", refresh=False)
        self._bar.update(1)

    def epoch_done(self, record: EpochRecord) -> None:
        """Print the finished epoch's numbers above the bar."""
        parts = [f"epoch {record.epoch + 1}/{self.epochs}", f"train_acc {record.train_acc:.4f}"]
        if record.val_acc is not None:
            parts.append(f"val_acc {record.val_acc:.4f}")
        if record.test_acc is not None:
            parts.append(f"test_acc {record.test_acc:.4f}")
        parts.append(f"{record.images_per_s:.0f} img/s")
        if not self._bar.disable:
            self._bar.write("  ".join(parts), file=sys.stderr)

    def close(self) -> None:
        self._bar.close()
