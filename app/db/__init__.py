"""Persistence plumbing: engine and session factory, column types, migrations."""

from app.db.engine import Database, make_engine, write_transaction

__all__ = ["Database", "make_engine", "write_transaction"]
