"""The first progress of a run reaches `GET /api/runs/{id}` within seconds, not a heartbeat later
(issue 14, part 2): the worker's heartbeat wakes at the first report of each epoch. A real server
and worker whose heartbeat interval (60 s) is longer than this test waits."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import TINY, Backend, Stack, make_settings, running_stack, wait_for

HEARTBEAT_S = 60.0
# ~500 steps of 2 images per epoch: the first epoch outlasts the wait below by far.
SLOW = {**TINY, "epochs": 2, "batch_size": 2, "dataset": {"name": "fake", "num_images": 1000, "num_classes": 2}}


@pytest.fixture(scope="module")
def slow_beat_stack(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp(f"first-progress-{backend.name}")
    made = make_settings(backend, root / "data", heartbeat_interval_s=HEARTBEAT_S, heartbeat_timeout_s=10 * HEARTBEAT_S)
    with running_stack(made) as running:
        yield running


def test_the_first_progress_arrives_long_before_the_first_heartbeat(slow_beat_stack: Stack) -> None:
    with slow_beat_stack.client() as client:
        response = client.post("/api/runs", json={"config": SLOW})
        assert response.status_code == 201, response.text
        run_id = response.json()["id"]
        wait_for(lambda: client.get(f"/api/runs/{run_id}").json()["status"] == "running", timeout=120,
                 what="the worker to claim the run")  # fmt: skip
        running_since = time.monotonic()
        run: dict[str, Any] = wait_for(
            lambda: (run := client.get(f"/api/runs/{run_id}").json())["progress"] and run,
            timeout=HEARTBEAT_S / 2, what="the first progress report",
        )  # fmt: skip
        waited = time.monotonic() - running_since
        assert run["progress"]["epoch"] == 0 and run["epochs_done"] == 0, run
        assert waited < HEARTBEAT_S / 2
        assert client.post(f"/api/runs/{run_id}/cancel").status_code == 200
