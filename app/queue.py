"""The job queue as the app sees it: task names, payloads, and the Celery app that carries them.

The only module of the app that knows Celery. Services publish through `TaskQueue`;
the worker process (`worker/`) builds its Celery app here too and registers the tasks.
The Celery application is built from Settings, never at import time.

Delivery rules for long GPU jobs: prefetch 1 (a busy worker holds no second run),
late acks and reject-on-worker-lost (a run whose process dies goes back to the queue).
The task itself makes redelivery safe: it claims the run in the database first, so a
duplicate delivery of a run that another live worker owns does nothing.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from typing import Any

import kombu.exceptions
import sqlalchemy.exc
from celery import Celery
from kombu import Queue
from sqlalchemy import Engine, create_engine, inspect, text

from app.settings import Settings

TRAIN_TASK = "stagewise.train_run"
EVALUATE_TASK = "stagewise.evaluate"
LR_FIND_TASK = "stagewise.lr_find"
SQLALCHEMY_BROKER = ("sqla+", "sqlalchemy+")  # kombu's SQLAlchemy transport: the embedded broker

# What publishing raises when the broker is down: kombu wraps connection errors in
# its OperationalError; the SQLAlchemy transport can let SQLAlchemy's own through.
BROKER_ERRORS: tuple[type[Exception], ...] = (
    kombu.exceptions.OperationalError,
    sqlalchemy.exc.OperationalError,
    ConnectionError,
    TimeoutError,
)


def make_celery(settings: Settings) -> Celery:
    """A Celery app talking to `settings.broker_url`, with one queue per `settings.queues`."""
    app = Celery("stagewise", broker=settings.broker_url, include=["worker.tasks"])
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        result_backend=None,
        task_queues=[Queue(name) for name in settings.queues],
        task_default_queue=settings.default_queue,
        task_serializer="json",
        accept_content=["json"],
        broker_transport_options=_transport_options(settings),
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=settings.publish_timeout_s,
        # A submit must answer quickly when the broker is down (the API returns 503).
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5},
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        # Broadcast needs a fanout exchange, which kombu's SQLAlchemy transport lacks.
        worker_enable_remote_control=settings.broker_url.startswith(("redis", "rediss")),
    )
    app.conf.stagewise_settings = settings
    if is_sql_broker(settings):
        _forget_broker_engines_in_forked_children()
    return app


_FORK_HOOK_REGISTERED = False


def _forget_broker_engines_in_forked_children() -> None:
    """Give every forked child (a prefork worker's pool process) its own embedded-broker engine.

    kombu's SQLAlchemy transport caches its engines class-wide (`Channel._engines`), so a child
    forked by the worker inherited the parent's pool of SQLite connections (the consumer's,
    and the heartbeat thread's publishes) and used them for its own publishes: SQLite forbids
    using a connection across fork(), and a pool lock held by the parent's heartbeat thread at
    the fork stays held for ever in the child. Our own engines do the same (`Database.connect`).
    """
    global _FORK_HOOK_REGISTERED
    if not _FORK_HOOK_REGISTERED:
        os.register_at_fork(after_in_child=_forget_broker_engines)
        _FORK_HOOK_REGISTERED = True


def _forget_broker_engines() -> None:
    from kombu.transport import sqlalchemy as transport

    transport._MUTEX = threading.RLock()  # a lock the parent held at the fork would never be released
    for engine, _sessions in list(transport.Channel._engines.values()):
        engine.dispose(close=False)  # the parent's connections: neither used nor closed here
    transport.Channel._engines.clear()


def _transport_options(settings: Settings) -> dict[str, Any]:
    scheme = settings.broker_url.split("://", 1)[0]
    if scheme.startswith(("redis", "rediss")):
        # An unacknowledged run is redelivered after this; a duplicate of a run that
        # is still alive is dropped by the task's claim, so it only bounds how long a
        # run of a crashed host waits (the heartbeat sweeper is usually quicker).
        return {
            "visibility_timeout": settings.broker_visibility_timeout_s,
            "socket_connect_timeout": settings.publish_timeout_s,
            "socket_timeout": 30,
        }
    if scheme.startswith(("sqla", "sqlalchemy")):
        # Options here go to create_engine(); SQLite waits for the lock instead of failing.
        return {"connect_args": {"timeout": 30}} if "sqlite" in settings.broker_url else {}
    return {}


def enqueue_training(app: Celery, run_id: int, queue: str) -> None:
    """Publish the training task of run `run_id` on `queue` (raises when the broker is down)."""
    app.send_task(TRAIN_TASK, args=[run_id], queue=queue, retry=True)


class TaskQueue:
    """Publishing for one process: what a unit of work offers services beside the session."""

    def __init__(self, celery: Celery, settings: Settings) -> None:
        self.celery, self.settings = celery, settings

    def train(self, run_id: int, queue: str) -> None:
        """Publish run `run_id`'s training task on `queue` (raises one of BROKER_ERRORS when down)."""
        enqueue_training(self.celery, run_id, queue)

    def evaluate(self, evaluation_id: int, queue: str) -> None:
        """Publish evaluation `evaluation_id`'s task on `queue` (raises one of BROKER_ERRORS when down)."""
        self.celery.send_task(EVALUATE_TASK, args=[evaluation_id], queue=queue, retry=True)

    def lr_find(self, job_id: str, queue: str) -> None:
        """Publish LR range test `job_id`'s task on `queue` (raises one of BROKER_ERRORS when down)."""
        self.celery.send_task(LR_FIND_TASK, args=[job_id], queue=queue, retry=True)

    @property
    def embedded(self) -> bool:
        """Whether the broker is the embedded one (kombu's SQLAlchemy transport)."""
        return is_sql_broker(self.settings)

    def waiting_runs(self) -> set[int]:
        """Runs whose training task waits in the embedded broker (empty for Redis: it redelivers itself)."""
        return runs_waiting_in_sql_broker(self.settings) if self.embedded else set()

    def waiting_evaluations(self) -> set[int]:
        """Evaluations whose task waits in the embedded broker (empty for Redis: it redelivers itself)."""
        return tasks_waiting_in_sql_broker(self.settings, EVALUATE_TASK) if self.embedded else set()

    def ping(self) -> None:
        """Raise unless the broker answers (a health check)."""
        if self.embedded:
            engine = sql_broker_engine(self.settings)
            try:
                with engine.connect() as connection:
                    connection.execute(text("SELECT 1")).scalar_one()
            finally:
                engine.dispose()
            return
        with self.celery.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=self.settings.publish_timeout_s)
            # Declaring the default queue makes the transport really talk to its server.
            connection.default_channel.queue_declare(queue=self.settings.default_queue)


