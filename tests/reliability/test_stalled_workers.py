"""A worker that stops heart-beating (SIGSTOP: frozen, not dead) loses its run, and stays harmless.

Proven against a real server, real workers, PostgreSQL and Redis: after
`heartbeat_timeout_s` the sweeper re-queues the run and the other worker finishes it
from the checkpoint; when the frozen worker wakes (SIGCONT) it learns it lost the run
and writes no epoch row, no summary and no file: a checkpoint write that the freeze
interrupted is dropped before it replaces the new owner's (`save_atomic`'s `before_replace`).
"""

from __future__ import annotations

import signal
from typing import Any

import pytest

from tests.polling import wait_for
from tests.reliability.harness import (
    LONG,
    RunFolder,
    finished_cleanly,
    launched,
    on_disk,
    owner,
    process_gone,
    run_row,
    signal_worker,
    submit,
    tally_api,
    tally_database,
    wait_finished,
    wait_run,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
EPOCHS = LONG["epochs"]


@pytest.fixture(scope="module")
def stalled(tmp_path_factory: pytest.TempPathFactory, postgres_url: str, redis_url: str, session_token: str) -> Any:
    """One run on two workers; its worker is frozen after epoch 0 and woken after the other one finished it."""
    root = tmp_path_factory.mktemp("stalled")
    with launched(root, database_url=postgres_url, broker_url=redis_url, token=session_token) as stack:
        stack.start_server()
        for _ in range(2):
            stack.start_worker()
        with stack.client() as client:
            run_id = submit(client, LONG)
            wait_run(
                client, run_id, lambda run: run["status"] == "running" and run["epochs_done"] >= 1, "to store epoch 0"
            )
            frozen, frozen_child = owner(stack, run_id), run_row(stack.settings, run_id)["worker_pid"]
            signal_worker(frozen, signal.SIGSTOP)
            wait_finished(client, [run_id])
            taken_over = run_row(stack.settings, run_id)
            signal_worker(frozen, signal.SIGCONT)
            # The woken attempt notices it lost the run, its task returns, and its pool child exits.
            wait_for(lambda: process_gone(frozen_child), timeout=60, what="the woken pool child to give up the run")
            yield stack, run_id, frozen_child, taken_over, tally_api(client)


def test_the_run_is_taken_over_by_the_other_worker(stalled: Any) -> None:
    _, _, frozen_child, taken_over, _ = stalled
    assert (taken_over["status"], taken_over["attempt"], taken_over["worker_pid"] != frozen_child) == (
        "succeeded",
        2,
        True,
    )


def test_each_epoch_is_stored_exactly_once_after_the_frozen_worker_wakes(stalled: Any) -> None:
    stack, run_id, _, _, over_api = stalled
    expected = finished_cleanly([run_id], EPOCHS)
    assert (over_api, tally_database(stack.settings)) == (expected, expected)


def test_the_woken_worker_does_not_overwrite_the_final_files(stalled: Any) -> None:
    # Before RunLost, a woken attempt ended `fit` as if cancelled and wrote its own
    # summary.json (epochs_done=1, stopped) over the finished run's.
    stack, run_id, _, _, _ = stalled
    assert on_disk(stack.settings, run_id) == RunFolder(EPOCHS, EPOCHS, False, list(range(EPOCHS)))
