"""Free space: /healthz reports it per volume and says degraded when low; a submit then answers 507.

The volumes are real: the test's own disk with a threshold above its free space, and a
2 MiB tmpfs holding the whole data root (database included) with an ordinary threshold.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import TINY, Backend, local_client, make_settings, reset_database
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.main import create_app
from app.models import Run
from tests.rows import row_session
from tests.tiny_disk import tiny_disk


def _client(backend: Backend, data_dir: Path, min_free_disk_gb: float) -> Iterator[TestClient]:
    settings = make_settings(backend, data_dir, min_free_disk_gb=min_free_disk_gb)
    reset_database(settings)
    with local_client(create_app(settings)) as client:
        client.stored_runs = lambda: _count_runs(settings.database_url)  # type: ignore[attr-defined]
        yield client


def _count_runs(url: str) -> int:
    with row_session(url) as db:
        return db.scalar(select(func.count()).select_from(Run)) or 0


@pytest.fixture
def roomy(backend: Backend, tmp_path: Path) -> Iterator[TestClient]:
    yield from _client(backend, tmp_path / "data", min_free_disk_gb=0)


@pytest.fixture
def full(backend: Backend, tmp_path: Path) -> Iterator[TestClient]:
    with tiny_disk(tmp_path / "data", "2m") as data_dir:
        yield from _client(backend, data_dir, min_free_disk_gb=0.01)


def test_healthz_reports_free_space_of_the_data_and_database_volumes(roomy: TestClient, backend: Backend) -> None:
    body = roomy.get("/healthz").json()
    volumes = {v["name"]: v for v in body["volumes"]}
    assert set(volumes) == ({"data", "database"} if backend.name == "embedded" else {"data"})
    assert body["status"] == "ok" and all(0 < v["free_bytes"] <= v["total_bytes"] and not v["low"] for v in volumes.values())


def test_healthz_is_degraded_but_answering_when_the_data_volume_is_low(full: TestClient) -> None:
    response = full.get("/healthz")
    data = next(v for v in response.json()["volumes"] if v["name"] == "data")
    assert (response.status_code, response.json()["status"], data["low"]) == (200, "degraded", True)
    assert data["total_bytes"] == 2 * 1024 * 1024


def test_a_submit_on_a_low_data_volume_is_507_saying_so_and_stores_nothing(full: TestClient) -> None:
    response = full.post("/api/runs", json={"config": TINY})
    assert response.status_code == 507
    assert "the data volume has 0.00 GB free, under the server's minimum of 0.01 GB" in response.json()["detail"]
    assert full.stored_runs() == 0  # type: ignore[attr-defined]


def test_an_lr_range_test_on_a_low_data_volume_is_507_and_keeps_no_record(full: TestClient) -> None:
    response = full.post("/api/lr-finds", json={"config": TINY, "steps": 10})
    assert response.status_code == 507 and "under the server's minimum of 0.01 GB" in response.json()["detail"]
    assert not list(Path(full.app.state.settings.data_dir, "lr_finds").glob("*.json"))  # type: ignore[attr-defined]
