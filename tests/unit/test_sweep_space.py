"""From an Optuna trial to a run config: dotted paths, stage groups, freeze_through, layer_decay, grids."""

from __future__ import annotations

import itertools
from typing import Any

import optuna
import pytest
from tiny_runs import TINY, tiny

from app.schemas.metrics import EpochRecord, EpochVerdict
from app.schemas.sweeps import SweepSpec
from app.sweeps.space import apply, overrides_for, suggest
from app.sweeps.study import create_study, first_full_epoch, report_epoch, trial_value

optuna.logging.set_verbosity(optuna.logging.WARNING)


def spec(space: dict[str, Any], **fields: Any) -> SweepSpec:
    return SweepSpec.model_validate({"base": {"config": TINY}, "space": space} | fields)


def stage_lrs(config: Any) -> dict[str, float]:
    return {name: config.stage(name).base_lr(config.optimizer.lr) for name in config.stage_names}


def test_a_dotted_path_sets_that_field() -> None:
    assert apply(tiny(), {"optimizer.weight_decay": 0.01, "schedule.name": "cosine"}).optimizer.weight_decay == 0.01


def test_a_stage_lr_replaces_its_multiplier_and_keeps_its_unfreeze_epoch() -> None:
    base = tiny(stages={"conv4": {"mult": 0.1, "unfreeze_epoch": 1}})
    conv4 = apply(base, {"stages.conv4.lr": 0.003}).stage("conv4")
    assert (conv4.lr, conv4.mult, conv4.unfreeze_epoch) == (0.003, None, 1)


def test_a_stage_group_shares_one_lr() -> None:
    made = spec({"features": {"stages": ["conv1", "conv2", "conv3"], "type": "float", "low": 1e-4, "high": 1e-2}})
    config = apply(tiny(), overrides_for({"features": 0.002}, made.space))
    assert [stage_lrs(config)[s] for s in ("conv1", "conv2", "conv3", "conv4")] == [0.002, 0.002, 0.002, 0.05]


def test_freeze_through_zeroes_that_stage_and_all_before_it() -> None:
    lrs = stage_lrs(apply(tiny(), {"freeze_through": "conv3"}))
    assert lrs == {"conv1": 0, "conv2": 0, "conv3": 0, "conv4": 0.05, "conv5": 0.05, "classifier": 0.05}


def test_freeze_through_none_changes_nothing() -> None:
    assert apply(tiny(), {"freeze_through": "none"}) == tiny()


def test_freeze_through_wins_over_a_stage_group() -> None:
    overrides = {"stages.conv1.lr": 0.01, "stages.conv2.lr": 0.01, "freeze_through": "conv1"}
    assert [stage_lrs(apply(tiny(), overrides))[s] for s in ("conv1", "conv2")] == [0, 0.01]


def test_layer_decay_multiplies_the_classifier_lr_per_stage_below_it() -> None:
    config = apply(tiny(), {"stages.classifier.lr": 0.1, "layer_decay": 0.5})
    assert stage_lrs(config) == pytest.approx(
        {"classifier": 0.1, "conv5": 0.05, "conv4": 0.025, "conv3": 0.0125, "conv2": 0.00625, "conv1": 0.003125}
    )


def test_suggest_records_the_dimension_and_returns_config_overrides() -> None:
    made = spec({"features": {"stages": ["conv1", "conv2"], "type": "float", "low": 1e-4, "high": 1e-2, "log": True},
                 "epochs": {"type": "int", "low": 1, "high": 4}})  # fmt: skip
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    overrides = suggest(trial, made.space)
    assert set(trial.params) == {"features", "epochs"}
    assert overrides == {"stages.conv1.lr": trial.params["features"], "stages.conv2.lr": trial.params["features"],
                         "epochs": trial.params["epochs"]}  # fmt: skip


def test_a_grid_sweep_yields_exactly_the_grid() -> None:
    made = spec({
        "freeze_through": {"type": "categorical", "choices": ["none", "conv2"]},
        "stages.classifier.lr": {"type": "float", "low": 0.01, "high": 0.03, "step": 0.01},
        "epochs": {"type": "int", "low": 1, "high": 3, "step": 2},
    }, sampler="grid")  # fmt: skip
    study = create_study(made, tiny(), storage=None, study_name=None)
    seen = []

    def objective(trial: optuna.Trial) -> float:
        seen.append(tuple(sorted(suggest(trial, made.space).items())))
        return 0.5

    study.optimize(objective, n_trials=made.trials)
    expected = {
        tuple(sorted({"freeze_through": f, "stages.classifier.lr": lr, "epochs": e}.items()))
        for f, lr, e in itertools.product(["none", "conv2"], [0.01, 0.02, 0.03], [1, 3])
    }
    assert made.trials == 12 and len(seen) == 12 and set(seen) == expected


def test_the_same_seed_samples_the_same_trials() -> None:
    made = spec({"optimizer.lr": {"type": "float", "low": 1e-4, "high": 1.0, "log": True}}, seed=7)

    def sample() -> list[Any]:
        study = create_study(made, tiny(), storage=None, study_name=None)
        return [study.ask().suggest_float("optimizer.lr", 1e-4, 1.0, log=True) for _ in range(3)]

    assert sample() == sample()


def record(epoch: int, val_acc: float) -> EpochRecord:
    return EpochRecord(epoch=epoch, train_loss=1.0, train_acc=0.5, val_loss=1.0, val_acc=val_acc, test_loss=None,
                       test_acc=None, lr={}, images_per_s=1.0, seconds=1.0)  # fmt: skip


def test_a_real_pruner_answers_prune_for_a_poor_epoch() -> None:
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=0.6))
    trial = study.ask()
    assert report_epoch(trial, record(0, 0.7), "val_acc") is None
    assert report_epoch(trial, record(1, 0.4), "val_acc") == EpochVerdict.PRUNE
    assert study.trials[0].intermediate_values == {1: 0.7, 2: 0.4}  # steps are epochs trained


def test_the_trial_value_is_the_best_epochs() -> None:
    assert trial_value([record(0, 0.6), record(1, 0.8), record(2, 0.7)], "val_acc") == 0.8


def test_pruners_wait_for_the_last_stage_to_unfreeze() -> None:
    assert first_full_epoch(tiny(stages={"conv1": {"lr": 0.01, "unfreeze_epoch": 2}})) == 3
    assert first_full_epoch(tiny()) == 1


def test_the_pruner_is_not_asked_after_the_last_epoch() -> None:
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.SuccessiveHalvingPruner(min_resource=1))
    leader = study.ask()
    report_epoch(leader, record(0, 0.9), "val_acc")
    trial = study.ask()
    assert report_epoch(trial, record(0, 0.1), "val_acc", epochs=1) is None  # finished: not pruned
    assert report_epoch(study.ask(), record(0, 0.1), "val_acc", epochs=2) == EpochVerdict.PRUNE
