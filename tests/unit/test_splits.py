"""Splits: seeded, stratified, disjoint, class-balanced, and the same on every machine."""

from __future__ import annotations

from collections import Counter

import pytest

from worker.training.errors import InvalidDataset
from worker.training.splits import (
    SplitIndices,
    balanced_subset,
    split_hash,
    stratified_split,
)

# Three unequal classes, interleaved the way a sorted folder listing never would be.
LABELS = [position % 3 if position < 51 else 0 for position in range(100)]
FRACTIONS = (0.6, 0.2, 0.2)


def _class_counts(positions: list[int]) -> Counter[int]:
    return Counter(LABELS[p] for p in positions)


def test_the_same_seed_gives_the_same_split() -> None:
    assert stratified_split(LABELS, FRACTIONS, seed=3) == stratified_split(LABELS, FRACTIONS, seed=3)


def test_another_seed_gives_another_split() -> None:
    assert stratified_split(LABELS, FRACTIONS, seed=3).train != stratified_split(LABELS, FRACTIONS, seed=4).train


def test_each_class_is_split_within_one_image_of_its_fractions() -> None:
    split = stratified_split(LABELS, FRACTIONS, seed=0)
    in_class = Counter(LABELS)
    for part, fraction in zip((split.train, split.val, split.test), FRACTIONS):
        for label, count in _class_counts(part).items():
            assert abs(count - fraction * in_class[label]) < 1, (label, count)


def test_train_val_and_test_are_disjoint() -> None:
    split = stratified_split(LABELS, FRACTIONS, seed=0)
    assert not set(split.train) & set(split.val)
    assert not set(split.train) & set(split.test)
    assert not set(split.val) & set(split.test)


def test_fractions_summing_to_one_use_every_image() -> None:
    split = stratified_split(LABELS, FRACTIONS, seed=0)
    assert sorted(split.train + split.val + split.test) == list(range(len(LABELS)))


def test_fractions_below_one_leave_the_rest_out() -> None:
    split = stratified_split(LABELS, (0.3, 0.1, 0.1), seed=0)
    used = _class_counts(split.train + split.val + split.test)
    for label, count in Counter(LABELS).items():
        assert abs(used[label] - count / 2) < 1, (label, used[label])


def test_a_class_too_small_for_its_fraction_still_gets_a_training_image() -> None:
    labels = [0] * 98 + [1, 1]
    split = stratified_split(labels, (0.01, 0.01, 0.98), seed=0)
    assert 1 in {labels[p] for p in split.train}


def test_balanced_subset_takes_the_same_number_from_every_class() -> None:
    subset = balanced_subset(LABELS, range(len(LABELS)), 30, seed=0)
    assert _class_counts(subset) == {0: 10, 1: 10, 2: 10}


def test_balanced_subset_gives_the_remainder_one_each_to_the_lowest_classes() -> None:
    subset = balanced_subset(LABELS, range(len(LABELS)), 32, seed=0)
    assert _class_counts(subset) == {0: 11, 1: 11, 2: 10}


def test_balanced_subset_picks_only_among_the_given_indices() -> None:
    allowed = range(0, 100, 2)
    assert set(balanced_subset(LABELS, allowed, 12, seed=0)) <= set(allowed)


def test_a_smaller_subset_is_part_of_a_larger_one_with_the_same_seed() -> None:
    small = balanced_subset(LABELS, range(len(LABELS)), 9, seed=5)
    large = balanced_subset(LABELS, range(len(LABELS)), 30, seed=5)
    assert set(small) <= set(large)


def test_balanced_subset_refuses_a_class_without_enough_images_naming_the_field() -> None:
    with pytest.raises(InvalidDataset, match=r"dataset\.train_size = 60 .* only 17 are available"):
        balanced_subset(LABELS, range(len(LABELS)), 60, seed=0, field="dataset.train_size")


def test_split_hash_changes_with_the_split() -> None:
    assert split_hash(SplitIndices([0, 1], [2], [3])) != split_hash(SplitIndices([0, 2], [1], [3]))


def test_a_seeded_split_has_the_same_hash_on_every_machine() -> None:
    # Recorded once: a different value means runs stored elsewhere no longer reproduce.
    assert split_hash(stratified_split(LABELS, FRACTIONS, seed=7)) == "4d15c0bf599c4895"
