"""The LR range test as a job (`POST /api/lr-finds`): checked like a run's config, run by a real
worker process (not the API), its curve and suggestion read back; on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import TINY, Stack, local_client, wait_for
from fastapi.testclient import TestClient

from app.db.types import utcnow
from app.main import create_app
from app.schemas.lr_finds import LrFindJob
from app.settings import Settings

STAGES = {"conv1": 0, "conv4": {"mult": 0.1}, "classifier": {"lr": 0.1}}  # frozen, relative, absolute


def test_a_worker_runs_the_test_and_the_api_returns_the_curve(stack: Stack) -> None:
    body = {"config": {**TINY, "optimizer": {"lr": 0.01}, "stages": STAGES}, "start": 1e-5, "end": 1.0, "steps": 12}
    with stack.client() as client:
        response = client.post("/api/lr-finds", json=body)
        assert response.status_code == 201, response.text
        assert response.json()["state"] == "queued"
        job_id = response.json()["id"]
        job = wait_for(lambda: (j := client.get(f"/api/lr-finds/{job_id}").json())["state"] in ("succeeded", "failed")
                       and j, timeout=180, what="the LR range test to finish")  # fmt: skip
    assert job["state"] == "succeeded", job["error"]
    result = job["result"]
    assert 2 <= len(result["lrs"]) <= 12 and result["lrs"][0] == pytest.approx(1e-5)
    assert len(result["losses"]) == len(result["smoothed"]) == len(result["lrs"])
    assert (result["ratios"]["conv1"], result["ratios"]["conv4"], result["ratios"]["classifier"]) == (
        0.0, pytest.approx(0.1), pytest.approx(10.0))  # fmt: skip
    if result["suggestion"] is not None:
        assert result["stage_lrs"]["classifier"] == pytest.approx(10 * result["suggestion"])
    assert job["started_at"] is not None and job["base_lr"] == 0.01


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"config": {**TINY, "epochs": 0}}, ["body", "config", "epochs"]),
        ({"config": TINY, "start": 1.0, "end": 0.1}, ["body"]),
        ({"config": TINY, "steps": 2}, ["body", "steps"]),
        ({"preset": "no/such", "overrides": {}}, ["body", "preset"]),
    ],
)
def test_a_bad_request_is_422_naming_the_field_and_queues_nothing(
    client: TestClient, settings: Settings, body: dict, loc: list[str]
) -> None:
    response = client.post("/api/lr-finds", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][: len(loc)] == loc
    assert not list(Path(settings.data_dir, "lr_finds").glob("*.json"))


@pytest.mark.parametrize(("job_id", "status"), [("0" * 32, 404), ("..%2F..%2Fstagewise.db", 404), ("abc", 422)])
def test_an_unknown_or_malformed_id_is_refused(client: TestClient, job_id: str, status: int) -> None:
    assert client.get(f"/api/lr-finds/{job_id}").status_code == status


def test_the_new_run_form_queues_its_config_with_errors_beside_the_fields(client: TestClient) -> None:
    form = {"epochs": "2", "weights": "none", "dataset.name": "fake", "dataset.num_images": "24",
            "dataset.num_classes": "2", "image_size": "32", "batch_size": "8", "lr_find.steps": "10"}  # fmt: skip
    queued = client.post("/runs/new/lr-find", data=form, headers={"Accept": "application/json"})
    assert queued.status_code == 201, queued.text
    assert client.get(f"/api/lr-finds/{queued.json()['id']}").json()["steps"] == 10
    bad = client.post("/runs/new/lr-find", data={**form, "lr_find.steps": "x"}, headers={"Accept": "application/json"})
    assert (bad.status_code, bad.json()["detail"][0]["loc"]) == (422, ["lr_find", "steps"])


def test_tests_queued_count_against_the_quota_and_old_finished_records_are_removed(settings: Settings) -> None:
    limited = settings.model_copy(update={"max_active_runs_per_user": 2})
    folder = Path(settings.data_dir, "lr_finds")
    folder.mkdir(parents=True, exist_ok=True)
    long_ago, recent = utcnow() - timedelta(days=31), utcnow() - timedelta(days=1)
    for when in (long_ago, recent):
        record = LrFindJob(id=uuid.uuid4().hex, state="succeeded", base_lr=0.1, start=1e-7,
                           end=1.0, steps=10, created_at=when, finished_at=when, owner_id=None, queue="q", config={})
        (folder / f"{record.id}.json").write_text(record.model_dump_json())  # fmt: skip
    body = {"config": TINY, "steps": 10}
    with local_client(create_app(limited)) as client:  # no worker: the tests stay queued
        assert [client.post("/api/lr-finds", json=body).status_code for _ in range(2)] == [201, 201]
        refused = client.post("/api/lr-finds", json=body)
    assert refused.status_code == 429 and "2 LR range tests queued or running" in refused.text
    kept = {LrFindJob.model_validate_json(p.read_text()).finished_at for p in folder.glob("*.json")}
    assert len(list(folder.glob("*.json"))) == 3 and recent in kept and long_ago not in kept  # 2 queued + recent


def test_a_test_whose_worker_is_killed_ends_failed_not_running_for_ever(stack: Stack) -> None:
    """Last in the module: it kills the stack's worker (and starts another afterwards)."""
    body = {"config": {**TINY, "optimizer": {"lr": 0.01}}, "start": 1e-7, "end": 1e-3, "steps": 1000}  # long, no divergence
    with stack.client() as client:
        job_id = client.post("/api/lr-finds", json=body).json()["id"]
        wait_for(lambda: client.get(f"/api/lr-finds/{job_id}").json()["state"] == "running", timeout=180,
                 what="the LR range test to start")  # fmt: skip
        stack.kill_worker(stack.workers[-1])  # kill -9 the worker and its child mid-test
        job = wait_for(lambda: (j := client.get(f"/api/lr-finds/{job_id}").json())["state"] != "running" and j,
                       timeout=stack.settings.heartbeat_timeout_s + 60, what="the dead worker's test to end")  # fmt: skip
    stack.start_worker()
    assert job["state"] == "failed" and "stopped" in job["error"] and job["result"] is None, job
