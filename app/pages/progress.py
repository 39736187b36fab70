"""How far along a run is and when it will finish: pure functions for the Runs and Run pages."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime


def fraction_done(epochs_done: int, epochs: int) -> float:
    """Finished epochs as a fraction in [0, 1]."""
    return 0.0 if epochs <= 0 else min(max(epochs_done / epochs, 0.0), 1.0)


def eta_from_epochs(epochs: int, epoch_seconds: Sequence[float]) -> float | None:
    """Seconds left at the mean pace of the epochs recorded so far (None before the first).

    Uses the epochs' own timings, so it ignores start-up (data loading, model build) and
    a worker's clock that differs from the browser's.
    """
    if not epoch_seconds:
        return None
    remaining = max(epochs - len(epoch_seconds), 0)
    return remaining * sum(epoch_seconds) / len(epoch_seconds)


def eta_from_elapsed(epochs: int, epochs_done: int, started_at: datetime | None, now: datetime) -> float | None:
    """Seconds left at the pace since the run started (None before the first epoch).

    The Runs page uses this one: it needs no per-epoch rows, so a page of 50 runs reads
    no metrics at all.
    """
    if started_at is None or epochs_done <= 0:
        return None
    elapsed = max((now - started_at).total_seconds(), 0.0)
    return max(epochs - epochs_done, 0) * elapsed / epochs_done


def run_duration(started_at: datetime | None, finished_at: datetime | None, now: datetime) -> float | None:
    """Seconds a run has been (or was) running; None if it never started."""
    if started_at is None:
        return None
    return max(((finished_at or now) - started_at).total_seconds(), 0.0)
