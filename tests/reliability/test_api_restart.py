"""The API server killed with -9 and started again loses nothing.

Proven against a real server, a real worker, PostgreSQL and Redis: with one run
training and two waiting, the server is killed -9 and a new one started. The new
server lists every run, the training run is not interrupted (the worker needs no API),
and every run finishes with each epoch stored exactly once.
"""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest

from tests.reliability.harness import (
    LONG,
    finished_cleanly,
    launched,
    run_row,
    submit,
    tally_api,
    tally_database,
    wait_finished,
    wait_run,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
RUNS = 3


@pytest.fixture(scope="module")
def restarted(tmp_path_factory: pytest.TempPathFactory, postgres_url: str, redis_url: str, session_token: str) -> Any:
    """Three runs on one worker; the server is killed -9 while the first trains, then started again."""
    root = tmp_path_factory.mktemp("api")
    with launched(root, database_url=postgres_url, broker_url=redis_url, token=session_token) as stack:
        stack.start_server()
        stack.start_worker()
        with stack.client() as client:
            run_ids = [submit(client, LONG) for _ in range(RUNS)]
            wait_run(client, run_ids[0], lambda run: run["status"] == "running" and run["epochs_done"] >= 1, "to train")
        assert stack.server is not None
        os.killpg(stack.server.pid, signal.SIGKILL)
        stack.server.wait()
        stack.start_server()
        with stack.client() as client:
            listed = client.get("/api/runs").json()
            wait_finished(client, run_ids)
            yield stack, run_ids, listed, tally_api(client)


def test_the_new_server_lists_every_run(restarted: Any) -> None:
    _, run_ids, listed, _ = restarted
    assert sorted(run["id"] for run in listed["items"]) == run_ids


def test_the_run_training_through_the_restart_kept_its_first_attempt(restarted: Any) -> None:
    stack, run_ids, _, _ = restarted
    assert [run_row(stack.settings, run_id)["attempt"] for run_id in run_ids] == [1] * RUNS


def test_every_run_finishes_with_each_epoch_stored_exactly_once(restarted: Any) -> None:
    stack, run_ids, _, over_api = restarted
    expected = finished_cleanly(run_ids, LONG["epochs"])
    assert (over_api, tally_database(stack.settings)) == (expected, expected)
