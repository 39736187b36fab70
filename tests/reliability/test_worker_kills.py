"""kill -9 of the whole worker mid-epoch, three times over, while other runs wait in the queue.

Proven against a real server, real workers, PostgreSQL and Redis: each kill costs the
interrupted run one attempt and nothing else. The heartbeat sweeper re-queues it, the
next free worker resumes it from its last checkpoint, and in the end every run has
succeeded with each epoch stored exactly once, over the API and in the database.
"""

from __future__ import annotations

import signal
from typing import Any

import pytest

from tests.reliability.harness import (
    LONG,
    RunFolder,
    finished_cleanly,
    launched,
    on_disk,
    owner,
    run_row,
    signal_worker,
    submit,
    tally_api,
    tally_database,
    wait_finished,
    wait_run,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
KILLS = 3
EPOCHS = LONG["epochs"]
assert EPOCHS > KILLS + 1, "the last kill must land before the run ends"


@pytest.fixture(scope="module")
def killed(tmp_path_factory: pytest.TempPathFactory, postgres_url: str, redis_url: str, session_token: str) -> Any:
    """Three runs on two workers; the first run's worker is killed -9 after each of its first three epochs."""
    root = tmp_path_factory.mktemp("kills")
    with launched(root, database_url=postgres_url, broker_url=redis_url, token=session_token,
                  max_attempts=KILLS + 1) as stack:  # fmt: skip
        stack.start_server()
        for _ in range(2):
            stack.start_worker()
        with stack.client() as client:
            target, *others = [submit(client, LONG) for _ in range(3)]
            for kill in range(1, KILLS + 1):
                # Attempt `kill` has stored a new epoch and is in the next one: kill its worker.
                wait_run(client, target, lambda run, k=kill: run["status"] == "running" and run["attempt"] == k
                         and run["epochs_done"] >= k, f"to store epoch {kill - 1} on attempt {kill}")  # fmt: skip
                signal_worker(owner(stack, target), signal.SIGKILL)
                stack.start_worker()  # the fleet stays at two; the survivor or this one takes the run
            wait_finished(client, [target, *others])
            yield stack, target, others, tally_api(client)


def test_every_run_succeeds_with_each_epoch_stored_exactly_once(killed: Any) -> None:
    stack, target, others, over_api = killed
    expected = finished_cleanly([target, *others], EPOCHS)
    assert (over_api, tally_database(stack.settings)) == (expected, expected)


def test_each_kill_cost_the_run_one_attempt_and_the_others_none(killed: Any) -> None:
    stack, target, others, _ = killed
    attempts = {run_id: run_row(stack.settings, run_id)["attempt"] for run_id in [target, *others]}
    assert attempts == {target: KILLS + 1, **dict.fromkeys(others, 1)}


def test_the_run_folder_agrees_with_the_database(killed: Any) -> None:
    stack, target, _, _ = killed
    assert on_disk(stack.settings, target) == RunFolder(EPOCHS, EPOCHS, False, list(range(EPOCHS)))
