"""Integration fixtures: real databases, real brokers, real worker and server processes.

Every test that takes `settings` runs twice: on the embedded defaults (SQLite + kombu's
SQLAlchemy transport on SQLite) and on PostgreSQL + Redis (marked `postgres`, `redis`).
The PostgreSQL database and the Redis queue names are fresh per test session.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.db import Database
from app.db.migrations import upgrade
from app.db.types import utcnow
from app.main import create_app
from app.models import EpochMetric, Run, RunStatus
from app.services.unit_of_work import UnitOfWork
from app.settings import Settings, child_environment
from tests.polling import wait_for
from tests.rows import row_session, unit_of_work

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS = "redis://127.0.0.1:6379"
TABLES = (
    "evaluations, run_tags, epoch_metrics, artifacts, datasets, workers, runs, sweeps, login_attempts, "
    "login_sessions, api_tokens, users"
)

# The tiny run every end-to-end test trains: a few seconds per epoch on a CPU.
TINY = {
    "backbone": "resnet18", "weights": "none", "batch_size": 8, "image_size": 32, "epochs": 2,
    "dataset": {"name": "fake", "num_images": 24, "num_classes": 2},
}  # fmt: skip


@dataclass(frozen=True)
class Backend:
    name: str
    database_url: str | None  # None: a fresh SQLite file per test
    broker_url: str | None
    queue: str


@pytest.fixture(scope="session")
def session_token() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def postgres_url(session_token: str) -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at its end."""
    name = f"stagewise_test_{session_token}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def redis_url(session_token: str) -> Iterator[str]:
    """A Redis database number picked at random; this session's queue keys are removed at its end."""
    url = f"{REDIS}/{random.randint(1, 15)}"
    yield url
    client = redis.Redis.from_url(url)
    for key in client.scan_iter(f"*{session_token}*"):
        client.delete(key)


@pytest.fixture(scope="session", params=["embedded", pytest.param("server", marks=[pytest.mark.postgres, pytest.mark.redis])])
def backend(request: pytest.FixtureRequest, session_token: str) -> Backend:
    """Embedded (SQLite files) or server (PostgreSQL + Redis)."""
    queue = f"test-{session_token}"
    if request.param == "embedded":
        return Backend("embedded", None, None, queue)
    return Backend(
        "server", request.getfixturevalue("postgres_url"), request.getfixturevalue("redis_url"), queue
    )


def make_settings(backend: Backend, data_dir: Path, **overrides: Any) -> Settings:
    """Settings for a test: fast heartbeats, CPU, the session's own queue."""
    values: dict[str, Any] = {
        "data_dir": data_dir, "device": "cpu", "queues": [backend.queue], "default_queue": backend.queue,
        "heartbeat_interval_s": 0.5, "heartbeat_timeout_s": 5.0, "max_attempts": 3, "publish_timeout_s": 2.0,
        "weights_dir": data_dir.parent / "weights",  # empty: no test depends on this machine's torch hub cache
    }  # fmt: skip
    if backend.database_url:
        values["database_url"] = backend.database_url
    if backend.broker_url:
        values["broker_url"] = backend.broker_url
    return Settings(**{**values, **overrides})


def reset_database(settings: Settings) -> None:
    """Migrate, then empty every table and the session's queues (PostgreSQL and Redis are
    shared by the whole session).

    Without emptying the queues, tasks that a test published with no worker listening (every
    API test queues runs) waited for the next module's worker: it then spent minutes skipping
    them, or claimed the new module's rows that reuse their ids (identities restart at 1).
    """
    upgrade(settings.database_url)
    if settings.database_url.startswith("postgresql"):
        database = Database.connect(settings.database_url)
        with database.engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
        database.dispose()
    if settings.broker_url and settings.broker_url.startswith("redis"):
        client = redis.Redis.from_url(settings.broker_url, socket_connect_timeout=2)
        try:
            for queue in settings.queues:  # a queue's list, and its priority lists (`<queue>\x06\x16<n>`)
                for key in [queue.encode(), *client.scan_iter(match=f"{queue}\x06*")]:
                    client.delete(key)
        except redis.exceptions.ConnectionError:
            pass  # a test's deliberately dead broker holds nothing
        finally:
            client.close()


@pytest.fixture
def settings(backend: Backend, tmp_path: Path) -> Settings:
    """Per-test settings on an empty database and a fresh data root."""
    made = make_settings(backend, tmp_path / "data")
    reset_database(made)
    return made


@pytest.fixture
def db(settings: Settings) -> Iterator[Session]:
    """An autocommitting session on the test database, for factories and for checking rows."""
    with row_session(settings.database_url) as session:
        yield session


