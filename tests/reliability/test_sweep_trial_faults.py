"""A sweep survives kill -9 of the worker training a trial and kill -9 of the API server.

Proven against a real server, real workers, PostgreSQL and Redis: a grid sweep of four
trials, two at a time. The worker training the first trial is killed -9 after that trial
stored an epoch (a new worker joins, as a restarted one would); later, while trials are in
flight, the API server is killed -9 and started again. The heartbeat sweeper re-queues the
killed trial's run, a worker resumes it from its checkpoint, and the sweep finishes with
the whole grid: every trial once, each told to Optuna once, each epoch stored once.
"""

from __future__ import annotations

import os
import signal
from typing import Any

import httpx
import optuna
import psycopg
import pytest
from integration_fixtures import Stack

from app.sweeps.storage import sweep_storage
from tests.polling import wait_for
from tests.reliability.harness import (
    LONG,
    finished_cleanly,
    launched,
    libpq_url,
    owner,
    run_row,
    signal_worker,
    tally_api,
    tally_database,
    wait_run,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
GRID = {
    "stages.classifier.lr": {"type": "categorical", "choices": [0.01, 0.1]},
    "freeze_through": {"type": "categorical", "choices": ["none", "conv3"]},
}
EPOCHS = LONG["epochs"]


@pytest.fixture(scope="module")
def survived(tmp_path_factory: pytest.TempPathFactory, postgres_url: str, redis_url: str, session_token: str) -> Any:
    """The sweep after its first trial's worker and then the API server were killed -9 mid-sweep."""
    root = tmp_path_factory.mktemp("sweep-faults")
    with launched(root, database_url=postgres_url, broker_url=redis_url, token=session_token) as stack:
        stack.start_server()
        for _ in range(2):
            stack.start_worker()
        with stack.client() as client:
            created = client.post("/api/sweeps", json={"name": "faults", "base": {"config": LONG}, "space": GRID,
                                                       "sampler": "grid", "parallel": 2})  # fmt: skip
            assert created.status_code == 201, created.text
            sweep_id, first = created.json()["id"], created.json()["trials"][0]["run_id"]
            wait_run(client, first, lambda run: run["status"] == "running" and run["epochs_done"] >= 1, "to train")
            signal_worker(owner(stack, first), signal.SIGKILL)
            stack.start_worker()
            wait_for(lambda: len(sweep_of(client, sweep_id)["trials"]) >= 3, timeout=300, what="a third trial")
        restart_server(stack)
        with stack.client() as client:
            listed = client.get("/api/sweeps").json()
            done = wait_for(lambda: (s := sweep_of(client, sweep_id))["state"] == "finished" and s,
                            timeout=420, what=f"sweep {sweep_id} to finish")  # fmt: skip
            yield stack, done, first, listed, tally_api(client)


def sweep_of(client: httpx.Client, sweep_id: int) -> dict[str, Any]:
    response = client.get(f"/api/sweeps/{sweep_id}")
    response.raise_for_status()
    return response.json()


def restart_server(stack: Stack) -> None:
    assert stack.server is not None
    os.killpg(stack.server.pid, signal.SIGKILL)
    stack.server.wait()
    stack.start_server()


def test_the_new_server_still_lists_the_running_sweep(survived: Any) -> None:
    _, done, _, listed, _ = survived
    assert [(s["id"], s["state"]) for s in listed] == [(done["id"], "running")]


def test_the_sweep_finishes_with_the_whole_grid_each_trial_once(survived: Any) -> None:
    _, done, _, _, _ = survived
    assert sorted(t["number"] for t in done["trials"]) == [0, 1, 2, 3]
    assert {t["state"] for t in done["trials"]} == {"complete"}
    grid = {(lr, f) for lr in (0.01, 0.1) for f in ("none", "conv3")}
    assert {(t["params"]["stages.classifier.lr"], t["params"]["freeze_through"]) for t in done["trials"]} == grid


def test_optuna_was_told_each_trial_once_and_asked_no_more(survived: Any) -> None:
    stack, done, _, _, _ = survived
    with psycopg.connect(libpq_url(stack.settings.database_url)) as connection:
        (study_name,) = connection.execute("SELECT study_name FROM sweeps WHERE id = %s", (done["id"],)).fetchone()
    study = optuna.load_study(study_name=study_name, storage=sweep_storage(stack.settings.database_url))
    trials = study.get_trials(deepcopy=False)
    assert sorted(t.number for t in trials) == [0, 1, 2, 3]
    assert {t.state for t in trials} == {optuna.trial.TrialState.COMPLETE}
    assert {t.number: t.value for t in trials} == {t["number"]: t["value"] for t in done["trials"]}


def test_the_killed_trial_was_resumed_and_every_epoch_stored_once(survived: Any) -> None:
    stack, done, first, _, over_api = survived
    run_ids = sorted(t["run_id"] for t in done["trials"])
    expected = finished_cleanly(run_ids, EPOCHS)
    assert (over_api, tally_database(stack.settings)) == (expected, expected)
    assert run_row(stack.settings, first)["attempt"] == 2
