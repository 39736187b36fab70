"""Migrations go up, down and up again on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import inspect

from app.db import Database
from app.db.migrations import downgrade, upgrade
from app.models import Base
from app.settings import Settings


def tables(url: str) -> set[str]:
    database = Database.connect(url)
    try:
        return set(inspect(database.engine).get_table_names()) - {"alembic_version"}
    finally:
        database.dispose()


def test_upgrade_downgrade_upgrade(settings: Settings) -> None:
    url = settings.database_url  # already upgraded by the fixture
    assert tables(url) == set(Base.metadata.tables)
    downgrade(url, "base")
    assert tables(url) == set()
    upgrade(url)
    assert tables(url) == set(Base.metadata.tables)


def test_upgrade_twice_is_a_no_op(settings: Settings) -> None:
    upgrade(settings.database_url)
    assert tables(settings.database_url) == set(Base.metadata.tables)
