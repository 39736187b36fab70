"""The embedded broker in a forked child (a prefork worker's pool process): the child must not
use the connections its parent opened. kombu caches the SQLAlchemy transport's engines
class-wide and the child inherits the parent's producer (its channel and session), so without
`app.queue`'s fork hook a child publishing a task (a sweep's next trial, a retry) did it over
the parent's pooled SQLite connections."""

from __future__ import annotations

import json
import os
from pathlib import Path

from kombu.transport import sqlalchemy as transport

from app.queue import TaskQueue, make_celery, runs_waiting_in_sql_broker
from app.settings import Settings


def test_a_forked_child_publishes_over_connections_of_its_own(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", device="cpu")
    settings.data_dir.mkdir(parents=True)
    tasks = TaskQueue(make_celery(settings), settings)
    tasks.train(1, settings.default_queue)  # the parent opens the broker's engine and pools a connection
    (engine, _sessions), *_ = transport.Channel._engines.values()
    parent_pool = id(engine.pool)

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, then leave without running pytest's exit handlers
        report: dict[str, object] = {}
        try:
            report["cached"] = len(transport.Channel._engines)
            tasks.celery._after_fork()  # what Celery itself does in a pool child
            tasks.train(2, settings.default_queue)
            report["pool"] = id(engine.pool)
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            report["error"] = repr(exc)
        os.write(write, json.dumps(report).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        report = json.loads(pipe.read())
    os.waitpid(pid, 0)

    assert "error" not in report, report["error"]
    assert report["cached"] == 0  # no new channel of the child's finds the parent's engine
    assert report["pool"] != parent_pool  # the inherited session got fresh connections, not the parent's
    assert runs_waiting_in_sql_broker(settings) == {1, 2}  # both tasks reached the one broker
