"""The plan of a run, computed from its config alone."""

from __future__ import annotations

import pytest

from app.presets import resolve_config
from worker.training.plan import make_plan


def test_model_d_plan_has_the_reference_stage_lrs_with_nothing_frozen() -> None:
    plan = make_plan(resolve_config("cifar10-4000/model-d"), 10)

    lrs = {s.name: s.lr for s in plan.stages}
    assert lrs == {"conv1": 1e-4, "conv2": 1e-4, "conv3": 1e-4, "conv4": 1e-3, "conv5": 1e-3, "classifier": 0.1}
    assert not any(s.frozen for s in plan.stages)


def test_stage_params_sum_to_the_total_and_all_train() -> None:
    plan = make_plan(resolve_config("cifar10-4000/model-d"), 10)

    assert sum(s.params for s in plan.stages) == plan.total_params == plan.trainable_params
    assert plan.stages[-1].params == 512 * 10 + 10  # the new head of resnet18


def test_lr_table_has_one_value_per_epoch_for_every_stage() -> None:
    plan = make_plan(resolve_config("cifar10-4000/model-d-cosine"), 10)

    assert list(plan.lr) == [s.name for s in plan.stages]
    assert all(len(values) == plan.epochs == 100 for values in plan.lr.values())
    assert plan.lr["classifier"][10] > plan.lr["classifier"][90]


def test_a_frozen_stage_leaves_trainable_params_below_the_total() -> None:
    config = resolve_config("cifar10-4000/model-d", {"stages.conv1": 0, "stages.conv2": 0})

    plan = make_plan(config, 10)

    frozen = [s for s in plan.stages if s.frozen]
    assert [s.name for s in frozen] == ["conv1", "conv2"]
    assert plan.trainable_params == plan.total_params - sum(s.params for s in frozen)


def test_a_stage_waiting_to_unfreeze_is_frozen_at_first_but_counts_as_trainable() -> None:
    config = resolve_config("cifar10-4000/model-d", {"stages.conv5.unfreeze_epoch": 5})

    plan = make_plan(config, 10)

    conv5 = next(s for s in plan.stages if s.name == "conv5")
    assert (conv5.frozen, conv5.lr, conv5.base_lr, conv5.unfreeze_epoch) == (True, 0.0, 1e-3, 5)
    assert plan.lr["conv5"][4:6] == [0.0, 1e-3]
    assert plan.trainable_params == plan.total_params


def test_the_lr_curve_samples_each_epoch_so_a_warm_up_is_a_ramp() -> None:
    config = resolve_config("cifar10-4000/model-d", {"epochs": 3, "schedule.warmup_epochs": 1, "schedule.warmup_start": 0})

    plan = make_plan(config, 10)

    n = plan.points_per_epoch
    first_epoch = plan.lr_curve["classifier"][:n]
    assert len(plan.lr_curve["classifier"]) == 3 * n and n > 1
    assert first_epoch == sorted(first_epoch) and first_epoch[0] == 0.0 < first_epoch[-1] < 0.1
    assert plan.lr_curve["classifier"][n:] == [0.1] * 2 * n
    assert plan.frozen["classifier"] == [False] * 3  # warm-up from 0 is not "frozen"


def test_frozen_epochs_are_listed_per_stage() -> None:
    config = resolve_config("cifar10-4000/model-d", {"epochs": 4, "stages.conv1": 0, "stages.conv5.unfreeze_epoch": 1})

    plan = make_plan(config, 10)

    assert (plan.frozen["conv1"], plan.frozen["conv5"]) == ([True] * 4, [True, False, False, False])


def test_a_long_run_gets_fewer_samples_per_epoch() -> None:
    plan = make_plan(resolve_config("cifar10-4000/model-d", {"epochs": 1000}), 10)

    assert plan.points_per_epoch == 1 and len(plan.lr_curve["conv1"]) == 1000


@pytest.mark.parametrize("backbone", ["resnet152", "vit_b_16"])
def test_large_backbones_plan_without_weights(backbone: str) -> None:
    plan = make_plan(resolve_config("cifar10-4000/model-d", {"backbone": backbone, "stages": {}}), 10)

    assert plan.total_params > 50_000_000
