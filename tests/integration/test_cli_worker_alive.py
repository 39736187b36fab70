"""`stagewise worker-alive`, the worker container's health check, against a real database."""

from __future__ import annotations

import socket
import subprocess
from datetime import timedelta

from conftest import STAGEWISE
from sqlalchemy import update
from sqlalchemy.orm import Session

from app.db.types import utcnow
from app.models import WorkerSeen
from app.services.workers import worker_seen
from app.settings import Settings, child_environment
from tests.rows import unit_of_work

TIMEOUT_S = 120.0  # the tests' own 5 s is shorter than starting the command on a busy machine


def alive(settings: Settings) -> subprocess.CompletedProcess[str]:
    environment = child_environment(settings.model_copy(update={"heartbeat_timeout_s": TIMEOUT_S}))
    return subprocess.run(
        [*STAGEWISE, "worker-alive"], env=environment, capture_output=True, text=True, timeout=120, check=False
    )


def _seen(settings: Settings, host: str) -> None:
    with unit_of_work(settings) as uow:
        worker_seen(uow=uow, name=f"worker-1@{host}", host=host, pid=1, queues=["default"], gpu=None)


def test_a_worker_that_beat_recently_on_this_host_is_healthy(settings: Settings, db: Session) -> None:
    _seen(settings, socket.gethostname())

    result = alive(settings)

    assert result.returncode == 0, result.stderr
    assert f"worker-1@{socket.gethostname()}" in result.stdout


def test_no_worker_is_unhealthy_saying_so(settings: Settings) -> None:
    result = alive(settings)

    assert result.returncode == 1 and "no worker on" in result.stderr


def test_a_worker_silent_past_the_heartbeat_timeout_is_unhealthy(settings: Settings, db: Session) -> None:
    _seen(settings, socket.gethostname())
    db.execute(update(WorkerSeen).values(last_seen=utcnow() - timedelta(seconds=TIMEOUT_S + 60)))

    assert alive(settings).returncode == 1


def test_a_worker_on_another_host_does_not_make_this_one_healthy(settings: Settings, db: Session) -> None:
    _seen(settings, "another-host")

    assert alive(settings).returncode == 1
