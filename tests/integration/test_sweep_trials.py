"""Sweeps end to end: a real server, a real worker process, real Optuna, tiny runs.

The worker reports each epoch's objective to the trial, the pruner's answer stops the run
(`pruned`, its epochs kept), each ended trial asks for the next one, and cancelling the
sweep stops its queued and running trials. The pruning test makes the pruner's answer
certain by putting a competitor that no real trial can beat into the study before the
worker starts (a trial of the study, added through Optuna's own API).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import optuna
import pytest
import yaml
from conftest import STAGEWISE, TINY, Backend, Stack, make_settings, running_stack, wait_for
from sqlalchemy import select

from app.models import Sweep
from app.sweeps.storage import sweep_storage
from tests.rows import row_session

optuna.logging.set_verbosity(optuna.logging.WARNING)

BASE = {"config": {**TINY, "epochs": 2}}
GRID_SPACE = {
    "stages.classifier.lr": {"type": "categorical", "choices": [0.01, 0.1]},
    "freeze_through": {"type": "categorical", "choices": ["none", "conv3"]},
}


@pytest.fixture(scope="module")
def server(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A server whose worker each test starts when its setup is done (`with_worker`)."""
    root = tmp_path_factory.mktemp(f"sweeps-{backend.name}")
    made = make_settings(backend, root / "data", queues=[backend.queue, other_queue(backend.queue)])
    with running_stack(made, worker=False) as running:
        yield running


def other_queue(queue: str) -> str:
    """A second queue the server knows, which the default worker does not listen to."""
    return f"{queue}-b"


def with_worker(stack: Stack) -> None:
    if not any(process.poll() is None for process in stack.workers):
        stack.start_worker()


