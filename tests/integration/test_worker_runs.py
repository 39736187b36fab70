"""End to end: a real server and real worker processes train tiny runs through the API.

Each test polls the API with a deadline; nothing sleeps blindly. The worker is killed
with SIGKILL in two ways: the whole worker (a crashed host: the heartbeat sweeper
re-queues the run) and only its pool child (Celery's reject-on-worker-lost redelivers).
"""

from __future__ import annotations

import io
import subprocess
from typing import Any

import httpx
import pytest
import torch
import torchvision
from conftest import TINY, Stack, wait_for

LONG = {**TINY, "epochs": 3, "dataset": {"name": "fake", "num_images": 32, "num_classes": 2}}


def run_of(client: httpx.Client, run_id: int) -> dict[str, Any]:
    response = client.get(f"/api/runs/{run_id}")
    response.raise_for_status()
    return response.json()


def wait_status(client: httpx.Client, run_id: int, *statuses: str, timeout: float = 120) -> dict[str, Any]:
    return wait_for(
        lambda: (run := run_of(client, run_id))["status"] in statuses and run,
        timeout=timeout, what=f"run {run_id} to be {' or '.join(statuses)}",
    )  # fmt: skip


def wait_epochs(client: httpx.Client, run_id: int, count: int, timeout: float = 120) -> dict[str, Any]:
    return wait_for(
        lambda: (run := run_of(client, run_id))["epochs_done"] >= count and run["status"] == "running" and run,
        timeout=timeout, what=f"run {run_id} to finish {count} epoch(s) while running",
    )  # fmt: skip


def submit(client: httpx.Client, config: dict[str, Any], **extra: Any) -> int:
    response = client.post("/api/runs", json={"config": config, **extra})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def pool_children(worker: subprocess.Popen[bytes]) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(worker.pid)], capture_output=True, text=True, check=False).stdout
    return [int(pid) for pid in out.split()]


@pytest.fixture(scope="module")
def finished(stack: Stack) -> dict[str, Any]:
    """One tiny run trained to the end, watched from submit: shared by the tests below."""
    with stack.client() as client:
        run_id = submit(client, TINY, name="tiny e2e")
        seen = [run_of(client, run_id)["status"]]

        def succeeded() -> bool:
            status = run_of(client, run_id)["status"]
            if status != seen[-1]:
                seen.append(status)
            return status in ("succeeded", "failed")

        wait_for(succeeded, timeout=120, what="the run to finish", interval=0.1)
        return {"run": run_of(client, run_id), "seen": seen, "metrics": client.get(f"/api/runs/{run_id}/metrics").json()}


def test_run_goes_queued_running_succeeded(finished: dict[str, Any]) -> None:
    assert finished["seen"] == ["queued", "running", "succeeded"]


def test_every_epoch_is_recorded_once(finished: dict[str, Any]) -> None:
    assert [m["epoch"] for m in finished["metrics"]] == [0, 1]
    assert (finished["run"]["epochs_done"], finished["run"]["summary"]["epochs_done"]) == (2, 2)


def test_finished_run_records_where_it_ran_and_its_files(finished: dict[str, Any]) -> None:
    run = finished["run"]
    assert (run["attempt"], run["gpu"], run["worker_host"] is not None) == (1, "cpu", True)
    assert {a["kind"] for a in run["artifacts"]} >= {"best", "last", "metrics", "summary"}


def test_checkpoint_download_loads_into_torchvision(stack: Stack, finished: dict[str, Any]) -> None:
    with stack.client() as client:
        payload = client.get(f"/api/runs/{finished['run']['id']}/checkpoint", params={"kind": "last"}).content
    state = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    torchvision.models.resnet18(num_classes=2).load_state_dict(state["model"])


def test_test_report_is_the_best_models_and_covers_the_test_split(stack: Stack, finished: dict[str, Any]) -> None:
    with stack.client() as client:
        report = client.get(f"/api/runs/{finished['run']['id']}/test-report").json()
    test_split_size = 6  # TINY: 24 fake images, stratified 0.5 / 0.25 / 0.25
    assert (report["accuracy"], sum(map(sum, report["confusion"]))) == (
        finished["run"]["summary"]["test_acc_at_best_val"], test_split_size,
    )  # fmt: skip


