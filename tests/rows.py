"""Test-side access to the database: factories and checks, apart from the services' units of work.

The services' sessions never begin a transaction on their own (every read and write is a
unit of work's block). Tests that add rows and look at what a request changed use
`row_session`: every statement is its own transaction (AUTOCOMMIT), so a check always
sees the latest committed state and never holds a snapshot or a lock a service waits on.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import create_engine, event, make_url
from sqlalchemy.orm import Session

from app.db import Database
from app.queue import TaskQueue, make_celery
from app.services.unit_of_work import UnitOfWork
from app.settings import Settings


@contextmanager
def row_session(database_url: str) -> Iterator[Session]:
    """An autocommitting session on `database_url` for factories and checks."""
    sqlite = make_url(database_url).get_backend_name() == "sqlite"
    engine = create_engine(database_url, isolation_level="AUTOCOMMIT", connect_args={"timeout": 30} if sqlite else {})
    if sqlite:
        event.listen(engine, "connect", _foreign_keys)
    try:
        with Session(engine, expire_on_commit=False) as session:
            yield session
    finally:
        engine.dispose()


def _foreign_keys(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA foreign_keys=ON")
    dbapi_connection.execute("PRAGMA busy_timeout=30000")


@contextmanager
def unit_of_work(settings: Settings) -> Iterator[UnitOfWork]:
    """A unit of work as a request or a worker task gets one, on the test's database and broker."""
    database = Database.connect(settings.database_url)
    try:
        with UnitOfWork.open(database, settings, TaskQueue(make_celery(settings), settings)) as uow:
            yield uow
    finally:
        database.dispose()
