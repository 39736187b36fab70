"""Fault-injection helpers: a stack on PostgreSQL + Redis, who trains a run, and what is stored.

Imported by the reliability tests as `tests.reliability.harness`. Counts are read twice,
over the API and straight from PostgreSQL, so a test can demand both agree exactly.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import psycopg
import redis
import torch
from integration_fixtures import TINY, Backend, Stack, free_port, make_settings, reset_database
from psycopg.rows import dict_row

from app.settings import Settings
from tests.polling import wait_for

# A run long enough to be interrupted several times: about a second per epoch on a CPU.
LONG = {**TINY, "epochs": 6, "dataset": {"name": "fake", "num_images": 32, "num_classes": 2}}


@contextmanager
def launched(root: Path, *, database_url: str, broker_url: str, token: str, **overrides: Any) -> Iterator[Stack]:
    """A stack on its own queue and an emptied database; nothing is started yet.

    Every process it started is killed at the end, and the tail of each log is written
    to stderr (shown by pytest when a test failed).
    """
    backend = Backend("server", database_url, broker_url, f"rel-{token}-{uuid.uuid4().hex[:6]}")
    settings = make_settings(backend, root / "data", **overrides)
    reset_database(settings)
    stack = Stack(settings, root)
    try:
        yield stack
    finally:
        stack.stop()
        for log in sorted(root.glob("*.log")):
            sys.stderr.write(f"\n----- {log.name} (last 3000 chars) -----\n{log.read_text(errors='replace')[-3000:]}")


# --- the API ------------------------------------------------------------------------------


def submit(client: httpx.Client, config: dict[str, Any]) -> int:
    response = client.post("/api/runs", json={"config": config})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def run_of(client: httpx.Client, run_id: int) -> dict[str, Any]:
    response = client.get(f"/api/runs/{run_id}")
    response.raise_for_status()
    return response.json()


def wait_run(
    client: httpx.Client, run_id: int, ok: Callable[[dict[str, Any]], bool], what: str, timeout: float = 120
) -> dict[str, Any]:
    """The run as the API shows it, once `ok(run)` holds."""
    return wait_for(lambda: ok(run := run_of(client, run_id)) and run, timeout=timeout, what=f"run {run_id} {what}")


def wait_finished(client: httpx.Client, run_ids: list[int], timeout: float = 180) -> None:
    for run_id in run_ids:
        wait_run(
            client, run_id, lambda run: run["status"] in ("succeeded", "failed", "cancelled"), "to finish", timeout
        )


# --- exact counts -------------------------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    """Every run (status, epochs_done) and the epoch numbers stored for it, in order."""

    runs: dict[int, tuple[str, int]]
    epochs: dict[int, list[int]]


def finished_cleanly(run_ids: list[int], epochs: int) -> Tally:
    """What must be stored when each of `run_ids` succeeded with every epoch once."""
    return Tally({i: ("succeeded", epochs) for i in run_ids}, {i: list(range(epochs)) for i in run_ids})


def tally_api(client: httpx.Client) -> Tally:
    page = client.get("/api/runs", params={"limit": 200}).json()
    runs = {run["id"]: (run["status"], run["epochs_done"]) for run in page["items"]}
    return Tally(runs, {i: [m["epoch"] for m in client.get(f"/api/runs/{i}/metrics").json()] for i in sorted(runs)})


def tally_database(settings: Settings) -> Tally:
    with psycopg.connect(libpq_url(settings.database_url)) as connection:
        runs = {
            i: (str(status), done) for i, status, done in connection.execute("SELECT id, status, epochs_done FROM runs")
        }
        epochs: dict[int, list[int]] = {i: [] for i in sorted(runs)}
        for run_id, epoch in connection.execute("SELECT run_id, epoch FROM epoch_metrics ORDER BY run_id, epoch"):
            epochs.setdefault(run_id, []).append(epoch)
    return Tally(runs, epochs)


def run_row(settings: Settings, run_id: int) -> dict[str, Any]:
    """The run's row as stored, including what the API does not show (worker_pid)."""
    with psycopg.connect(libpq_url(settings.database_url), row_factory=dict_row) as connection:
        row = connection.execute("SELECT * FROM runs WHERE id = %s", (run_id,)).fetchone()
    assert row is not None, f"run {run_id} is not in the database"
    return row


class RunFolder(NamedTuple):
    """What the run folder says: epochs in checkpoint.pt and summary.json, and metrics.jsonl's epoch numbers."""

    checkpoint_epochs: int
    summary_epochs: int
    stopped: bool
    metrics_epochs: list[int]


def on_disk(settings: Settings, run_id: int) -> RunFolder:
    files = settings.runs_dir / str(run_id)
    checkpoint = torch.load(files / "checkpoint.pt", map_location="cpu", weights_only=True)["epoch"]
    summary = json.loads((files / "summary.json").read_text())
    lines = [json.loads(line)["epoch"] for line in (files / "metrics.jsonl").read_text().splitlines()]
    return RunFolder(checkpoint, summary["epochs_done"], summary["stopped"], lines)


def libpq_url(database_url: str) -> str:
    return database_url.replace("postgresql+psycopg://", "postgresql://", 1)


# --- processes ----------------------------------------------------------------------------


def owner(stack: Stack, run_id: int) -> subprocess.Popen[bytes]:
    """The worker process whose pool child trains `run_id` now."""
    group = os.getpgid(run_row(stack.settings, run_id)["worker_pid"])  # workers start their own process group
    return next(worker for worker in stack.workers if worker.pid == group)


def signal_worker(worker: subprocess.Popen[bytes], signum: signal.Signals) -> None:
    """Send `signum` to the worker and its pool child (kill -9, SIGSTOP, SIGCONT)."""
    os.killpg(worker.pid, signum)
    if signum == signal.SIGKILL:
        worker.wait()


def process_gone(pid: int) -> bool:
    """True once `pid` exited (a zombie awaiting its parent counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@dataclass
class RedisServer:
    """A private redis-server with append-only persistence, fsync on every write."""

    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        executable = shutil.which("redis-server") or "/usr/bin/redis-server"
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory), "--appendonly", "yes",
                "--appendfsync", "always", "--save", ""]  # fmt: skip
        log = (self.directory / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [executable, *args], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        wait_for(self.answers, timeout=30, what=f"redis-server on port {self.port}")

    def kill(self) -> None:
        """kill -9: no shutdown save, only what the append-only file already holds survives."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def answers(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=1).ping())
        except redis.RedisError:
            return False
