"""Evaluations are as private as the runs they judge: another user's run or evaluation is a 404."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from people import Person, finished_run, rows

from app.models import Evaluation, EvaluationStatus
from app.settings import Settings

DATASET = {"name": "fake", "num_images": 16, "num_classes": 2}


@pytest.fixture
def alices_evaluation(accounts_settings: Settings, alice: Person) -> tuple[int, int]:
    run_id = finished_run(accounts_settings, alice)
    with rows(accounts_settings) as db:
        job = Evaluation(
            run_id=run_id, owner_id=alice.id, status=EvaluationStatus.succeeded, queue="default", dataset=DATASET,
            dataset_label="fake", split="all", checkpoint="best", shared_classes=False, attempt=1, accuracy=0.5,
        )  # fmt: skip
        db.add(job)
        db.commit()
        return run_id, job.id


def test_evaluating_another_users_run_is_404_like_a_missing_one(
    client: TestClient, alices_evaluation: tuple[int, int], bob: Person
) -> None:
    run_id, _ = alices_evaluation
    for target in (run_id, 999_999):
        response = client.post(f"/api/runs/{target}/evaluations", json={"dataset": DATASET}, headers=bob.bearer)
        assert (response.status_code, response.json()["detail"]) == (404, f"run {target} not found")
    transfer = client.post("/api/evaluations/transfer", json={"run_ids": [run_id], "datasets": [DATASET]},
                           headers=bob.bearer)  # fmt: skip
    assert (transfer.status_code, transfer.json()["detail"]) == (404, f"run {run_id} not found")


def test_another_users_evaluation_is_404_and_not_listed(
    client: TestClient, alices_evaluation: tuple[int, int], alice: Person, bob: Person
) -> None:
    run_id, evaluation_id = alices_evaluation
    assert client.get(f"/api/evaluations/{evaluation_id}", headers=alice.bearer).status_code == 200
    response = client.get(f"/api/evaluations/{evaluation_id}", headers=bob.bearer)
    assert (response.status_code, response.json()["detail"]) == (404, f"evaluation {evaluation_id} not found")
    assert client.get("/api/evaluations", params={"run_ids": str(run_id)}, headers=bob.bearer).json() == []
    assert [e["id"] for e in client.get("/api/evaluations", headers=alice.bearer).json()] == [evaluation_id]


def test_another_users_run_cannot_be_named_as_a_checkpoint(
    client: TestClient, alices_evaluation: tuple[int, int], bob: Person
) -> None:
    run_id, _ = alices_evaluation
    config = {"backbone": "resnet18", "weights": f"run:{run_id}:best", "epochs": 1, "dataset": DATASET}
    response = client.post("/api/runs", json={"config": config}, headers=bob.bearer)
    assert response.status_code == 422 and response.json()["detail"][0]["msg"] == f"run {run_id} does not exist"
