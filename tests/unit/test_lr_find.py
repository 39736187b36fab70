"""The LR range test: an exponential sweep of the base LR with the stage ratios kept, a
suggestion from the smoothed loss, the model and optimizer put back, and the CLI's files."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from PIL import Image
from tiny_runs import runtime, tiny
from typer.testing import CliRunner

from app.cli import cli
from app.settings import get_settings
from worker.training.backbones import build_model
from worker.training.datasets import load_data
from worker.training.lr_find import (
    Batch,
    exponential_lrs,
    find_lr,
    finding,
    range_test,
    smooth,
    stage_ratios,
    steepest,
    training_batches,
    valley,
)
from worker.training.param_groups import apply_freezing, build_optimizer

# Flat, then falling from index 10 to 30, then exploding.
CURVE = [2.0] * 10 + [2.0 - 0.05 * i for i in range(1, 21)] + [1.0 + 0.5 * i for i in range(1, 10)]


def test_lrs_grow_exponentially_from_start_to_end() -> None:
    lrs = exponential_lrs(1e-6, 1.0, 7)
    assert lrs[0] == 1e-6 and lrs[-1] == pytest.approx(1.0)
    assert [math.log10(lr) for lr in lrs] == pytest.approx([-6, -5, -4, -3, -2, -1, 0])


def test_smoothing_is_debiased() -> None:
    assert smooth([3.0, 3.0, 3.0]) == pytest.approx([3.0, 3.0, 3.0])


def test_the_valley_lies_on_the_fall_before_the_bottom() -> None:
    index = valley(CURVE)
    assert index is not None and 10 <= index < 29


def test_the_steepest_descent_is_found_on_the_fall() -> None:
    lrs = exponential_lrs(1e-7, 10, len(CURVE))
    assert 9 <= (steepest(lrs, CURVE) or -1) < 30


def test_suggestions_come_from_before_the_minimum_even_if_the_loss_falls_back_after_blowing_up() -> None:
    # Seen on the digits demo: after the explosion the loss fell back, and the steepest
    # descent over the whole curve was that fall (at LR 1.5, beside a minimum at 0.05).
    blown = CURVE + [20.0] * 5 + [20.0 - 3 * i for i in range(1, 6)]
    lrs = exponential_lrs(1e-7, 10, len(blown))
    found = finding(lrs, blown, {"classifier": 1.0}, diverged=False)
    lowest = lrs[29]  # where the raw curve bottoms out
    assert found.suggestion is not None and found.suggestion < lowest
    assert found.steepest is not None and lrs[9] <= found.steepest <= lowest


def test_a_loss_that_never_falls_gets_no_suggestion() -> None:
    rising = [1.0 + i for i in range(20)]
    assert valley(rising) is None and steepest(exponential_lrs(1e-3, 1, 20), rising) is None


def tiny_setup(tmp_path: Path, **overrides: object) -> tuple[torch.nn.Module, torch.optim.Optimizer, Iterator[Batch], dict]:
    config = tiny(**overrides)
    data = load_data(config.dataset, tmp_path, 32)
    torch.manual_seed(0)
    model = build_model(config, len(data.class_names), data_root=tmp_path)
    model.train()
    apply_freezing(model, config, 0)
    return model, build_optimizer(model, config), training_batches(config, data.train, 32, torch.device("cpu")), stage_ratios(config)


def test_the_model_and_optimizer_are_restored(tmp_path: Path) -> None:
    model, optimizer, batches, ratios = tiny_setup(tmp_path)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    lrs_before = [group["lr"] for group in optimizer.param_groups]
    range_test(model, optimizer, batches, exponential_lrs(1e-4, 1.0, 8), ratios)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # weights and BatchNorm statistics
    assert [group["lr"] for group in optimizer.param_groups] == lrs_before
    assert optimizer.state_dict()["state"] == {}  # no momentum left over from the test


def recording(batches: Iterator[Batch], optimizer: torch.optim.Optimizer, seen: list[dict[str, float]]) -> Iterator[Batch]:
    """The batches, noting each param group's LR as the next one is drawn (the previous step's LRs)."""
    for batch in batches:
        seen.append({group["stage"]: group["lr"] for group in optimizer.param_groups})
        yield batch


def test_stage_ratios_are_kept_and_frozen_stages_stay_frozen(tmp_path: Path) -> None:
    stages = {"conv1": 0, "conv2": {"mult": 0.1}, "conv3": {"lr": 0.05, "unfreeze_epoch": 1}, "classifier": 0.5}
    model, optimizer, batches, ratios = tiny_setup(tmp_path, stages=stages)
    seen: list[dict[str, float]] = []
    lrs = exponential_lrs(1e-4, 1e-1, 5)
    taken, _, _ = range_test(model, optimizer, recording(batches, optimizer, seen), lrs, ratios)
    for lr, step in zip(taken, seen[1:], strict=False):
        assert "conv1" not in step  # never trained: not in the optimizer at all
        assert step["conv3"] == 0.0  # frozen until epoch 1
        assert (step["conv2"], step["conv4"], step["classifier"]) == pytest.approx((0.1 * lr, lr, 10 * lr))


def test_find_lr_on_a_tiny_model_suggests_a_base_lr(tmp_path: Path) -> None:
    found = find_lr(tiny(**{"dataset.num_images": 64}), runtime(tmp_path), start=1e-4, end=10.0, steps=25)
    assert found.diverged  # SGD at LR 10 explodes
    assert found.suggestion is not None and 1e-4 <= found.suggestion <= found.lrs[-1]
    assert found.stage_lrs(found.suggestion)["classifier"] == pytest.approx(found.suggestion)


def test_cli_prints_the_suggestion_and_writes_csv_and_png(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STAGEWISE_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    config = tmp_path / "tiny.yaml"
    config.write_text(tiny(**{"dataset.num_images": 64}).model_dump_json())
    out = tmp_path / "found"
    result = CliRunner().invoke(cli, ["lr-find", str(config), "--out", str(out), "--device", "cpu",
                                      "--start", "1e-4", "--steps", "15"])  # fmt: skip
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "suggested base LR (valley)" in result.output
    rows = list(csv.DictReader((out / "lr_find.csv").open()))
    assert rows[0].keys() == {"step", "base_lr", "loss", "smoothed_loss"} and 2 <= len(rows) <= 15
    assert Image.open(out / "lr_find.png").size == (800, 480)