def test_the_fast_path_the_worker_took_is_served_and_shown(stack: Stack, finished: dict[str, Any]) -> None:
    run_id = finished["run"]["id"]
    with stack.client() as client:
        fast_path = client.get(f"/api/runs/{run_id}/fast-path").json()
        page = client.get(f"/runs/{run_id}").text
    # TINY on the CPU: nothing frozen, synthetic images (nothing to decode from files), no GPU.
    assert fast_path == {
        "data": "cpu", "decode": "no cache hit", "precision": "fp32", "frozen_prefix": "none",
        "compile": "off", "fused_optimizer": "off", "test_split": "every epoch (auto: ≤ 25% of an epoch)",
    }  # fmt: skip
    assert "Fast path" in page and "data cpu · decode no cache hit · precision fp32 · frozen prefix none" in page
    assert "Test split evaluated" in page and "every epoch (auto: ≤ 25% of an epoch)" in page


def test_clone_can_start_from_a_runs_checkpoint(stack: Stack, finished: dict[str, Any]) -> None:
    source = finished["run"]["id"]
    with stack.client() as client:
        response = client.post(f"/api/runs/{source}/clone", json={"overrides": {"weights": f"run:{source}", "epochs": 1}})
        clone = wait_status(client, response.json()["id"], "succeeded", "failed")
    best = finished["run"]["summary"]["best_epoch"] + 1  # 1-based: the model after that epoch
    assert (clone["status"], clone["error"]) == ("succeeded", None)
    assert clone["config"]["weights"] == f"runs/{source}/snapshots/best-epoch{best}.pt"  # best.pt as of the submit
    assert clone["weights_source"] == {"run_id": source, "checkpoint": "best", "epoch": best}


def test_training_failure_is_recorded_with_an_actionable_message(stack: Stack) -> None:
    with stack.client() as client:
        run_id = submit(client, {**TINY, "weights": "nowhere/model.pt"})
        run = wait_status(client, run_id, "failed", "succeeded")
    assert run["status"] == "failed"
    assert "nowhere/model.pt" in run["error"]


def test_cancel_stops_a_running_run_and_then_it_can_be_deleted(stack: Stack) -> None:
    with stack.client() as client:
        run_id = submit(client, {**LONG, "epochs": 50})
        wait_status(client, run_id, "running")
        assert client.delete(f"/api/runs/{run_id}").status_code == 409
        assert client.post(f"/api/runs/{run_id}/cancel").json()["cancel_requested"] is True
        run = wait_status(client, run_id, "cancelled", timeout=60)
        assert client.post(f"/api/runs/{run_id}/cancel").status_code == 409
        assert client.delete(f"/api/runs/{run_id}").status_code == 204
    assert run["epochs_done"] < 50


def test_healthz_lists_the_live_worker(stack: Stack) -> None:
    with stack.client() as client:
        body = wait_for(lambda: (h := client.get("/healthz").json())["workers"] and h, timeout=30, what="a worker")
    assert body["workers"][0]["queues"] == [stack.settings.default_queue]


def test_run_of_a_killed_worker_resumes_on_another_without_duplicate_epochs(stack: Stack) -> None:
    with stack.client() as client:
        run_id = submit(client, LONG)
        wait_epochs(client, run_id, 1)
        stack.kill_worker(stack.workers[-1])  # kill -9 the whole worker: nothing acks, nothing requeues
        stack.start_worker()
        run = wait_status(client, run_id, "succeeded", "failed", timeout=180)
        metrics = client.get(f"/api/runs/{run_id}/metrics").json()
    assert (run["status"], run["attempt"]) == ("succeeded", 2)
    assert [m["epoch"] for m in metrics] == [0, 1, 2]


def test_run_of_a_killed_pool_process_is_redelivered_and_resumes(stack: Stack) -> None:
    with stack.client() as client:
        run_id = submit(client, LONG)
        wait_epochs(client, run_id, 1)
        for child in pool_children(stack.workers[-1]):
            subprocess.run(["kill", "-9", str(child)], check=True)
        run = wait_status(client, run_id, "succeeded", "failed", timeout=180)
        metrics = client.get(f"/api/runs/{run_id}/metrics").json()
    assert (run["status"], run["attempt"]) == ("succeeded", 2)
    assert [m["epoch"] for m in metrics] == [0, 1, 2]


@pytest.fixture(autouse=True)
def _worker_alive(stack: Stack) -> None:
    # A test that killed the worker left a replacement; make sure one is running.
    if stack.workers[-1].poll() is not None:
        stack.start_worker()
