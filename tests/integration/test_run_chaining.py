"""Runs started from another run's checkpoint: `run:<id>`, `run:<id>:best`, `run:<id>:last`."""

from __future__ import annotations

import pytest
from conftest import TINY, make_run
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.models import RunStatus
from app.settings import Settings


def with_checkpoints(settings: Settings, run_id: int) -> None:
    folder = settings.runs_dir / str(run_id)
    folder.mkdir(parents=True)
    for name in ("best.pt", "checkpoint.pt"):
        (folder / name).write_bytes(b"not read by the API")


@pytest.mark.parametrize(("kind", "file"), [("best", "best.pt"), ("last", "checkpoint.pt")])
def test_a_named_checkpoint_becomes_its_file(
    client: TestClient, db: Session, settings: Settings, kind: str, file: str
) -> None:
    source = make_run(db, status=RunStatus.succeeded)
    with_checkpoints(settings, source.id)
    body = client.post("/api/runs", json={"config": {**TINY, "weights": f"run:{source.id}:{kind}"}}).json()
    assert body["config"]["weights"] == f"runs/{source.id}/{file}"


def test_a_plain_run_reference_to_a_run_still_training_is_409_naming_weights(
    client: TestClient, db: Session, settings: Settings
) -> None:
    source = make_run(db, status=RunStatus.running)
    with_checkpoints(settings, source.id)
    response = client.post("/api/runs", json={"config": {**TINY, "weights": f"run:{source.id}"}})
    assert response.status_code == 409
    assert response.json()["detail"].startswith("config.weights: run") and f"run:{source.id}:best" in response.json()["detail"]


def test_a_named_checkpoint_of_a_running_run_is_taken_as_of_now(
    client: TestClient, db: Session, settings: Settings
) -> None:
    source = make_run(db, status=RunStatus.running)
    with_checkpoints(settings, source.id)
    response = client.post("/api/runs", json={"config": {**TINY, "weights": f"run:{source.id}:last"}})
    assert response.status_code == 201 and response.json()["config"]["weights"] == f"runs/{source.id}/checkpoint.pt"


def test_an_unknown_checkpoint_name_is_422(client: TestClient, db: Session, settings: Settings) -> None:
    source = make_run(db, status=RunStatus.succeeded)
    with_checkpoints(settings, source.id)
    response = client.post("/api/runs", json={"config": {**TINY, "weights": f"run:{source.id}:worst"}})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "config", "weights"]
