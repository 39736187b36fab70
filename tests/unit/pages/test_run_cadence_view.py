"""The Run page's "Test split evaluated" fact: the worker's decision once known, else the config's ask."""

from __future__ import annotations

from app.pages.run_page import describe_test_cadence
from app.schemas.metrics import FastPath


def test_before_the_run_starts_auto_says_it_is_decided_at_start() -> None:
    assert describe_test_cadence("auto", None).startswith("auto: every epoch while it costs at most a quarter")


def test_a_number_reads_as_a_cadence() -> None:
    assert (describe_test_cadence(1, None), describe_test_cadence(5, None)) == ("every epoch", "every 5 epochs and the last")


def test_once_the_worker_decided_its_decision_is_shown() -> None:
    decided = FastPath(test_split="every 74 epochs and the last (auto: ≤ 25% of an epoch)")
    assert describe_test_cadence("auto", decided) == decided.test_split
