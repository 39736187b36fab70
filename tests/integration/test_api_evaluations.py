"""Evaluations: a run trained on real Ants & Bees photos, judged on other folders of the same classes.

The run is trained once for the module (tests/trained_run.py) and copied into each test's
run folder. The job is published on the test's real broker and carried out here by the
worker's own function (`worker.tasks.evaluate_claimed`) on a claim taken through the service,
so the API, the database and the worker code are all real; tests/integration/
test_worker_evaluations.py lets a worker process take it from the queue.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import make_run
from fastapi.testclient import TestClient
from PIL import Image, ImageOps
from sqlalchemy.orm import Session

from app.db import Database
from app.db.types import utcnow
from app.models import Evaluation, EvaluationStatus, RunStatus
from app.schemas.metrics import TestReport
from app.services import evaluation_jobs
from app.services.execution import Worker
from app.services.unit_of_work import UnitOfWork
from app.settings import Settings
from tests import trained_run
from worker.tasks import WorkerContext, evaluate_claimed

HYMENOPTERA = {"name": "hymenoptera", "fractions": [0.1, 0.1, 0.2]}  # the trained run's own dataset


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, shared_datasets: Path) -> Path:
    root = tmp_path_factory.mktemp("photos")
    (root / "hymenoptera_data").symlink_to(shared_datasets / "hymenoptera_data", target_is_directory=True)
    return trained_run.train(root, tmp_path_factory.mktemp("trained"))


@pytest.fixture
def run_id(db: Session, settings: Settings, trained: Path, shared_datasets: Path) -> int:
    """A succeeded run whose folder holds the trained checkpoints; the data root holds the photos."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "hymenoptera_data").symlink_to(shared_datasets / "hymenoptera_data", target_is_directory=True)
    run = make_run(db, status=RunStatus.succeeded, config=trained_run.CONFIG.model_dump(mode="json"))
    shutil.copytree(trained, settings.runs_dir / str(run.id))
    return run.id


@pytest.fixture
def context(settings: Settings, uow: UnitOfWork) -> Iterator[WorkerContext]:
    database = Database.connect(settings.database_url)
    yield WorkerContext(settings, database, uow.tasks, os.getpid())
    database.dispose()


def shifted_copy(settings: Settings, name: str, classes: dict[str, str], per_class: int = 5) -> str:
    """A folder of grayscale copies of real val photos under the data root; `classes`: new name → source class."""
    source = settings.data_dir / "hymenoptera_data" / "val"
    for new, old in classes.items():
        (settings.data_dir / name / new).mkdir(parents=True)
        for photo in sorted((source / old).glob("*.jpg"))[:per_class]:
            ImageOps.grayscale(Image.open(photo)).convert("RGB").save(settings.data_dir / name / new / photo.name)
    return name


def carry_out(context: WorkerContext, evaluation_id: int) -> str:
    """What a worker does with the job's message: claim it, evaluate, record."""
    with context.unit_of_work() as uow:
        claim = evaluation_jobs.claim_evaluation(
            uow=uow, evaluation_id=evaluation_id, worker=Worker("here", os.getpid(), None), owner_alive=lambda *_: True
        )
    assert claim is not None
    return evaluate_claimed(context, claim)


def evaluate(client: TestClient, run_id: int, **body: Any) -> dict[str, Any]:
    response = client.post(f"/api/runs/{run_id}/evaluations", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_the_runs_own_test_split_gives_the_test_reports_accuracy_and_matrix(
    client: TestClient, run_id: int, context: WorkerContext, trained: Path
) -> None:
    made = evaluate(client, run_id, dataset=HYMENOPTERA, split="test")
    assert made["status"] == "queued" and made["dataset_label"] == "hymenoptera (test)"
    assert carry_out(context, made["id"]) == "succeeded"
    body = client.get(f"/api/evaluations/{made['id']}").json()
    report = TestReport.model_validate_json((trained / "test_report.json").read_text())
    assert body["status"] == "succeeded" and body["accuracy"] == pytest.approx(report.accuracy)
    result = body["result"]
    assert (result["confusion"], result["class_names"]) == (report.confusion, report.class_names)
    assert result["count"] == 80 and result["class_mapping"] == {"ants": 0, "bees": 1}
    summary = trained_run_summary(trained)
    assert result["split_hash"] == summary["split_hash"] and result["epoch"] == 1


def trained_run_summary(trained: Path) -> dict[str, Any]:
    import json

    return json.loads((trained / "summary.json").read_text())


def test_a_grayscale_folder_upload_is_judged_and_listed(
    client: TestClient, run_id: int, context: WorkerContext, settings: Settings
) -> None:
    folder = shifted_copy(settings, "uploads/gray", {"ants": "ants", "bees": "bees"})
    made = evaluate(client, run_id, dataset={"name": "imagefolder", "path": folder})
    carry_out(context, made["id"])
    body = client.get(f"/api/evaluations/{made['id']}").json()
    assert body["result"]["count"] == 10 and sum(map(sum, body["result"]["confusion"])) == 10
    assert body["dataset_label"] == "uploads/gray" and 0 <= body["accuracy"] <= 1
    listed = client.get("/api/evaluations", params={"run_ids": str(run_id)}).json()
    assert [e["id"] for e in listed] == [made["id"]]
    assert client.get("/api/evaluations", params={"run_ids": "999"}).json() == []


def test_different_class_folders_are_422_naming_missing_and_extra(
    client: TestClient, run_id: int, settings: Settings, db: Session
) -> None:
    folder = shifted_copy(settings, "uploads/wasps", {"ants": "ants", "wasps": "bees"})
    response = client.post(f"/api/runs/{run_id}/evaluations", json={"dataset": {"name": "imagefolder", "path": folder}})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "dataset"] and "missing: bees; extra: wasps" in error["msg"]
    assert db.query(Evaluation).count() == 0


