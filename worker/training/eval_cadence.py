"""How often a run evaluates its test split: every `test_every` epochs, or `auto` within a cost bound.

The test split is for reporting, not for choosing (the best epoch is chosen on val), so its
per-epoch curve is a convenience whose cost must stay small: with Caltech-101's 1/1/98 split,
testing every epoch was ~98 % of each epoch's work. `auto` evaluates it every k epochs, with
the smallest k that keeps its average share of an epoch's work at or under `AUTO_TEST_SHARE`.
The last epoch is always tested, and the run's test report evaluates `best.pt` at the end,
so the best-val checkpoint always has its test accuracy whatever the cadence.

The cost model counts images: an evaluated image costs one forward pass, a trained one
about three (forward, and a backward twice its cost). It is known before the first epoch,
so the cadence is fixed for the run and the same on every machine and after a resume.
"""

from __future__ import annotations

import math
from typing import Literal

AUTO_TEST_SHARE = 0.25
TRAIN_COST = 3.0  # a trained image ≈ 3 evaluated ones (forward + backward)


def interval_for_test_split(test_every: int | Literal["auto"], *, train: int, val: int, test: int) -> int:
    """Evaluate the test split after every `k`-th epoch (and the last); `k` for this run's split sizes."""
    if test_every != "auto":
        return test_every
    rest = TRAIN_COST * train + val  # one epoch's work without the test split
    if test == 0 or rest == 0:
        return 1
    # (test / k) / (rest + test / k) <= share  ⇔  k >= test · (1 - share) / (share · rest)
    return max(1, math.ceil(test * (1 - AUTO_TEST_SHARE) / (AUTO_TEST_SHARE * rest) - 1e-9))


def describe(interval: int, test_every: int | Literal["auto"]) -> str:
    """For the Run page and the log: "every epoch (auto)", "every 4 epochs and the last (auto)"."""
    how = "every epoch" if interval == 1 else f"every {interval} epochs and the last"
    return f"{how} (auto: ≤ {AUTO_TEST_SHARE:.0%} of an epoch)" if test_every == "auto" else how