def create(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/api/sweeps", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def wait_sweep(client: httpx.Client, sweep_id: int, state: str, timeout: float = 240) -> dict[str, Any]:
    return wait_for(
        lambda: (sweep := client.get(f"/api/sweeps/{sweep_id}").json())["state"] == state
        and not any(t["state"] in ("queued", "running") for t in sweep["trials"]) and sweep,
        timeout=timeout, what=f"sweep {sweep_id} to be {state} with no trial in flight",
    )  # fmt: skip


def test_a_trial_the_pruner_stops_ends_pruned_at_that_epoch_with_its_curves(server: Stack) -> None:
    with server.client() as client:
        sweep = create(client, {
            "name": "pruned", "base": BASE, "space": GRID_SPACE, "sampler": "grid", "trials": 2,
            "pruner": "successive_halving",
        })  # fmt: skip
        beat_everyone(server, sweep["id"])
        with_worker(server)
        done = wait_sweep(client, sweep["id"], "finished")
        assert [(t["state"], t["pruned_epoch"], t["epochs_done"]) for t in done["trials"]] == [("pruned", 0, 1)] * 2
        for trial in done["trials"]:
            run = client.get(f"/api/runs/{trial['run_id']}").json()
            assert (run["status"], run["summary"]["stop_reason"]) == ("pruned", "pruned")
            assert [m["epoch"] for m in client.get(f"/api/runs/{trial['run_id']}/metrics").json()] == [0]
        assert client.get("/api/runs", params={"status": "pruned"}).json()["total"] >= 2


def beat_everyone(stack: Stack, sweep_id: int) -> None:
    """A complete trial whose first epoch no real one can reach (val accuracy 2), in the sweep's study."""
    with row_session(stack.settings.database_url) as db:
        study_name = db.scalar(select(Sweep.study_name).where(Sweep.id == sweep_id))
    study = optuna.load_study(study_name=study_name, storage=sweep_storage(stack.settings.database_url))
    study.add_trial(optuna.trial.create_trial(
        params={"stages.classifier.lr": 0.1, "freeze_through": "none"},
        distributions={"stages.classifier.lr": optuna.distributions.CategoricalDistribution([0.01, 0.1]),
                       "freeze_through": optuna.distributions.CategoricalDistribution(["none", "conv3"])},
        value=2.0, intermediate_values={1: 2.0}, system_attrs={"completed_rung_0": 2.0},
    ))  # fmt: skip


def test_a_grid_sweep_trains_exactly_the_grid(server: Stack) -> None:
    with_worker(server)
    with server.client() as client:
        sweep = create(client, {"name": "grid", "base": {"config": {**TINY, "epochs": 1}}, "space": GRID_SPACE,
                                "sampler": "grid", "parallel": 2})  # fmt: skip
        done = wait_sweep(client, sweep["id"], "finished")
    params = {(t["params"]["stages.classifier.lr"], t["params"]["freeze_through"]) for t in done["trials"]}
    assert len(done["trials"]) == 4 and params == {(0.01, "none"), (0.01, "conv3"), (0.1, "none"), (0.1, "conv3")}
    assert {t["state"] for t in done["trials"]} == {"complete"} and done["best"] is not None


def test_cancel_stops_queued_and_running_trials(server: Stack) -> None:
    with_worker(server)
    slow = {**TINY, "epochs": 30, "dataset": {"name": "fake", "num_images": 64, "num_classes": 2}}
    with server.client() as client:
        sweep = create(client, {"base": {"config": slow}, "space": GRID_SPACE, "sampler": "random", "trials": 6,
                                "parallel": 2})  # fmt: skip
        wait_for(lambda: any(t["state"] == "running" for t in client.get(f"/api/sweeps/{sweep['id']}").json()["trials"]),
                 timeout=120, what="a trial to start")  # fmt: skip
        assert client.post(f"/api/sweeps/{sweep['id']}/cancel").status_code == 200
        done = wait_sweep(client, sweep["id"], "cancelled", timeout=120)
    assert sorted(t["state"] for t in done["trials"]) == ["cancelled", "cancelled"]


def test_stagewise_sweep_submits_waits_and_prints_the_leaderboard(server: Stack, tmp_path: Path) -> None:
    with_worker(server)
    spec = tmp_path / "sweep.yaml"
    spec.write_text(yaml.safe_dump({"name": "cli", "base": {"config": {**TINY, "epochs": 1}}, "sampler": "grid",
                                    "space": {"stages.classifier.lr": {"type": "categorical", "choices": [0.05]}}}))
    done = subprocess.run(
        [*STAGEWISE, "sweep", str(spec), "--url", server.base_url, "--wait", "--poll-s", "1"],
        capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "1 trials, 1 at a time (grid, pruner none)" in lines[0]
    assert lines[-1].split()[:2] == ["0", "complete"] and "stages.classifier.lr=0.05" in lines[-1]


def test_repeat_best_trains_the_best_configuration_again_and_reports_mean_and_std(server: Stack) -> None:
    with_worker(server)
    space = {"stages.classifier.lr": {"type": "categorical", "choices": [0.01, 0.1]}}
    with server.client() as client:
        sweep = create(client, {"name": "repeats", "base": {"config": {**TINY, "epochs": 1}}, "space": space,
                                "sampler": "grid", "parallel": 2, "repeat_best": {"top": 1, "seeds": 2}})  # fmt: skip
        done = wait_sweep(client, sweep["id"], "finished")
        (repeat,) = done["repeats"]
        best = done["best"]
        assert (repeat["trial_number"], repeat["params"], repeat["seeds"]) == (best["number"], best["params"], [1, 2])
        assert repeat["states"] == ["complete", "complete"] and repeat["mean"] is not None and repeat["std"] is not None
        runs = [client.get(f"/api/runs/{run_id}").json() for run_id in repeat["runs"]]
    assert [(r["status"], r["epochs_done"], r["config"]["seed"], r["cloned_from"]) for r in runs] == [
        ("succeeded", 1, seed, best["run_id"]) for seed in (1, 2)
    ]
    assert all(r["config"]["stages"] == best["config"]["stages"] for r in runs)
    assert sorted(t["state"] for t in done["trials"]) == ["complete", "complete"]


def test_trials_go_to_the_sweeps_queue_and_only_its_workers_train_them(server: Stack) -> None:
    with_worker(server)  # listens on the default queue only
    queue = other_queue(server.settings.default_queue)
    with server.client() as client:
        sweep = create(client, {"name": "queue", "base": {"config": {**TINY, "epochs": 1}}, "sampler": "grid",
                                "space": {"stages.classifier.lr": {"type": "categorical", "choices": [0.01, 0.1]}},
                                "parallel": 2, "queue": queue})  # fmt: skip
        # A run queued after the trials, on the default queue: once the default worker has trained it,
        # it would have taken the trials first had they been on its queue.
        plain = client.post("/api/runs", json={"config": {**TINY, "epochs": 1}}).json()["id"]
        wait_for(lambda: client.get(f"/api/runs/{plain}").json()["status"] == "succeeded", timeout=180,
                 what="the default worker to train the plain run")  # fmt: skip
        assert [t["state"] for t in client.get(f"/api/sweeps/{sweep['id']}").json()["trials"]] == ["queued"] * 2
        worker = server._spawn(["worker", "--queue", queue], "worker-queue-b")
        server.workers.append(worker)
        try:
            done = wait_sweep(client, sweep["id"], "finished")
        finally:
            server.kill_worker(worker)
    assert [t["state"] for t in done["trials"]] == ["complete", "complete"]
    assert {client_run["queue"] for client_run in _runs(server, [t["run_id"] for t in done["trials"]])} == {queue}


def _runs(stack: Stack, run_ids: list[int]) -> list[dict[str, Any]]:
    with stack.client() as client:
        return [client.get(f"/api/runs/{run_id}").json() for run_id in run_ids]
