"""A pruned run: `on_epoch` answers PRUNE, the loop ends after that epoch with its curves and
checkpoint kept, says so in its summary, and stays stopped when resumed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import optuna
import torch
from tiny_runs import runtime, tiny

from app.schemas.metrics import EpochRecord, EpochVerdict
from app.sweeps.study import pruning_callback
from worker.training.loop import fit


def prune_at(epoch: int) -> Callable[[EpochRecord], EpochVerdict | None]:
    def on_epoch(record: EpochRecord) -> EpochVerdict | None:
        return EpochVerdict.PRUNE if record.epoch == epoch else None

    return on_epoch


def test_a_pruned_run_ends_after_that_epoch_and_says_so(tmp_path: Path) -> None:
    result = fit(tiny(epochs=4), runtime(tmp_path), on_epoch=prune_at(1))
    assert [r.epoch for r in result.records] == [0, 1]
    assert (result.summary.stopped, result.summary.stop_reason, result.summary.pruned_epoch) == (True, "pruned", 1)
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["pruned_epoch"] == 1


def test_a_pruned_run_keeps_its_curves_and_checkpoint(tmp_path: Path) -> None:
    fit(tiny(epochs=4), runtime(tmp_path), on_epoch=prune_at(1))
    out = tmp_path / "out"
    epochs = [json.loads(line)["epoch"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    checkpoint = torch.load(out / "checkpoint.pt", weights_only=True)
    assert epochs == [0, 1]
    assert (checkpoint["epoch"], checkpoint["pruned_epoch"]) == (2, 1)
    assert (out / "best.pt").exists() and (out / "test_report.json").exists()


def test_a_resumed_pruned_run_trains_no_further(tmp_path: Path) -> None:
    fit(tiny(epochs=4), runtime(tmp_path), on_epoch=prune_at(0))
    reported: list[EpochRecord] = []
    again = fit(tiny(epochs=4), runtime(tmp_path), on_epoch=reported.append)
    assert reported == [] and len(again.records) == 1 and again.summary.stop_reason == "pruned"


def test_a_run_nobody_prunes_is_not_marked_pruned(tmp_path: Path) -> None:
    summary = fit(tiny(epochs=2), runtime(tmp_path), on_epoch=lambda record: None).summary
    assert (summary.stopped, summary.stop_reason, summary.pruned_epoch) == (False, None, None)


def test_an_optuna_trial_prunes_a_real_run_at_the_epoch_its_pruner_chooses(tmp_path: Path) -> None:
    # No run reaches a validation accuracy above 1: the threshold pruner stops it after its first epoch.
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=1.01))
    trial = study.ask()
    result = fit(tiny(epochs=3), runtime(tmp_path), on_epoch=pruning_callback(trial, "val_acc"))
    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    assert result.summary.pruned_epoch == 0
    assert list(study.trials[0].intermediate_values) == [1]
