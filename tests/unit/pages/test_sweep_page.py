"""The sweep page's view: rows, best-so-far, heat-map cells, parallel coordinates, stage LRs, links."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app.pages.sweep_page import best_so_far, heat_map, parallel_coordinates, stage_lrs, sweep_page
from app.schemas.sweeps import BestTrial, SweepRead, TrialRead

CONFIG = {"backbone": "resnet18", "weights": "none", "dataset": {"name": "fake"}, "optimizer": {"lr": 0.01},
          "stages": {"conv1": 0.0, "conv2": 0.0, "classifier": 0.1, "conv5": {"lr": 0.001, "unfreeze_epoch": 2}}}  # fmt: skip
SPACE = {"stages.classifier.lr": {"type": "float", "low": 1e-4, "high": 1.0, "log": True},
         "freeze_through": {"type": "categorical", "choices": ["none", "conv2"]}}  # fmt: skip


def trial(number: int, state: str, value: float | None, lr: float, freeze: str, **extra: Any) -> TrialRead:
    return TrialRead(number=number, state=state, value=value, run_id=100 + number, epochs_done=2,
                     params={"stages.classifier.lr": lr, "freeze_through": freeze}, **extra)  # fmt: skip


def sweep(trials: list[TrialRead], objective: str = "val_acc") -> SweepRead:
    best = max((t for t in trials if t.state == "complete"), key=lambda t: t.value or 0, default=None)
    return SweepRead(
        id=7, name="s", state="running", sampler="tpe", pruner="median", objective=objective, planned_trials=10,
        parallel=2, queue="default", trial_counts={}, best_value=None, owner_name="local", created_at=datetime.now(UTC),
        finished_at=None, spec={"space": SPACE}, trials=trials,
        best=None if best is None else BestTrial(number=best.number, params=best.params, value=best.value or 0,
                                                 run_id=best.run_id, config=CONFIG),
    )  # fmt: skip


TRIALS = [
    trial(0, "complete", 0.6, 0.001, "none"),
    trial(1, "pruned", 0.4, 0.3, "conv2", pruned_epoch=1),
    trial(2, "complete", 0.8, 0.01, "conv2"),
    trial(3, "running", 0.5, 0.02, "none"),
    trial(4, "complete", 0.7, 0.5, "none"),
]


def test_a_pruned_trial_says_after_which_epoch_it_stopped_one_based() -> None:
    page = sweep_page(sweep(TRIALS), None)
    assert [r.state for r in page.rows][:2] == ["complete", "pruned after epoch 2"]


def test_best_so_far_follows_complete_trials_in_order_and_skips_live_ones() -> None:
    assert best_so_far(sweep(TRIALS)) == {
        "number": [0, 1, 2, 4], "value": [0.6, 0.4, 0.8, 0.7], "best": [0.6, 0.6, 0.8, 0.8],
        "state": ["complete", "pruned", "complete", "complete"],
    }  # fmt: skip


def test_best_so_far_of_a_loss_takes_the_lowest() -> None:
    assert best_so_far(sweep(TRIALS, objective="val_loss"))["best"] == [0.6, 0.6, 0.6, 0.6]


def test_the_heat_map_keeps_the_best_value_of_each_cell_with_categories_as_they_are() -> None:
    cells = heat_map(sweep(TRIALS), "freeze_through", "stages.classifier.lr")
    assert cells is not None and cells["x_labels"] == ["conv2", "none"]
    assert cells["y_labels"] == ["0.001", "0.01", "0.02", "0.3", "0.5"]
    assert cells["z"][0] == [None, 0.6] and cells["z"][1] == [0.8, None]


def test_a_continuous_axis_is_cut_into_log_bins() -> None:
    many = [trial(i, "complete", i / 20, 10 ** (-4 + 4 * i / 11), "none") for i in range(12)]
    cells = heat_map(sweep(many), "stages.classifier.lr", "freeze_through")
    assert cells is not None and len(cells["x_labels"]) == 6
    assert cells["x_labels"][0].startswith("0.0001") and cells["x_labels"][-1].endswith("1")
    assert sum(cells["counts"][0]) == 12 and cells["z"][0][-1] == 11 / 20


def test_parallel_coordinates_use_log10_for_a_log_float_and_indices_for_categories() -> None:
    drawn = parallel_coordinates(sweep(TRIALS[:2]))
    assert drawn is not None
    lr, freeze, objective = drawn["dimensions"]
    assert lr["label"] == "log10 stages.classifier.lr" and lr["values"][0] == -3.0
    assert (freeze["ticktext"], freeze["values"]) == (["conv2", "none"], [1, 0])
    assert objective == {"label": "val_acc", "values": [0.6, 0.4]}


def test_the_winning_configuration_shows_each_stage_lr_as_trained() -> None:
    assert stage_lrs(CONFIG) == [
        ("conv1", "frozen"), ("conv2", "frozen"), ("conv3", "0.01"), ("conv4", "0.01"),
        ("conv5", "0.001 from epoch 3"), ("classifier", "0.1"),
    ]  # fmt: skip


def test_links_to_a_new_run_from_the_best_and_to_compare_the_top_trials() -> None:
    page = sweep_page(sweep(TRIALS), {"stages.classifier.lr": 0.7, "freeze_through": 0.3})
    assert page.new_run_url == "/runs/new?from_run=102"
    assert page.compare_url == "/compare?ids=102,104,100,103,101" and page.compare_count == 5
    assert page.importances == [("stages.classifier.lr", 0.7), ("freeze_through", 0.3)]


def test_axes_default_to_the_first_two_dimensions_and_refuse_the_same_twice() -> None:
    page = sweep_page(sweep(TRIALS), None, x="freeze_through", y="freeze_through")
    assert (page.x, page.y) == ("freeze_through", "stages.classifier.lr")
