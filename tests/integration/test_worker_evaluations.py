"""End to end: a real worker process takes evaluation jobs from the queue, and sweeps a lost one.

A tiny run is trained through the API; then its model is judged on another copy of its
synthetic dataset (same class names). A job left `running` by a worker that died is
queued again by the sweep and finished, not left running forever; so is one whose worker
is killed (-9) mid-evaluation.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from conftest import TINY, Stack, wait_for

from app.db.types import utcnow
from app.models import Evaluation, EvaluationStatus
from tests.rows import row_session

OTHER_FAKE = {"name": "fake", "num_images": 16, "num_classes": 2, "split_seed": 7}
BIG_FAKE = {"name": "fake", "num_images": 4000, "num_classes": 2}  # long enough to be caught running


def evaluation_of(client: httpx.Client, evaluation_id: int) -> dict[str, Any]:
    response = client.get(f"/api/evaluations/{evaluation_id}")
    response.raise_for_status()
    return response.json()


def wait_done(client: httpx.Client, evaluation_id: int, timeout: float = 120) -> dict[str, Any]:
    return wait_for(
        lambda: (e := evaluation_of(client, evaluation_id))["status"] in ("succeeded", "failed") and e,
        timeout=timeout, what=f"evaluation {evaluation_id} to finish",
    )  # fmt: skip


@pytest.fixture(scope="module")
def trained(stack: Stack) -> int:
    with stack.client() as client:
        response = client.post("/api/runs", json={"config": TINY, "name": "to evaluate"})
        run_id = response.json()["id"]
        wait_for(lambda: client.get(f"/api/runs/{run_id}").json()["status"] == "succeeded", timeout=180,
                 what="the tiny run to succeed")  # fmt: skip
    return run_id


def test_a_worker_takes_the_job_and_records_accuracy_and_matrix(stack: Stack, trained: int) -> None:
    with stack.client() as client:
        response = client.post(f"/api/runs/{trained}/evaluations", json={"dataset": OTHER_FAKE})
        assert response.status_code == 201, response.text
        done = wait_done(client, response.json()["id"])
    assert done["status"] == "succeeded", done["error"]
    assert done["result"]["count"] == 16 and sum(map(sum, done["result"]["confusion"])) == 16
    assert done["result"]["class_names"] == ["class_0", "class_1"] and done["attempt"] == 1


def test_a_job_left_running_by_a_dead_worker_is_swept_and_finished(stack: Stack, trained: int) -> None:
    long_ago = utcnow() - timedelta(hours=1)
    with row_session(stack.settings.database_url) as db:
        job = Evaluation(
            run_id=trained, status=EvaluationStatus.running, queue=stack.settings.default_queue, dataset=OTHER_FAKE,
            dataset_label="fake", split="all", checkpoint="best", shared_classes=False, attempt=1,
            heartbeat_at=long_ago, started_at=long_ago, worker_host="a-host-that-died", worker_pid=1,
        )  # fmt: skip
        db.add(job)
        db.commit()
        job_id = job.id
    with stack.client() as client:
        done = wait_done(client, job_id)
    assert (done["status"], done["attempt"], done["error"]) == ("succeeded", 2, None)


def test_an_evaluation_whose_worker_is_killed_is_finished_by_another(stack: Stack, trained: int) -> None:
    with stack.client() as client:
        response = client.post(f"/api/runs/{trained}/evaluations", json={"dataset": BIG_FAKE})
        evaluation_id = response.json()["id"]
        wait_for(lambda: evaluation_of(client, evaluation_id)["status"] == "running", timeout=120,
                 what="the evaluation to start")  # fmt: skip
        stack.kill_worker(stack.workers[-1])  # kill -9 the whole worker mid-evaluation
        stack.start_worker()
        done = wait_done(client, evaluation_id, timeout=300)
    assert (done["status"], done["attempt"], done["result"]["count"]) == ("succeeded", 2, 4000)