def test_shared_classes_judge_only_the_common_ones_and_say_so(
    client: TestClient, run_id: int, settings: Settings, context: WorkerContext
) -> None:
    folder = shifted_copy(settings, "uploads/wasps", {"ants": "ants", "wasps": "bees"})
    made = evaluate(client, run_id, dataset={"name": "imagefolder", "path": folder}, shared_classes=True)
    carry_out(context, made["id"])
    body = client.get(f"/api/evaluations/{made['id']}").json()
    assert body["shared_classes"] is True and body["result"]["count"] == 5
    assert (body["result"]["missing_classes"], body["result"]["extra_classes"]) == (["bees"], ["wasps"])
    assert body["result"]["per_class_accuracy"]["bees"] is None


def test_a_run_without_the_checkpoint_is_409_and_a_missing_one_404(client: TestClient, db: Session) -> None:
    queued = make_run(db)
    response = client.post(f"/api/runs/{queued.id}/evaluations", json={"dataset": HYMENOPTERA})
    assert response.status_code == 409 and "no best checkpoint" in response.json()["detail"]
    assert client.post("/api/runs/999/evaluations", json={"dataset": HYMENOPTERA}).status_code == 404
    assert client.get("/api/evaluations/999").status_code == 404


def test_a_missing_dataset_folder_is_422_at_the_dataset(client: TestClient, run_id: int) -> None:
    response = client.post(f"/api/runs/{run_id}/evaluations", json={"dataset": {"name": "imagefolder", "path": "nope"}})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "dataset"]


def test_transfer_queues_runs_times_datasets_all_or_none(
    client: TestClient, run_id: int, settings: Settings, db: Session
) -> None:
    gray = shifted_copy(settings, "uploads/gray", {"ants": "ants", "bees": "bees"})
    wasps = shifted_copy(settings, "uploads/wasps", {"ants": "ants", "wasps": "bees"})
    datasets = [HYMENOPTERA, {"name": "imagefolder", "path": gray}]
    made = client.post("/api/evaluations/transfer", json={"run_ids": [run_id], "datasets": datasets})
    assert made.status_code == 201 and [e["dataset_label"] for e in made.json()] == ["hymenoptera", "uploads/gray"]
    refused = client.post("/api/evaluations/transfer",
                          json={"run_ids": [run_id], "datasets": [*datasets, {"name": "imagefolder", "path": wasps}]})
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["body", "datasets", 2]
    assert db.query(Evaluation).count() == 2


def test_a_failure_is_recorded_with_its_reason(
    client: TestClient, run_id: int, settings: Settings, context: WorkerContext
) -> None:
    folder = shifted_copy(settings, "uploads/gray", {"ants": "ants", "bees": "bees"})
    made = evaluate(client, run_id, dataset={"name": "imagefolder", "path": folder})
    shutil.rmtree(settings.data_dir / folder)  # gone before the worker got to it
    assert carry_out(context, made["id"]) == "failed"
    body = client.get(f"/api/evaluations/{made['id']}").json()
    assert body["status"] == "failed" and folder in body["error"]


def test_a_job_whose_worker_went_silent_is_queued_again_then_failed(
    db: Session, uow: UnitOfWork, settings: Settings
) -> None:
    run = make_run(db, status=RunStatus.succeeded)
    long_ago = utcnow() - timedelta(hours=1)
    job = Evaluation(
        run_id=run.id, status=EvaluationStatus.running, queue=settings.default_queue, dataset={"name": "digits"},
        dataset_label="digits", split="all", checkpoint="best", shared_classes=False, attempt=1,
        heartbeat_at=long_ago, started_at=long_ago, worker_host="gone", worker_pid=1,
    )  # fmt: skip
    db.add(job)
    db.commit()
    assert evaluation_jobs.sweep_stale_evaluations(uow=uow) == [(job.id, "queued")]
    db.query(Evaluation).filter_by(id=job.id).update({"status": "running", "attempt": settings.max_attempts,
                                                      "heartbeat_at": long_ago})  # fmt: skip
    db.commit()
    assert evaluation_jobs.sweep_stale_evaluations(uow=uow) == [(job.id, "failed")]
    db.expire_all()
    assert "lost 3 times" in db.get(Evaluation, job.id).error


def test_a_live_workers_job_is_not_taken_by_a_second_delivery(db: Session, uow: UnitOfWork, settings: Settings) -> None:
    run = make_run(db, status=RunStatus.succeeded)
    job = Evaluation(
        run_id=run.id, status=EvaluationStatus.queued, queue=settings.default_queue, dataset={"name": "digits"},
        dataset_label="digits", split="all", checkpoint="best", shared_classes=False, attempt=0,
    )  # fmt: skip
    db.add(job)
    db.commit()
    first = evaluation_jobs.claim_evaluation(uow=uow, evaluation_id=job.id, worker=Worker("a", 1, None),
                                             owner_alive=lambda *_: True)  # fmt: skip
    second = evaluation_jobs.claim_evaluation(uow=uow, evaluation_id=job.id, worker=Worker("b", 2, None),
                                              owner_alive=lambda *_: True)  # fmt: skip
    assert first is not None and first.attempt == 1 and second is None
