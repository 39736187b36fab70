"""Engines and sessions for SQLite (embedded) and PostgreSQL (lab server).

SQLite needs care when the API and a worker process write the same file: WAL lets
readers run beside one writer, `busy_timeout` makes a second writer wait instead of
failing, and write transactions start with `BEGIN IMMEDIATE` so that a transaction
which reads first never fails on upgrading its lock (SQLITE_BUSY_SNAPSHOT).
"""

from __future__ import annotations

import os
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker

_WRITE = "stagewise_write"


def make_engine(url: str) -> Engine:
    """An engine for `url`, with the SQLite settings above when it is a SQLite file."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event emit BEGIN itself (the pysqlite driver would
    # otherwise start transactions lazily and always as DEFERRED).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    immediate = connection.get_execution_options().get(_WRITE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def begin_as_writer(db: Session) -> None:
    """Open the connection of `db`'s new transaction as a writer (SQLite: BEGIN IMMEDIATE).

    Called by the unit of work (`app/services/unit_of_work.py`) when a write block
    starts, before anything is read; on PostgreSQL it changes nothing.
    """
    db.connection(execution_options={_WRITE: True})


@dataclass
class Database:
    """The engine and session factory one process uses (built by `create_app` or a worker)."""

    engine: Engine
    sessions: sessionmaker[Session]

    @classmethod
    def connect(cls, url: str) -> Database:
        engine = make_engine(url)
        # A forked child (a prefork worker) must not use, or close, the parent's
        # pooled connections: it starts with an empty pool of its own.
        # A weak reference, so that a disposed engine is not kept alive by the hook.
        ref = weakref.ref(engine)
        os.register_at_fork(after_in_child=lambda: (e := ref()) is not None and e.dispose(close=False))
        # No autobegin: every transaction is a unit of work's explicit read or write block.
        return cls(engine, sessionmaker(engine, expire_on_commit=False, autobegin=False))

    def dispose(self) -> None:
        """Close pooled connections (at shutdown, or in a forked child)."""
        self.engine.dispose()