def is_sql_broker(settings: Settings) -> bool:
    """Whether the broker is kombu's SQLAlchemy transport (the embedded default)."""
    return settings.broker_url.startswith(SQLALCHEMY_BROKER)


def sql_broker_engine(settings: Settings) -> Engine:
    """An engine on the embedded broker's own database, for reads kombu does not offer.

    Not through kombu: its SQLAlchemy channel keeps the read transaction of a queue
    declaration open until garbage collection, and on SQLite that lock made every later
    write (publishes, a worker taking a task) wait up to 30 s. Dispose of it after use.
    """
    url = settings.broker_url.split("+", 1)[1]
    return create_engine(url, connect_args={"timeout": settings.publish_timeout_s} if url.startswith("sqlite") else {})


def runs_waiting_in_sql_broker(settings: Settings) -> set[int]:
    """Runs whose training task waits in the embedded broker, not yet taken by a worker."""
    return tasks_waiting_in_sql_broker(settings, TRAIN_TASK)


def tasks_waiting_in_sql_broker(settings: Settings, task: str) -> set[int]:
    """The first argument (a run or evaluation id) of each `task` message waiting in the
    embedded broker, not yet taken by a worker.

    kombu's SQLAlchemy transport keeps each message as a row and marks it invisible when
    a worker takes it (for good: it never restores the row if that worker dies).
    """
    engine = sql_broker_engine(settings)
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table("kombu_message"):
                return set()  # nothing was ever published
            payloads = connection.execute(text("SELECT payload FROM kombu_message WHERE visible")).scalars().all()
    finally:
        engine.dispose()
    waiting = set()
    for payload in payloads:
        try:
            message = json.loads(payload)
            if (message.get("headers") or {}).get("task") != task:
                continue
            body = message["body"]
            if (message.get("properties") or {}).get("body_encoding") == "base64":
                body = base64.b64decode(body)
            args, _kwargs, _embed = json.loads(body)  # Celery's task message protocol 2
            waiting.add(int(args[0]))
        except (ValueError, KeyError, TypeError, IndexError):
            continue  # not a message of ours, or one this version cannot read
    return waiting
