"""The global schedule and per-stage LRs, as pure functions of time."""

from __future__ import annotations

from typing import Any

import pytest
import torch

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


def test_onecycle_rises_from_max_over_div_to_its_peak_one_step_before_pct_start() -> None:
    # 10 steps, pct_start 0.3: OneCycleLR peaks at step 0.3 * 10 - 1 = 2.
    shape = {"name": "onecycle", "pct_start": 0.3, "max_factor": 2.0, "div_factor": 20.0}
    rising = [_factor(t, **shape) for t in (0, 1, 2)]

    assert rising[0] == pytest.approx(2.0 / 20.0)
    assert rising == sorted(rising)
    assert rising[-1] == pytest.approx(2.0)


def test_onecycle_ends_at_max_over_div_times_final_div_on_the_last_step() -> None:
    shape = {"name": "onecycle", "pct_start": 0.3, "max_factor": 2.0, "div_factor": 20.0, "final_div": 1e3}
    falling = [_factor(t, **shape) for t in (2, 5, 8, 9)]

    assert falling == sorted(falling, reverse=True)
    assert falling[-1] == pytest.approx(2.0 / 20.0 / 1e3)


@pytest.mark.parametrize(
    ("epochs", "steps_per_epoch", "shape"),
    [
        (10, 7, {}),
        (3, 33, {"pct_start": 0.25, "div_factor": 10.0, "final_div": 100.0}),
        (100, 32, {"max_factor": 1.0}),
        (12, 1, {"per_step": False, "pct_start": 0.4}),
    ],
)
def test_onecycle_equals_torchs_onecyclelr_at_every_step(
    epochs: int, steps_per_epoch: int, shape: dict[str, Any]
) -> None:
    config = _config(epochs=epochs, optimizer={"lr": 0.1}, schedule={"name": "onecycle"} | shape)
    schedule = config.schedule
    per_epoch = steps_per_epoch if schedule.per_step else 1
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    torch_schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=0.1 * schedule.max_factor,
        total_steps=epochs * per_epoch,
        pct_start=schedule.pct_start,
        div_factor=schedule.div_factor,
        final_div_factor=schedule.final_div,
        cycle_momentum=False,
    )
    expected, ours = [], []
    for epoch in range(epochs):
        for step in range(per_epoch):
            expected.append(optimizer.param_groups[0]["lr"])
            ours.append(lr_at(config, "conv5", epoch, step, per_epoch))
            optimizer.step()
            torch_schedule.step()

    assert ours == pytest.approx(expected, rel=1e-9, abs=1e-15)


def test_warmup_starts_above_zero_by_default() -> None:
    config = _config(schedule={"name": "cosine", "warmup_epochs": 2})

    assert lr_at(config, "conv5", 0, 0, 10) == pytest.approx(0.1 * 0.1)
    assert lr_at(config, "conv5", 0, 0, 10) > 0


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
