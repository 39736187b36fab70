"""A running run's progress inside its epoch reaches `GET /api/runs/{id}` through the worker's
heartbeat (issue 14, part 2): a real server and worker, a run slow enough to be watched."""

from __future__ import annotations

from typing import Any

import httpx
from conftest import TINY, Stack, wait_for

# ~300 steps of 2 images per epoch: many heartbeats (0.5 s apart in tests) before the first epoch ends.
SLOW = {**TINY, "epochs": 3, "batch_size": 2, "dataset": {"name": "fake", "num_images": 1000, "num_classes": 2}}


def run_of(client: httpx.Client, run_id: int) -> dict[str, Any]:
    response = client.get(f"/api/runs/{run_id}")
    response.raise_for_status()
    return response.json()


def test_progress_moves_before_the_first_epoch_ends_and_clears_at_the_end(stack: Stack) -> None:
    with stack.client() as client:
        response = client.post("/api/runs", json={"config": SLOW})
        assert response.status_code == 201, response.text
        run_id = response.json()["id"]
        seen: list[dict[str, Any]] = []

        def two_reports_in_epoch_one() -> bool:
            run = run_of(client, run_id)
            if run["progress"] and run["epochs_done"] == 0 and run["progress"] not in seen:
                seen.append(run["progress"])
            return len(seen) >= 2

        wait_for(two_reports_in_epoch_one, timeout=120, what="two progress reports inside the first epoch")
        first, second = seen[0], seen[1]
        assert set(first) == {"epoch", "step", "steps", "images_per_s", "eta_s"}
        assert first["epoch"] == 0 and 0 <= first["step"] < second["step"] <= second["steps"]
        assert second["images_per_s"] > 0 and second["eta_s"] > 0
        assert client.post(f"/api/runs/{run_id}/cancel").status_code == 200
        finished = wait_for(lambda: (run := run_of(client, run_id))["status"] == "cancelled" and run,
                            timeout=60, what="the run to stop")  # fmt: skip
        assert finished["progress"] is None
