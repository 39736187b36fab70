"""The training loop: files it writes, resume, stop, divergence, LRs, frozen stages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
import torchvision
from tiny_runs import runtime, tiny

from app.schemas.metrics import EpochRecord
from worker.training.errors import DivergedLoss
from worker.training.loop import fit
from worker.training.schedules import lr_table


class Crash(Exception):
    """Stands for the process dying right after an epoch was reported."""


def _comparable(record: EpochRecord) -> dict[str, Any]:
    numbers = record.model_dump(exclude={"images_per_s", "seconds", "lr"})
    return numbers | {f"lr.{stage}": lr for stage, lr in record.lr.items()}


def test_fit_writes_metrics_summary_and_checkpoint(tmp_path: Path) -> None:
    fit(tiny(), runtime(tmp_path))
    lines = [json.loads(line) for line in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert [line["epoch"] for line in lines] == [0, 1, 2]
    assert {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "test_acc", "lr", "images_per_s", "seconds"} <= set(lines[0])
    assert {"best_val_acc", "best_epoch", "test_acc_at_best_val", "final_train_acc", "final_test_acc"} <= set(summary)
    assert all(0.0 <= line["train_acc"] <= 1.0 for line in lines)


def test_checkpoint_loads_into_plain_torchvision_model(tmp_path: Path) -> None:
    fit(tiny(epochs=1), runtime(tmp_path))
    checkpoint = torch.load(tmp_path / "out" / "checkpoint.pt", weights_only=True)
    model = torchvision.models.resnet18(num_classes=2)
    model.load_state_dict(checkpoint["model"])  # strict: every key matches


def test_tiny_model_learns_the_fake_patterns(tmp_path: Path) -> None:
    result = fit(tiny(epochs=4, **{"dataset.num_images": 64}), runtime(tmp_path))
    assert result.records[-1].train_acc > 0.75


def test_resume_after_a_crash_gives_the_same_next_epoch(tmp_path: Path) -> None:
    config = tiny()
    straight = fit(config, runtime(tmp_path, "straight")).records

    def crash_after_second_epoch(record: EpochRecord) -> None:
        if record.epoch == 1:
            raise Crash

    with pytest.raises(Crash):
        fit(config, runtime(tmp_path, "crashed"), on_epoch=crash_after_second_epoch)
    reported: list[EpochRecord] = []
    resumed = fit(config, runtime(tmp_path, "crashed"), on_epoch=reported.append)
    assert [r.epoch for r in reported] == [1, 2]  # epoch 1 was never checkpointed: it runs again
    for mine, theirs in zip(resumed.records, straight, strict=True):
        assert _comparable(mine) == pytest.approx(_comparable(theirs), rel=1e-5)


def test_resumed_run_rewrites_metrics_without_duplicate_epochs(tmp_path: Path) -> None:
    config = tiny()

    def crash(record: EpochRecord) -> None:
        if record.epoch == 1:
            raise Crash

    with pytest.raises(Crash):
        fit(config, runtime(tmp_path), on_epoch=crash)
    fit(config, runtime(tmp_path))
    epochs = [json.loads(line)["epoch"] for line in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [0, 1, 2]


def test_checkpoint_of_another_config_is_not_resumed(tmp_path: Path) -> None:
    fit(tiny(epochs=1), runtime(tmp_path))
    with pytest.raises(Exception, match="different config"):
        fit(tiny(epochs=1, seed=5), runtime(tmp_path))


def test_should_stop_ends_the_run_between_steps(tmp_path: Path) -> None:
    calls = {"n": 0}

    def stop_after_three_steps() -> bool:
        calls["n"] += 1
        return calls["n"] > 3  # 16 train images, batch 8: 2 steps per epoch, so inside the second

    result = fit(tiny(), runtime(tmp_path), should_stop=stop_after_three_steps)
    assert [r.epoch for r in result.records] == [0]
    assert result.summary.stopped and result.summary.stop_reason == "cancelled"


def test_diverging_loss_stops_with_a_reason(tmp_path: Path) -> None:
    with pytest.raises(DivergedLoss, match="lower the learning rates"):
        fit(tiny(stages={"classifier": 1e6, "conv5": 1e6}), runtime(tmp_path))


def test_optimizer_lrs_follow_the_schedule_function(tmp_path: Path) -> None:
    config = tiny(
        epochs=4,
        schedule={"name": "cosine", "warmup_epochs": 1, "warmup_start": 0.1},
        stages={"conv1": 0.0, "conv2": {"mult": 0.1, "unfreeze_epoch": 2}, "classifier": 0.2},
    )
    records = fit(config, runtime(tmp_path)).records
    expected = lr_table(config, steps_per_epoch=4)
    for record in records:
        actual = {stage: record.lr[stage] for stage in config.stage_names}
        assert actual == pytest.approx({s: expected[s][record.epoch] for s in config.stage_names})


def test_frozen_stages_stay_bit_identical_while_others_train(tmp_path: Path) -> None:
    torch.manual_seed(0)
    initial = torchvision.models.resnet18(num_classes=2).state_dict()
    torch.save({"model": initial}, tmp_path / "init.pt")
    config = tiny(epochs=2, weights="init.pt", stages={"conv1": 0, "conv2": 0})
    fit(config, runtime(tmp_path))
    trained = torch.load(tmp_path / "out" / "checkpoint.pt", weights_only=True)["model"]
    for key in ("conv1.weight", "bn1.running_mean", "layer1.0.conv1.weight", "layer1.1.bn2.running_var"):
        assert torch.equal(trained[key], initial[key]), key
    assert not torch.equal(trained["layer4.1.conv2.weight"], initial["layer4.1.conv2.weight"])


def test_test_report_holds_the_best_models_confusion_matrix(tmp_path: Path) -> None:
    result = fit(tiny(), runtime(tmp_path))
    report = result.test_report
    assert report is not None and report.model == "best" and report.epoch == result.summary.best_epoch
    assert sum(map(sum, report.confusion)) == 8  # 32 fake images, a quarter of them in test
    diagonal = sum(report.confusion[i][i] for i in range(2))
    assert report.accuracy == diagonal / 8 == result.summary.test_acc_at_best_val
    saved = json.loads((tmp_path / "out" / "test_report.json").read_text())
    assert saved["confusion"] == report.confusion
