"""Which images go to train, val and test: seeded, stratified, identical on every machine.

Every random choice here is a *hash ordering*: an image's rank is the SHA-256 of
(purpose, seed, position). NumPy's `Generator` methods carry no cross-version stream
guarantee and Python's `hash()` is salted per process, so neither could promise that a
split stored with a run is reproduced on another host years later; SHA-256 can.
A side effect worth having: subsets are nested (for one seed, CIFAR-10-4000's images
are among CIFAR-10-8000's), and a class's order does not depend on other classes.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from worker.training.errors import InvalidDataset


@dataclass(frozen=True)
class SplitIndices:
    """Positions (in a dataset's documented pool order) of each split, ascending."""

    train: list[int]
    val: list[int]
    test: list[int]


def _ranked(positions: Sequence[int], seed: int, purpose: str) -> list[int]:
    """`positions` in a seeded pseudo-random order that any machine reproduces."""

    def rank(position: int) -> bytes:
        return hashlib.sha256(f"{purpose}:{seed}:{position}".encode()).digest()

    return sorted(positions, key=rank)


def _by_class(labels: Sequence[int], positions: Sequence[int]) -> dict[int, list[int]]:
    groups: dict[int, list[int]] = defaultdict(list)
    for position in positions:
        groups[int(labels[position])].append(position)
    return groups


def _class_sizes(n: int, fractions: tuple[float, float, float]) -> list[int]:
    """Split `n` images of one class into (train, val, test) counts.

    Largest-remainder rounding over (train, val, test, unused) keeps every count within
    one image of its quota and uses all images when the fractions sum to 1. A class
    with any image gets at least one training image, or it could never be learned.
    """
    unused = max(0.0, 1.0 - sum(fractions))
    # Rounding to 9 decimals stops 0.29 * 100 = 28.999… from losing an image to float error.
    quotas = [round(f * n, 9) for f in (*fractions, unused)]
    sizes = [math.floor(q) for q in quotas]
    by_remainder = sorted(range(4), key=lambda i: sizes[i] - quotas[i])  # stable: train first on ties
    for i in by_remainder[: max(0, n - sum(sizes))]:
        sizes[i] += 1
    if n > 0 and sizes[0] == 0 and fractions[0] > 0:
        donor = 3 if sizes[3] > 0 else max((2, 1), key=lambda i: sizes[i])
        sizes[donor] -= 1
        sizes[0] += 1
    return sizes[:3]


def stratified_split(labels: Sequence[int], fractions: tuple[float, float, float], seed: int) -> SplitIndices:
    """Split positions 0..len(labels)-1 into train/val/test, class by class.

    Args:
        labels: the class of each image, in the dataset's pool order.
        fractions: (train, val, test) shares, summing to at most 1; any rest is left out.
        seed: the split seed; the same seed gives the same split on every machine.

    Returns:
        Disjoint, ascending position lists whose per-class sizes are within one image
        of each fraction (a class with images always gets at least one train image).
    """
    split: tuple[list[int], list[int], list[int]] = ([], [], [])
    for positions in _by_class(labels, range(len(labels))).values():
        ranked = _ranked(positions, seed, "split")
        start = 0
        for part, size in zip(split, _class_sizes(len(ranked), fractions)):
            part.extend(ranked[start : start + size])
            start += size
    return SplitIndices(*(sorted(part) for part in split))


def balanced_subset(
    labels: Sequence[int], indices: Sequence[int], total: int, seed: int, *, field: str = "subset size"
) -> list[int]:
    """Pick `total` of `indices` with the same number of images from every class.

    Each of the k classes present in `labels` gets total // k images; the remainder
    goes one each to the lowest class ids. Picks follow a seeded hash order, so a
    smaller subset is contained in a larger one with the same seed.

    Args:
        labels: the class of every position in the pool (not just of `indices`).
        indices: the positions to choose from.
        total: how many to pick.
        seed: the split seed.
        field: the config field asking for the subset, named in errors.

    Raises:
        InvalidDataset: a class has fewer images among `indices` than it needs.
    """
    classes = sorted({int(label) for label in labels})
    groups = _by_class(labels, indices)
    per_class, extra = divmod(total, len(classes))
    chosen: list[int] = []
    for rank, label in enumerate(classes):
        wanted = per_class + (1 if rank < extra else 0)
        have = groups.get(label, [])
        if len(have) < wanted:
            raise InvalidDataset(
                f"{field} = {total} needs {wanted} images of class {label}, but only {len(have)} are "
                f"available ({len(indices)} images in all, {len(classes)} classes); lower {field}"
            )
        chosen.extend(_ranked(have, seed, "subset")[:wanted])
    return sorted(chosen)


def split_hash(split: SplitIndices) -> str:
    """A short hex fingerprint of the split, stored with a run to prove which images it used."""
    payload = json.dumps({"train": split.train, "val": split.val, "test": split.test}, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:16]
