"""Persistence plumbing: engine and session factory, column types, migrations."""

from app.db.engine import Database, begin_as_writer, make_engine

__all__ = ["Database", "begin_as_writer", "make_engine"]
