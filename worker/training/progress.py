"""Progress of a run: a bar with ETA on stderr (tqdm) and reports to a listener (the worker's heartbeat).

The listener gets a `RunProgress` after every step; it must be cheap (the worker only keeps
the latest, and its heartbeat thread writes it every few seconds: never a write per step).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tqdm import tqdm

from app.schemas.metrics import EpochRecord, RunProgress

OnProgress = Callable[[RunProgress], None]


class Progress:
    """Counts training steps across all epochs, so the ETA covers the whole run."""

    def __init__(
        self, epochs: int, steps_per_epoch: int, *, enabled: bool, listener: OnProgress | None = None
    ) -> None:
        self.epochs = epochs
        self._bar = tqdm(
            total=epochs * steps_per_epoch, disable=not enabled, file=sys.stderr,
            unit="step", dynamic_ncols=True, desc=f"epoch 1/{epochs}",
        )  # fmt: skip
        self._steps_per_epoch = steps_per_epoch
        self._listener = listener
        self._done = 0  # steps of the whole run done, resumed epochs included
        self._start: tuple[float, int] | None = None  # (when, steps done) at this attempt's first step
        self._images = 0  # images trained on by this attempt
        self._epoch_steps = 0

    def skip(self, epochs_done: int) -> None:
        """Account for epochs already done by a resumed run."""
        self._bar.update(epochs_done * self._steps_per_epoch)
        self._bar.set_description(f"epoch {epochs_done + 1}/{self.epochs}")
        self._done = epochs_done * self._steps_per_epoch

    def epoch_started(self, epoch: int) -> None:
        """Epoch `epoch` (0-based) begins: its step count restarts, the listener hears of it at once."""
        self._epoch_steps = 0
        if self._start is None:
            self._start = (time.monotonic(), self._done)
        self._report(epoch)

    def step(self, epoch: int, *, loss: float | None, images: int = 0) -> None:
        """One training step of `epoch` (0-based) finished on `images` images; `loss`: the latest running mean read."""
        self._bar.set_description(f"epoch {epoch + 1}/{self.epochs}", refresh=False)
        if loss is not None:
            self._bar.set_postfix(loss=f"{loss:.3f}", refresh=False)
        self._bar.update(1)
        self._done += 1
        self._epoch_steps += 1
        self._images += images
        self._report(epoch)

    def _report(self, epoch: int) -> None:
        if self._listener is None:
            return
        pace = self._pace()
        self._listener(RunProgress(
            epoch=epoch, step=self._epoch_steps, steps=self._steps_per_epoch,
            images_per_s=pace[0] if pace else None, eta_s=pace[1] if pace else None,
        ))  # fmt: skip

    def _pace(self) -> tuple[float, float] | None:
        """(images per second, seconds left for the run) from this attempt's steps so far."""
        if self._start is None:
            return None
        elapsed, steps = time.monotonic() - self._start[0], self._done - self._start[1]
        if steps == 0 or elapsed <= 0:
            return None
        left = self.epochs * self._steps_per_epoch - self._done
        return self._images / elapsed, left * elapsed / steps

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


class Preparing:
    """The "preparing" line: what is being done, the time since it started and, while images
    are decoded, how many of how many, at what rate and how long is left."""

    def __init__(self, bar: tqdm, what: str) -> None:
        self._bar, self._what = bar, what
        self._started: float | None = None  # when decoding began

    def images(self, done: int, total: int) -> None:
        """`done` of `total` images decoded (called after each one: cheap; drawn once a second,
        and at once for the first and the last)."""
        now = time.monotonic()
        if self._started is None or done == 0:
            self._started = now
        elapsed = now - self._started
        text = f"{self._what} — {done:,}/{total:,} images"
        if done and elapsed > 0:
            rate = done / elapsed
            text += f", {rate:,.0f} img/s, ETA {tqdm.format_interval((total - done) / rate)}"
        self._bar.set_description_str(text, refresh=done in (0, total))


@contextmanager
def preparing(what: str, *, enabled: bool) -> Iterator[Preparing]:
    """A line on stderr whose clock ticks every second while data is found, decoded or cached
    and the model built, so a long start is not silence; decoding adds its count and ETA."""
    bar = tqdm(total=None, disable=not enabled, file=sys.stderr, bar_format="{desc} {elapsed}", desc=what)
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(1.0):
            bar.refresh()

    ticker = threading.Thread(target=tick, name="preparing-clock", daemon=True)
    if enabled:
        ticker.start()
    try:
        yield Preparing(bar, what)
    finally:
        stop.set()
        if enabled:
            ticker.join()
        bar.close()
