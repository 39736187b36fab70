"""Issue 14, part 1: ImageNet weights this server neither holds nor may download are refused at
submit time — 422 at `weights` naming the file and its folder — on every submit path, before
anything is stored or queued. The test settings keep downloads off and an empty weights folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from conftest import TINY, Backend, local_client, make_run, make_settings
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.main import create_app
from app.models import Run, RunStatus
from app.queue import is_sql_broker, runs_waiting_in_sql_broker
from app.settings import Settings
from tests.weights_files import place_imagenet_weights

IMAGENET = {**TINY, "weights": "imagenet"}
FILE = "resnet18-f37072fd.pth"


def messages_waiting(settings: Settings) -> int:
    """Training tasks waiting in the broker (either kind), read beside the app. The Redis queue
    is the test session's, so tests compare counts before and after."""
    if is_sql_broker(settings):
        return len(runs_waiting_in_sql_broker(settings))
    return int(redis.Redis.from_url(settings.broker_url).llen(settings.default_queue))


def run_rows(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(Run)) or 0


def assert_refused_at_weights(response, loc: list[str], settings: Settings) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 422, response.text
    (error,) = [e for e in response.json()["detail"] if e["loc"][-1] == "weights"]
    assert error["loc"] == loc
    assert FILE in error["msg"] and str(settings.weights_folder) in error["msg"], error["msg"]
    assert "weights: none" in error["msg"]


def test_a_config_is_refused_at_weights_and_nothing_is_stored_or_queued(
    client: TestClient, settings: Settings, db: Session
) -> None:
    before = messages_waiting(settings)
    assert_refused_at_weights(client.post("/api/runs", json={"config": IMAGENET}), ["body", "config", "weights"], settings)
    assert (run_rows(db), messages_waiting(settings)) == (0, before)
    assert client.post("/api/runs", json={"config": TINY}).status_code == 201  # the counts can move
    assert (run_rows(db), messages_waiting(settings)) == (1, before + 1)


def test_the_readme_preset_is_refused_naming_the_file(client: TestClient, settings: Settings, db: Session) -> None:
    body = {"preset": "cifar10-4000/model-d", "overrides": {"epochs": 2, "image_size": 64}}
    before = messages_waiting(settings)
    assert_refused_at_weights(client.post("/api/runs", json=body), ["body", "preset", "weights"], settings)
    assert (run_rows(db), messages_waiting(settings)) == (0, before)


def test_an_override_to_imagenet_is_refused_at_the_override(client: TestClient, settings: Settings) -> None:
    body = {"config": TINY, "overrides": {"weights": "imagenet"}}
    assert_refused_at_weights(client.post("/api/runs", json=body), ["body", "overrides", "weights"], settings)


def test_a_clone_is_refused_and_stores_nothing(client: TestClient, settings: Settings, db: Session) -> None:
    source = make_run(db, config=IMAGENET, status=RunStatus.succeeded)
    before = messages_waiting(settings)
    response = client.post(f"/api/runs/{source.id}/clone", json={})
    assert_refused_at_weights(response, ["body", "config", "weights"], settings)
    assert (run_rows(db), messages_waiting(settings)) == (1, before)


def test_the_reference_study_is_refused_whole(client: TestClient, settings: Settings, db: Session) -> None:
    before = messages_waiting(settings)
    response = client.post("/api/studies", json={"study": "cifar10-4000/reference", "overrides": {"epochs": 1}})
    assert_refused_at_weights(response, ["body", "preset", "weights"], settings)
    assert (run_rows(db), messages_waiting(settings)) == (0, before)


def test_the_form_without_javascript_shows_the_message_beside_weights(client: TestClient, settings: Settings,
                                                                       db: Session) -> None:  # fmt: skip
    form = {"backbone": "resnet18", "weights": "imagenet", "epochs": "1", "dataset.name": "digits"}
    before = messages_waiting(settings)
    response = client.post("/runs/new", data=form, follow_redirects=False)
    assert response.status_code == 422 and FILE in response.text
    assert (run_rows(db), messages_waiting(settings)) == (0, before)
    json_answer = client.post("/runs/new", data=form, headers={"Accept": "application/json"})
    assert_refused_at_weights(json_answer, ["body", "config", "weights"], settings)


@pytest.mark.parametrize("path", ["/api/runs", "studies"])
def test_weights_in_the_folder_are_accepted(client: TestClient, settings: Settings, path: str) -> None:
    place_imagenet_weights(settings, "resnet18")
    if path == "/api/runs":
        response = client.post("/api/runs", json={"config": IMAGENET})
    else:
        response = client.post("/api/studies", json={"study": "cifar10-4000/reference", "overrides": {"epochs": 1}})
    assert response.status_code == 201, response.text


def test_the_form_preselects_imagenet_only_when_the_file_is_here(client: TestClient, settings: Settings) -> None:
    page = client.get("/runs/new").text
    assert '<option value="none" selected>' in page and "missing" in page
    place_imagenet_weights(settings, "resnet18")
    assert '<option value="imagenet" selected>' in client.get("/runs/new").text


def test_the_plan_preview_still_draws_a_schedule_without_the_weights(client: TestClient) -> None:
    response = client.post("/api/plan", json={"config": IMAGENET})
    assert response.status_code == 200 and response.json()["epochs"] == TINY["epochs"]


def test_a_configs_allow_download_cannot_overrule_the_admin(
    client: TestClient, settings: Settings, db: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The file sits in torch hub's folder, which only a server allowing downloads reads.
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    settings.torch_hub_folder.mkdir(parents=True)
    (settings.torch_hub_folder / FILE).write_bytes(b"placeholder: never loaded")
    before = messages_waiting(settings)
    response = client.post("/api/runs", json={"config": {**IMAGENET, "allow_download": True}})
    assert_refused_at_weights(response, ["body", "config", "weights"], settings)
    assert "STAGEWISE_ALLOW_DOWNLOAD=false" in response.text
    assert (run_rows(db), messages_waiting(settings)) == (0, before)


def test_a_configs_allow_download_false_turns_an_admins_downloads_off(
    backend: Backend, tmp_path: Path, db: Session
) -> None:
    settings = make_settings(backend, tmp_path / "data", allow_download=True)
    with local_client(create_app(settings)) as client:
        response = client.post("/api/runs", json={"config": {**IMAGENET, "allow_download": False}})
    assert_refused_at_weights(response, ["body", "config", "weights"], settings)
    assert "allow_download: false" in response.text and run_rows(db) == 0
