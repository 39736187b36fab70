"""A real `stagewise serve` for the browser tests: start it, stop it, and arrange state through its API."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.settings import Settings, child_environment
from tests.polling import wait_for

RUN_TIMEOUT_S = 240  # a tiny run on a busy 2-core CI machine

# Small enough to train in seconds on a CPU, big enough that epochs arrive one by one.
TINY_CONFIG: dict[str, Any] = {
    "backbone": "resnet18", "weights": "none", "batch_size": 8, "image_size": 32, "epochs": 3,
    "dataset": {"name": "fake", "num_images": 24, "num_classes": 2},
}  # fmt: skip


@dataclass
class Server:
    """A running `stagewise serve` (API, dashboard, one local worker) and a JSON client."""

    base_url: str
    api: httpx.Client
    process: subprocess.Popen[bytes]
    log: Path

    def submit(self, name: str, **config: Any) -> int:
        """Queue a tiny run through the API; returns its id."""
        response = self.api.post("/api/runs", json={"name": name, "config": {**TINY_CONFIG, **config}})
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    def run(self, run_id: int) -> dict[str, Any]:
        return self.api.get(f"/api/runs/{run_id}").json()

    def wait_finished(self, run_id: int, timeout: float = RUN_TIMEOUT_S) -> dict[str, Any]:
        """Poll the API until the run has finished (the worker is a separate process)."""
        finished = ("succeeded", "failed", "cancelled")
        return wait_for(lambda: (run := self.run(run_id))["status"] in finished and run,
                        timeout=timeout, what=f"run {run_id} to finish")  # fmt: skip

    def stop(self) -> None:
        """Ctrl-C as a user would (serve stops its worker), then make sure the group is gone."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()
        self.api.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ready(base_url: str, worker: bool) -> bool:
    """The API answers and (if one was started) has seen a worker, so a submitted run will start."""
    try:
        health = httpx.get(f"{base_url}/healthz", timeout=2)
    except httpx.HTTPError:
        return False
    return not worker or (health.status_code == 200 and bool(health.json().get("workers")))


def start_server(root: Path, *, worker: bool = True, **settings_overrides: Any) -> Server:
    """`stagewise serve` on embedded SQLite under `root`, on a free port, as a user starts it."""
    port = _free_port()
    settings_overrides.setdefault("weights_dir", root / "weights")  # empty: an offline server without weights
    settings = Settings(data_dir=root / "data", port=port, device="cpu", heartbeat_interval_s=1.0, **settings_overrides)
    log = root / "serve.log"
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("stagewise")), "serve", "--worker" if worker else "--no-worker"],
        env=child_environment(settings), stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    server = Server(f"http://127.0.0.1:{port}", httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60),
                    process, log)  # fmt: skip
    wait_for(lambda: process.poll() is not None or _ready(server.base_url, worker), timeout=120,
             what="server and worker")  # fmt: skip
    if process.poll() is not None:
        pytest.fail(f"stagewise serve exited: {log.read_text()[-3000:]}")
    return server
