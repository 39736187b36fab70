"""The `stagewise` command line: train on real images, plan, stages, presets, bad input."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import torchvision
from typer.testing import CliRunner

from app.cli import cli
from app.settings import get_settings

runner = CliRunner()


@pytest.fixture
def empty_data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("STAGEWISE_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def trained_on_ants_and_bees(tmp_path_factory: pytest.TempPathFactory, shared_datasets: Path) -> tuple[Path, str]:
    """`stagewise train` of Ants & Bees for one epoch on a fresh data root (no decode cache yet):
    (the run folder, its stderr)."""
    root = tmp_path_factory.mktemp("cli-train")
    (root / "data").mkdir()
    (root / "data/hymenoptera_data").symlink_to(shared_datasets / "hymenoptera_data", target_is_directory=True)
    out = root / "run"
    command = [
        sys.executable, "-m", "app.cli", "train", "ants-bees/finetune", "--out", str(out),
        "--epochs", "1", "--device", "cpu", "--set", "weights=none", "--set", "image_size=64",
    ]  # fmt: skip
    env = {**os.environ, "STAGEWISE_DATA_DIR": str(root / "data")}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    return out, done.stderr


def test_the_preparing_line_counts_decoded_images_up_to_the_total_with_a_rate_and_eta(
    trained_on_ants_and_bees: tuple[Path, str],
) -> None:
    stderr = trained_on_ants_and_bees[1]
    counts = [(int(done.replace(",", "")), int(total.replace(",", "")))
              for done, total in re.findall(r"(\d[\d,]*)/(\d[\d,]*) images", stderr)]  # fmt: skip
    assert len({total for _, total in counts}) == 1 and counts[0][0] == 0, counts
    done = [d for d, _ in counts]
    assert done == sorted(done) and done[-1] == counts[0][1] > 100  # rises to every image of the selection
    assert re.search(r"\d+/\d+ images, [\d,]+ img/s, ETA \d\d:\d\d", stderr), stderr[-2000:]


def test_train_on_real_ants_and_bees_writes_metrics_summary_and_checkpoint(
    trained_on_ants_and_bees: tuple[Path, str],
) -> None:
    out, stderr = trained_on_ants_and_bees
    # Progress from the first second (the data set being decoded included), a summary at the end.
    assert "preparing hymenoptera: reading, decoding or caching images" in stderr
    assert "finished: 1/1 epochs in" in stderr and f"files in {out}" in stderr
    (line,) = (out / "metrics.jsonl").read_text().splitlines()
    assert {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "test_acc", "lr", "images_per_s", "seconds"} <= set(json.loads(line))
    assert json.loads((out / "summary.json").read_text())["epochs_done"] == 1
    model = torchvision.models.resnet18(num_classes=2)
    model.load_state_dict(torch.load(out / "checkpoint.pt", weights_only=True)["model"])


def test_plan_needs_neither_data_nor_weights(empty_data_root: Path) -> None:
    result = runner.invoke(cli, ["plan", "cifar10-4000/model-d", "--json"])
    assert result.exit_code == 0, result.output
    stages = {s["name"]: s for s in json.loads(result.output)["stages"]}
    assert {name: s["lr"] for name, s in stages.items()} == {
        "conv1": 1e-4, "conv2": 1e-4, "conv3": 1e-4, "conv4": 1e-3, "conv5": 1e-3, "classifier": 0.1,
    }  # fmt: skip


def test_plan_takes_set_overrides(empty_data_root: Path) -> None:
    result = runner.invoke(cli, ["plan", "cifar10-4000/model-d", "--json", "--set", "stages.conv1.lr=0", "--set", "epochs=3"])
    plan = json.loads(result.output)
    assert plan["lr"]["conv1"] == [0.0, 0.0, 0.0]
    assert next(s for s in plan["stages"] if s["name"] == "conv1")["frozen"] is True


def test_plan_prints_the_warm_up_ramp_and_frozen_epochs_counted_from_1(empty_data_root: Path) -> None:
    sets = ["schedule.warmup_epochs=1", "schedule.warmup_start=0", "stages.conv1.lr=0", "stages.conv5.unfreeze_epoch=2",
            "epochs=5"]  # fmt: skip
    result = runner.invoke(cli, ["plan", "cifar10-4000/model-d", *(a for s in sets for a in ("--set", s))])
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line for line in result.output.splitlines()}
    assert "LR in epochs 1, 3, 5" in result.output
    assert rows["classifier"].split()[2:] == ["–", "0", "→", "0.0875", "|", "0.1", "|", "0.1"]  # a ramp, not 0
    assert rows["conv1"].split()[2:] == ["all", "frozen", "|", "frozen", "|", "frozen"]
    assert rows["conv5"].split()[2:] == ["1–2", "frozen", "|", "0.001", "|", "0.001"]  # trains from epoch 3


def test_stages_lists_resnet_stages_with_parameter_counts(empty_data_root: Path) -> None:
    result = runner.invoke(cli, ["stages", "resnet18", "--json"])
    stages = json.loads(result.output)["stages"]
    assert [s["name"] for s in stages] == ["conv1", "conv2", "conv3", "conv4", "conv5", "classifier"]
    assert sum(s["params"] for s in stages) == sum(p.numel() for p in torchvision.models.resnet18().parameters())


def test_presets_include_the_reference_table(empty_data_root: Path) -> None:
    names = {row["name"] for row in json.loads(runner.invoke(cli, ["presets", "--json"]).output)}
    assert {f"cifar10-4000/{m}" for m in ("model-a-lr1e-1", "model-b-lr1e-1", "model-a-lr1e-4", "model-b-lr1e-4", "model-c", "model-d")} <= names


def test_unknown_backbone_is_refused_naming_field_and_allowed_values(empty_data_root: Path) -> None:
    result = runner.invoke(cli, ["plan", "demo/digits", "--set", "backbone=resnet19"])
    assert result.exit_code == 2
    assert "backbone" in result.output and "resnet18" in result.output


def test_missing_dataset_folder_is_named_before_training(empty_data_root: Path, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["train", "ants-bees/base", "--out", str(tmp_path / "o"), "--device", "cpu"])
    assert result.exit_code == 1
    assert "hymenoptera_data" in result.output


def test_unreadable_config_file_is_reported(empty_data_root: Path, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["plan", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2 and "not found" in result.output


def test_missing_imagenet_weights_are_named_before_anything_is_read(
    empty_data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STAGEWISE_WEIGHTS_DIR", str(tmp_path / "weights"))  # downloads are off in tests
    get_settings.cache_clear()
    out = tmp_path / "o"
    result = runner.invoke(cli, ["train", "demo/digits", "--out", str(out), "--set", "weights=imagenet"])
    assert result.exit_code == 2, result.output
    assert "weights: ImageNet weights of resnet18" in result.output
    assert "put resnet18-f37072fd.pth" in result.output and str(tmp_path / "weights") in result.output
    assert not out.exists()
