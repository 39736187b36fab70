"""How often the test split is evaluated: `test_every: auto` keeps its cost within a quarter of an epoch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiny_runs import runtime, tiny

from app.presets import resolve_config
from app.schemas.train_config import TrainConfig
from worker.training.eval_cadence import AUTO_TEST_SHARE, TRAIN_COST, interval_for_test_split
from worker.training.loop import fit


@pytest.mark.parametrize(
    ("sizes", "interval"),
    [
        ({"train": 600, "val": 200, "test": 200}, 1),  # digits' 60/20/20: cheap, every epoch
        ({"train": 3000, "val": 1000, "test": 10_000}, 3),  # CIFAR-10-4000's 10k test images
        ({"train": 91, "val": 91, "test": 8962}, 74),  # Caltech-101 at 1/1/98 (issue 14)
        ({"train": 100, "val": 10, "test": 0}, 1),
    ],
)
def test_auto_interval_for_known_splits(sizes: dict[str, int], interval: int) -> None:
    assert interval_for_test_split("auto", **sizes) == interval


@pytest.mark.parametrize("test", [1, 50, 333, 1000, 4321, 100_000])
def test_auto_keeps_the_average_test_share_within_the_bound_and_is_the_smallest_that_does(test: int) -> None:
    train, val = 100, 30
    rest = TRAIN_COST * train + val

    def share(k: int) -> float:
        return (test / k) / (rest + test / k)

    k = interval_for_test_split("auto", train=train, val=val, test=test)
    assert share(k) <= AUTO_TEST_SHARE + 1e-12
    assert k == 1 or share(k - 1) > AUTO_TEST_SHARE


def test_a_number_is_taken_as_given() -> None:
    assert interval_for_test_split(5, train=1, val=1, test=10**6) == 5


def test_auto_is_the_default_and_the_reference_presets_test_every_epoch() -> None:
    assert TrainConfig.model_validate({}).test_every == "auto"
    assert resolve_config("cifar10-4000/model-d").test_every == 1


def test_a_run_whose_test_split_dominates_skips_it_until_the_last_epoch(tmp_path: Path) -> None:
    # 48 images at 1/1/98 %: 1 train, 1 val, 46 test: auto tests only the last epoch.
    config = tiny(**{"dataset.num_images": 48, "dataset.fractions": [0.03, 0.03, 0.94], "epochs": 3})
    result = fit(config, runtime(tmp_path))
    assert [r.test_acc is not None for r in result.records] == [False, False, True]
    assert result.summary.test_acc_at_best_val is not None  # best.pt is tested at the end
    assert "every" in json.loads((tmp_path / "out" / "fast_path.json").read_text())["test_split"]


def test_per_epoch_test_stays_one_setting_away(tmp_path: Path) -> None:
    config = tiny(**{"dataset.num_images": 48, "dataset.fractions": [0.03, 0.03, 0.94], "epochs": 2, "test_every": 1})
    assert all(r.test_acc is not None for r in fit(config, runtime(tmp_path)).records)
