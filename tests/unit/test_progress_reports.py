"""`fit` reports where it is inside each epoch through its `on_progress` callback (issue 14, part 2):
at each epoch's start and after every step, with the pace and the time left for the whole run."""

from __future__ import annotations

from pathlib import Path

from tiny_runs import runtime, tiny

from app.schemas.metrics import RunProgress
from worker.training.loop import fit


def test_every_step_is_reported_with_a_pace_and_an_eta_that_ends_at_0(tmp_path: Path) -> None:
    reports: list[RunProgress] = []
    result = fit(tiny(epochs=2), runtime(tmp_path), on_progress=reports.append)
    steps = reports[0].steps
    assert steps > 1
    # Per epoch: one report as it starts (step 0), then one per step.
    assert [(r.epoch, r.step) for r in reports] == [(e, s) for e in range(2) for s in range(steps + 1)]
    assert reports[0].eta_s is None and reports[0].images_per_s is None  # nothing measured yet
    timed = [r for r in reports if r.eta_s is not None]
    assert all(r.images_per_s and r.images_per_s > 0 for r in timed)
    # Time left is steps left × the measured pace: positive until the last step (how it moves
    # between steps depends on the machine's load, so only its ends are asserted).
    assert timed[-1].eta_s == 0 and all(r.eta_s > 0 for r in timed[:-1])
    assert len(result.records) == 2


def test_a_resumed_run_counts_only_what_is_left(tmp_path: Path) -> None:
    done: list[object] = []  # stop as soon as the first epoch is recorded: the next fit resumes
    fit(tiny(epochs=2), runtime(tmp_path), on_epoch=done.append, should_stop=lambda: bool(done))
    reports: list[RunProgress] = []
    fit(tiny(epochs=2), runtime(tmp_path), on_progress=reports.append)
    assert {r.epoch for r in reports} == {1}
    assert reports[-1].eta_s == 0
