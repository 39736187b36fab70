"""One unit of work per request or worker task: the session, the settings and the queue.

Services declare what they do with the database by entering a block:

    with uow.writing() as db:   # BEGIN as a writer (SQLite: BEGIN IMMEDIATE); commit, or roll back on error
        ...
    with uow.reading() as db:   # a short read; ended (rolled back) when the block ends
        ...

The session never begins a transaction on its own (`autobegin=False`), so a read outside
a block fails loudly instead of quietly holding a snapshot that a later write could not
upgrade (SQLite answers "database is locked" when another process committed in between).
Blocks nest: an inner block joins the outer one, and a write inside a read is refused
because it is exactly that upgrade. This is SQLAlchemy's `Session.begin()` pattern, with
the writer's lock taken up front.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from sqlalchemy.orm import Session

from app.db import Database, begin_as_writer
from app.queue import TaskQueue, make_celery
from app.settings import Settings


class UnitOfWork:
    """What a service needs from its caller's process: `session`, `settings`, `tasks` (the queue)."""

    def __init__(self, session: Session, settings: Settings, tasks: TaskQueue) -> None:
        self.session, self.settings, self.tasks = session, settings, tasks
        self._mode: Literal["reading", "writing"] | None = None

    @classmethod
    @contextmanager
    def open(cls, database: Database, settings: Settings, tasks: TaskQueue) -> Iterator[UnitOfWork]:
        """A unit of work on a new session, closed when the block ends."""
        with database.sessions() as session:
            yield cls(session, settings, tasks)

    @classmethod
    @contextmanager
    def standalone(cls, settings: Settings) -> Iterator[UnitOfWork]:
        """A unit of work with its own engine and queue, for a one-off command (the CLI); disposed after."""
        database = Database.connect(settings.database_url)
        try:
            with cls.open(database, settings, TaskQueue(make_celery(settings), settings)) as uow:
                yield uow
        finally:
            database.dispose()

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """A write transaction: begins as the writer, commits when the block ends, rolls back on error."""
        if self._mode == "writing":
            yield self.session
            return
        if self._mode == "reading":
            raise RuntimeError("a write cannot start inside a read: enter uow.writing() before the first read")
        self._mode = "writing"
        try:
            with self.session.begin():
                begin_as_writer(self.session)
                yield self.session
        finally:
            self._mode = None

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read; inside a write it joins the write, otherwise it ends (rolls back) with the block."""
        if self._mode is not None:
            yield self.session
            return
        self._mode = "reading"
        try:
            # Ended by a commit, not a rollback: both release the snapshot, but a rollback
            # would expire the rows just read, and the caller reads them after the block.
            with self.session.begin():
                yield self.session
        finally:
            self._mode = None
