"""The global schedule and per-stage LRs, as pure functions of time."""

from __future__ import annotations

from typing import Any

import pytest

from app.schemas.train_config import ScheduleConfig, TrainConfig
from worker.training.schedules import is_frozen, lr_at, schedule_factor


def _factor(t: float, epochs: int = 10, **schedule: Any) -> float:
    return schedule_factor(ScheduleConfig.model_validate(schedule), t, epochs)


def _config(**fields: Any) -> TrainConfig:
    return TrainConfig.model_validate({"backbone": "resnet18", "epochs": 10, "optimizer": {"lr": 0.1}} | fields)


def test_constant_is_one_throughout() -> None:
    assert [_factor(t, name="constant") for t in (0, 3.5, 9.99)] == [1.0, 1.0, 1.0]


def test_step_with_step_size_multiplies_by_gamma_every_step_size_epochs() -> None:
    factors = [_factor(e, name="step", step_size=3, gamma=0.5) for e in range(7)]

    assert factors == [1, 1, 1, 0.5, 0.5, 0.5, 0.25]


def test_step_with_milestones_multiplies_by_gamma_at_each_milestone() -> None:
    factors = [_factor(e, name="step", milestones=(2, 5), gamma=0.1) for e in range(6)]

    assert factors == pytest.approx([1, 1, 0.1, 0.1, 0.1, 0.01])


def test_cosine_starts_at_one_and_ends_at_min_factor() -> None:
    assert _factor(0, name="cosine", min_factor=0.05) == 1.0
    assert _factor(10, name="cosine", min_factor=0.05) == pytest.approx(0.05)
    assert _factor(5, name="cosine", min_factor=0.0) == pytest.approx(0.5)


def test_onecycle_rises_from_max_over_div_to_its_peak_at_pct_start() -> None:
    shape = {"name": "onecycle", "pct_start": 0.3, "max_factor": 2.0, "div_factor": 20.0}
    rising = [_factor(t, **shape) for t in (0, 1, 2, 3)]

    assert rising[0] == pytest.approx(2.0 / 20.0)
    assert rising == sorted(rising)
    assert rising[-1] == pytest.approx(2.0)


def test_onecycle_falls_from_its_peak_to_max_over_final_div() -> None:
    shape = {"name": "onecycle", "pct_start": 0.3, "max_factor": 2.0, "final_div": 1e3}
    falling = [_factor(t, **shape) for t in (3, 5, 8, 10)]

    assert falling == sorted(falling, reverse=True)
    assert falling[-1] == pytest.approx(2.0 / 1e3)


def test_linear_warmup_ramps_from_warmup_start_to_one() -> None:
    shape = {"name": "constant", "warmup_epochs": 2, "warmup_start": 0.1}

    assert [_factor(t, **shape) for t in (0, 1, 2, 5)] == pytest.approx([0.1, 0.55, 1.0, 1.0])


def test_per_step_false_holds_the_lr_within_an_epoch() -> None:
    config = _config(schedule={"name": "cosine", "per_step": False})

    within = {lr_at(config, "conv5", 3, step, 10) for step in range(10)}

    assert within == {lr_at(config, "conv5", 3, 0, 10)}
    assert lr_at(config, "conv5", 4, 0, 10) < lr_at(config, "conv5", 3, 9, 10)


def test_per_step_true_moves_the_lr_within_an_epoch() -> None:
    config = _config(schedule={"name": "cosine"})

    assert lr_at(config, "conv5", 3, 5, 10) < lr_at(config, "conv5", 3, 0, 10)


def test_mult_multiplies_the_optimizer_lr() -> None:
    config = _config(stages={"conv1": {"mult": 0.25}})

    assert lr_at(config, "conv1", 0) == pytest.approx(0.025)


def test_a_stage_without_a_schedule_gets_the_optimizer_lr() -> None:
    assert lr_at(_config(), "conv3", 0) == 0.1


def test_unfreeze_epoch_gives_zero_before_it_and_the_lr_from_it() -> None:
    config = _config(stages={"conv5": {"lr": 1e-3, "unfreeze_epoch": 3}})

    assert [lr_at(config, "conv5", e) for e in (0, 2, 3)] == [0.0, 0.0, 1e-3]
    assert is_frozen(config, "conv5", 2) and not is_frozen(config, "conv5", 3)


def test_lr_zero_freezes_the_stage_for_the_whole_run() -> None:
    config = _config(stages={"conv1": 0})

    assert all(is_frozen(config, "conv1", e) and lr_at(config, "conv1", e) == 0 for e in range(10))


def test_is_frozen_is_not_fooled_by_a_warmup_that_starts_at_zero() -> None:
    config = _config(schedule={"name": "constant", "warmup_epochs": 1, "warmup_start": 0.0})

    assert lr_at(config, "conv1", 0, 0, 10) == 0.0
    assert not is_frozen(config, "conv1", 0)