@pytest.fixture
def uow(settings: Settings) -> Iterator[UnitOfWork]:
    """A unit of work on the test database and broker, as a request or a worker task gets one."""
    with unit_of_work(settings) as made:
        yield made


def local_client(app: FastAPI) -> TestClient:
    """An in-process client that looks like a script on this machine (loopback address and Host),
    which is what the no-login mode serves."""
    return TestClient(app, base_url="http://127.0.0.1", client=("127.0.0.1", 50000))


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The in-process API and pages on this test's settings, called from this machine (no login)."""
    with local_client(create_app(settings)) as test_client:
        yield test_client


# --- factories ---------------------------------------------------------------------------


def make_run(db: Session, **fields: Any) -> Run:
    """A committed run row; any column can be given (defaults: a queued tiny resnet18 run)."""
    config = {**TINY, **fields.pop("config", {})}
    values: dict[str, Any] = {
        "status": RunStatus.queued, "queue": "default", "config": config, "dataset": config["dataset"]["name"],
        "backbone": config["backbone"], "epochs": config["epochs"],
    }  # fmt: skip
    run = Run(**{**values, **fields})
    db.add(run)
    db.commit()
    return run


def add_epochs(db: Session, run: Run, count: int, *, val_acc: Callable[[int], float] = lambda e: 0.5 + e / 1000) -> None:
    """`count` epoch rows for `run`, with made-up but plausible values."""
    for epoch in range(count):
        db.add(EpochMetric(
            run_id=run.id, epoch=epoch, train_loss=1.0 / (epoch + 1), train_acc=0.5, val_loss=1.0,
            val_acc=val_acc(epoch), test_loss=1.0, test_acc=0.5, lr={"conv1": 0.01, "classifier": 0.1},
            images_per_s=1000.0, seconds=1.0,
        ))  # fmt: skip
    run.epochs_done = count
    db.commit()


def stale_running(db: Session, **fields: Any) -> Run:
    """A run that a worker claimed and then stopped beating for long ago."""
    long_ago = utcnow() - timedelta(hours=1)
    values = {"status": RunStatus.running, "attempt": 1, "started_at": long_ago, "heartbeat_at": long_ago,
              "worker_host": "gone-host", "worker_pid": 1}  # fmt: skip
    return make_run(db, **{**values, **fields})


# --- processes ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


STAGEWISE = [str(Path(sys.executable).with_name("stagewise"))]


@dataclass
class Stack:
    """A real `stagewise serve --no-worker` subprocess and real `stagewise worker` subprocesses."""

    settings: Settings
    logs: Path
    base_url: str = ""
    server: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start_server(self) -> None:
        port = free_port()
        self.base_url = f"http://127.0.0.1:{port}"
        self.server = self._spawn(["serve", "--no-worker", "--port", str(port)], "server")
        wait_for(lambda: _answers(self.base_url), timeout=60, what="the API server to answer")

    def start_worker(self) -> subprocess.Popen[bytes]:
        process = self._spawn(["worker", "--queue", self.settings.default_queue], f"worker{len(self.workers)}")
        self.workers.append(process)
        return process

    def _spawn(self, args: list[str], name: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("ab")
        return subprocess.Popen(
            [*STAGEWISE, *args], env=child_environment(self.settings), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # so a test can kill -9 a worker with all its children
        )  # fmt: skip

    def kill_worker(self, process: subprocess.Popen[bytes]) -> None:
        """kill -9 the worker and its pool children, as a crashed host would."""
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def stop(self) -> None:
        for process in [*self.workers, self.server]:
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30)


def _answers(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/healthz", timeout=2).status_code in (200, 503)
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def stack(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A server and one worker sharing a data root, for the tests of one module."""
    with running_stack(make_settings(backend, tmp_path_factory.mktemp(f"stack-{backend.name}") / "data")) as running:
        yield running


@contextmanager
def running_stack(settings: Settings, *, worker: bool = True) -> Iterator[Stack]:
    """A server (and a worker unless `worker=False`) on `settings`, whose data dir's parent holds
    their logs; empty tables first; the processes killed and the logs' tails printed after."""
    reset_database(settings)
    root = Path(settings.data_dir).parent
    running = Stack(settings, root)
    try:
        running.start_server()
        if worker:
            running.start_worker()
        yield running
    finally:
        running.stop()
        for log in sorted(root.glob("*.log")):
            sys.stderr.write(f"\n----- {log.name} (last 3000 chars) -----\n{log.read_text(errors='replace')[-3000:]}")
