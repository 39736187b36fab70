"""Catalog, plan and health endpoints, and the broker-down submit, on real backends."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import TINY, Backend, local_client, make_settings, reset_database
from fastapi.testclient import TestClient

from app.main import create_app
from app.schemas.catalog import BACKBONES, DATASETS
from app.schemas.train_config import TrainConfig
from app.settings import Settings
from worker.training.plan import make_plan


def test_backbones_list_stages_and_parameter_counts(client: TestClient) -> None:
    body = {b["name"]: b for b in client.get("/api/backbones").json()}
    assert list(body) == list(BACKBONES)
    resnet = body["resnet18"]
    assert [s["name"] for s in resnet["stages"]] == ["conv1", "conv2", "conv3", "conv4", "conv5", "classifier"]
    assert resnet["params"] == sum(s["params"] for s in resnet["stages"]) == 11_689_512


def test_datasets_say_which_are_available_here(client: TestClient, settings: Settings) -> None:
    (settings.data_dir / "hymenoptera_data" / "train" / "ants").mkdir(parents=True)
    body = {d["name"]: d for d in client.get("/api/datasets").json()}
    assert list(body) == list(DATASETS)
    assert (body["digits"]["available"], body["hymenoptera"]["available"], body["cifar10"]["available"]) == (
        True, True, False,
    )


def test_a_dataset_linked_below_the_top_of_the_data_root_is_not_available_and_says_why(
    client: TestClient, settings: Settings, tmp_path: Path
) -> None:
    stored = tmp_path / "srv" / "101_ObjectCategories"
    (stored / "faces").mkdir(parents=True)
    (settings.data_dir / "caltech101").mkdir(parents=True)
    (settings.data_dir / "caltech101" / "101_ObjectCategories").symlink_to(stored, target_is_directory=True)
    caltech = {d["name"]: d for d in client.get("/api/datasets").json()}["caltech101"]
    assert (caltech["available"], caltech["folder"]) == (False, None)
    assert "through 'caltech101/101_ObjectCategories'" in caltech["problem"] and "at the top of the data root" in caltech["problem"]


def test_dataset_scan_counts_images_per_folder(client: TestClient, settings: Settings) -> None:
    for cls, count in (("cats", 2), ("dogs", 3)):
        folder = settings.data_dir / "pets" / cls
        folder.mkdir(parents=True)
        for i in range(count):
            (folder / f"{i}.jpg").write_bytes(b"")
    body = {d["name"]: d for d in client.post("/api/datasets/scan").json()}
    assert body["imagefolder"]["scanned"] == [{"path": "pets", "num_classes": 2, "num_images": 5}]


def test_presets_are_listed_with_configs(client: TestClient) -> None:
    body = {p["name"]: p for p in client.get("/api/presets").json()}
    assert body["demo/digits"]["config"]["dataset"]["name"] == "digits"


def test_plan_is_the_trainers_make_plan(client: TestClient) -> None:
    overrides = {"epochs": 4, "schedule.name": "cosine", "stages.conv1.lr": 0}
    body = client.post("/api/plan", json={"config": TINY, "overrides": overrides}).json()
    config = TrainConfig.model_validate({**TINY, "epochs": 4, "schedule": {"name": "cosine"}, "stages": {"conv1": {"lr": 0}}})
    assert body == make_plan(config, 2).model_dump(mode="json")


def test_plan_with_bad_config_is_422(client: TestClient) -> None:
    response = client.post("/api/plan", json={"config": {**TINY, "epochs": "ten"}})
    assert (response.status_code, response.json()["detail"][0]["loc"]) == (422, ["body", "config", "epochs"])


def test_plan_of_missing_dataset_folder_is_422(client: TestClient) -> None:
    response = client.post("/api/plan", json={"config": {**TINY, "dataset": {"name": "imagefolder", "path": "nowhere"}}})
    assert response.status_code == 422


def test_healthz_reports_database_and_broker_ok(client: TestClient) -> None:
    response = client.get("/healthz")
    assert (response.status_code, response.json()["database"], response.json()["broker"]) == (200, "ok", "ok")


def test_openapi_docs_are_served(client: TestClient) -> None:
    assert "/api/runs" in client.get("/openapi.json").json()["paths"]


def _unreachable_broker(backend: Backend, data_dir: Path) -> str:
    # Real failures, not mocks: a closed port for Redis, an unopenable file for SQLite.
    return "redis://127.0.0.1:1/0" if backend.name == "server" else f"sqla+sqlite:///{data_dir}/missing/dir/broker.db"


@pytest.fixture
def broker_down(backend: Backend, tmp_path: Path) -> Iterator[tuple[TestClient, Settings]]:
    settings = make_settings(backend, tmp_path / "data")
    settings = settings.model_copy(update={"broker_url": _unreachable_broker(backend, tmp_path)})
    reset_database(settings)
    with local_client(create_app(settings)) as test_client:
        yield test_client, settings


def test_submit_with_broker_down_is_503_and_stores_nothing(broker_down: tuple[TestClient, Settings]) -> None:
    client, _ = broker_down
    response = client.post("/api/runs", json={"config": TINY})
    assert response.status_code == 503
    assert "queue is unreachable" in response.json()["detail"]
    assert client.get("/api/runs").json()["total"] == 0


def test_healthz_with_broker_down_is_503(broker_down: tuple[TestClient, Settings]) -> None:
    client, _ = broker_down
    response = client.get("/healthz")
    assert (response.status_code, response.json()["database"], response.json()["broker"][:5]) == (503, "ok", "error")



def test_api_docs_page_loads_its_assets_from_this_server_not_a_cdn(client: TestClient) -> None:
    page = client.get("/docs").text
    sources = re.findall(r'(?:src|href)="([^"]+)"', page) + re.findall(r'url: "([^"]+)"', page)
    sources = [url for url in sources if url != "data:,"]  # the empty favicon
    assert sources and all(url.startswith("/") for url in sources), sources
    assert all(client.get(url).status_code == 200 for url in sources)


def test_healthz_with_accounts_counts_workers_but_names_no_host(settings: Settings) -> None:
    accounts_on = settings.model_copy(update={"auth": "accounts"})
    with TestClient(create_app(accounts_on)) as client:
        body = client.get("/healthz").json()
    assert (body["status"], body["worker_count"], body["workers"]) == ("ok", 0, [])


def test_repeated_health_checks_leave_the_broker_unlocked(client: TestClient) -> None:
    # kombu's SQLAlchemy channel used to keep a read open after each check; on SQLite a
    # later check (or publish) then waited out the 30 s busy timeout and answered 503.
    statuses = {client.get("/healthz").status_code for _ in range(200)}
    assert statuses == {200}
    assert client.post("/api/runs", json={"config": TINY}).status_code == 201
