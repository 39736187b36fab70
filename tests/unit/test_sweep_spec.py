"""A sweep spec is refused before anything is stored, with the place of the mistake named."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from app.schemas.sweeps import SweepSpec
from app.sweeps.errors import InvalidSweep
from app.sweeps.space import check_sweep, resolve_base

ISSUE_EXAMPLE: dict[str, Any] = {
    "name": "ab stages",
    "base": {"preset": "ants-bees/finetune", "overrides": {"epochs": 6}},
    "space": {
        "stages.classifier.lr": {"type": "float", "low": 0.001, "high": 1.0, "log": True},
        "features": {"stages": ["conv1", "conv2", "conv3", "conv4", "conv5"], "type": "float",
                     "low": 1e-5, "high": 0.01, "log": True},
        "freeze_through": {"type": "categorical", "choices": ["none", "conv1", "conv3"]},
    },
    "sampler": "tpe", "pruner": "successive_halving", "trials": 24, "parallel": 4,
    "objective": "val_acc", "repeat_best": {"top": 3, "seeds": 3},
}  # fmt: skip


def spec(space: dict[str, Any], **fields: Any) -> SweepSpec:
    return SweepSpec.model_validate({"base": {"preset": "ants-bees/finetune"}, "space": space} | fields)


def refusal(space: dict[str, Any], **fields: Any) -> InvalidSweep:
    """The domain error `check_sweep` raises for a spec that is well-formed but does not fit its base."""
    made = spec(space, **fields)
    with pytest.raises(InvalidSweep) as caught:
        check_sweep(made, resolve_base(made.base))
    return caught.value


def shape_error(space: dict[str, Any], **fields: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        spec(space, **fields)
    return str(caught.value)


def test_the_issues_example_is_accepted() -> None:
    made = SweepSpec.model_validate(ISSUE_EXAMPLE)
    check_sweep(made, resolve_base(made.base))
    assert made.space["features"].stages == ("conv1", "conv2", "conv3", "conv4", "conv5")


def test_an_unknown_config_path_is_named() -> None:
    error = refusal({"optimizer.lrr": {"type": "float", "low": 0.1, "high": 1}})
    assert error.loc == ("space", "optimizer.lrr")
    assert "lrr" in error.msg


def test_a_path_into_a_number_is_named() -> None:
    assert refusal({"epochs.value": {"type": "int", "low": 1, "high": 3}}).loc == ("space", "epochs.value")


def test_a_stage_the_backbone_lacks_is_named_with_the_allowed_ones() -> None:
    error = refusal({"stages.conv9.lr": {"type": "float", "low": 1e-4, "high": 1e-2}})
    assert error.loc == ("space", "stages.conv9.lr")
    assert "conv9" in error.msg and "conv5" in error.msg


def test_a_stage_group_names_the_position_of_an_unknown_stage() -> None:
    error = refusal({"features": {"stages": ["conv1", "blocks1"], "type": "float", "low": 1e-4, "high": 1e-2}})
    assert error.loc == ("space", "features", "stages", 1)


def test_freeze_through_a_stage_of_another_family_is_refused() -> None:
    error = refusal({"freeze_through": {"type": "categorical", "choices": ["none", "blocks2"]}})
    assert error.loc == ("space", "freeze_through") and "blocks2" in error.msg


def test_freeze_through_the_classifier_is_refused() -> None:
    assert refusal({"freeze_through": {"type": "categorical", "choices": ["classifier"]}}).loc == ("space", "freeze_through")


def test_low_above_high_is_refused() -> None:
    assert "low (1) is above high (0.1)" in shape_error({"optimizer.lr": {"type": "float", "low": 1, "high": 0.1}})


def test_a_log_scale_from_zero_is_refused() -> None:
    assert "low > 0" in shape_error({"optimizer.lr": {"type": "float", "low": 0, "high": 0.1, "log": True}})


def test_a_value_the_config_rejects_at_an_extreme_is_named() -> None:
    error = refusal({"optimizer.momentum": {"type": "float", "low": 0.5, "high": 1.5}})
    assert error.loc == ("space", "optimizer.momentum") and "1.5" in error.msg


def test_every_categorical_choice_is_checked() -> None:
    error = refusal({"schedule.name": {"type": "categorical", "choices": ["cosine", "linear"]}})
    assert error.loc == ("space", "schedule.name") and "'linear'" in error.msg


def test_a_grid_over_a_float_without_a_step_is_refused() -> None:
    message = shape_error({"optimizer.lr": {"type": "float", "low": 0.01, "high": 0.1}}, sampler="grid")
    assert "optimizer.lr: a grid sweep needs" in message


def test_a_grid_sweep_runs_every_point_by_default() -> None:
    made = spec({"epochs": {"type": "int", "low": 1, "high": 3}, "augment": {"type": "categorical", "choices": ["none", "flip"]}},
                sampler="grid")  # fmt: skip
    assert made.trials == 6


def test_more_trials_than_grid_points_are_refused() -> None:
    assert "exceeds the grid's 3 points" in shape_error({"epochs": {"type": "int", "low": 1, "high": 3}}, sampler="grid", trials=4)


def test_two_dimensions_setting_one_stage_are_refused() -> None:
    error = refusal({
        "stages.conv2.lr": {"type": "float", "low": 1e-4, "high": 1e-2},
        "early": {"stages": ["conv1", "conv2"], "type": "float", "low": 1e-4, "high": 1e-2},
    })  # fmt: skip
    assert error.loc == ("space", "early") and "stages.conv2.lr" in error.msg


def test_layer_decay_conflicts_with_a_feature_stage_lr_but_not_the_classifiers() -> None:
    decay = {"layer_decay": {"type": "float", "low": 0.3, "high": 0.9}}
    check_sweep(made := spec(decay | {"stages.classifier.lr": {"type": "float", "low": 1e-3, "high": 1e-1}}),
                resolve_base(made.base))  # fmt: skip
    assert refusal(decay | {"stages.conv4.lr": {"type": "float", "low": 1e-4, "high": 1e-2}}).loc == ("space", "stages.conv4.lr")


def test_freeze_through_must_be_categorical() -> None:
    assert "freeze_through: must be categorical" in shape_error({"freeze_through": {"type": "int", "low": 0, "high": 3}})


def test_an_objective_needs_a_validation_split() -> None:
    made = spec({"epochs": {"type": "int", "low": 1, "high": 2}}, base={"preset": "ants-bees/finetune",
                "overrides": {"dataset.fractions": [0.5, 0, 0.5]}})  # fmt: skip
    with pytest.raises(InvalidSweep) as caught:
        check_sweep(made, resolve_base(made.base))
    assert caught.value.loc == ("objective",)


def test_an_unknown_preset_is_named_at_the_base() -> None:
    with pytest.raises(InvalidSweep) as caught:
        resolve_base(spec({"epochs": {"type": "int", "low": 1, "high": 2}}, base={"preset": "nope/nope"}).base)
    assert caught.value.loc == ("base", "preset")


def test_an_invalid_base_config_is_named_at_its_field() -> None:
    made = spec({"epochs": {"type": "int", "low": 1, "high": 2}}, base={"config": {"backbone": "resnet18", "epochs": 0}})
    with pytest.raises(InvalidSweep) as caught:
        resolve_base(made.base)
    assert caught.value.loc == ("base", "epochs")


def test_an_unknown_sampler_lists_the_allowed_ones() -> None:
    assert "'grid', 'random' or 'tpe'" in shape_error({"epochs": {"type": "int", "low": 1, "high": 2}}, sampler="bayes")
