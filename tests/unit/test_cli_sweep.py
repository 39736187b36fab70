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


REPEATS = [
    {"trial_number": 3, "params": {"stages.classifier.lr": 0.1}, "seeds": [1, 2], "runs": [20, 21],
     "states": ["complete", "complete"], "mean": 0.8, "std": 0.05, "test_acc_mean": 0.7, "test_acc_std": 0.01},
    {"trial_number": 0, "params": {"stages.classifier.lr": 0.01}, "seeds": [1, 2], "runs": [22, 23],
     "states": ["complete", "running"], "mean": 0.6, "std": None, "test_acc_mean": None, "test_acc_std": None},
]  # fmt: skip


def test_the_leaderboard_ends_with_the_repeats_mean_and_std() -> None:
    lines = leaderboard({**SWEEP, "repeats": REPEATS}, top=10).splitlines()
    assert lines[-2].split()[:7] == ["3", "0.8000", "±", "0.0500", "0.7000", "±", "0.0100"]
    assert lines[-1].split()[:3] == ["0", "0.6000", "—"] and lines[-1].endswith("(1/2 ended)")


def test_the_progress_line_counts_the_repeats_once_there_are_some() -> None:
    assert progress_line({**SWEEP, "repeats": REPEATS}).endswith("best 0.75 · repeats 3/4 ended")
