"""`stagewise sweep`'s output: the leaderboard (best first, pruned trials marked) and the progress line."""

from __future__ import annotations

from typing import Any

from app.cli.sweep import leaderboard, progress_line


def trial(number: int, state: str, value: float | None, **extra: Any) -> dict[str, Any]:
    return {"number": number, "state": state, "value": value, "run_id": 10 + number,
            "params": {"stages.classifier.lr": 0.0123456, "freeze_through": "conv1"}, "pruned_epoch": None, **extra}  # fmt: skip


SWEEP = {
    "id": 3, "state": "running", "objective": "val_acc", "planned_trials": 4,
    "trials": [trial(0, "complete", 0.5), trial(1, "pruned", 0.25, pruned_epoch=1), trial(2, "running", None),
               trial(3, "complete", 0.75)],
    "best": {"value": 0.75},
}  # fmt: skip


def test_the_leaderboard_lists_trials_best_first_with_live_ones_last() -> None:
    lines = leaderboard(SWEEP, top=10).splitlines()
    assert [line.split()[0] for line in lines[2:]] == ["3", "0", "1", "2"]
    assert "pruned@2" in lines[4] and "stages.classifier.lr=0.0123, freeze_through=conv1" in lines[2]


def test_a_loss_objective_ranks_the_lowest_first_and_top_cuts_the_list() -> None:
    lines = leaderboard({**SWEEP, "objective": "val_loss"}, top=2).splitlines()
    assert [line.split()[0] for line in lines[2:]] == ["1", "0"]


def test_the_progress_line_counts_ended_trials_against_the_budget() -> None:
    assert progress_line(SWEEP) == "[###############-----] 3/4 trials ended · 1 in flight · best 0.75"
