"""Migrations go up, down and up again on SQLite and PostgreSQL."""

from __future__ import annotations

from conftest import make_run
from sqlalchemy import inspect

from app.db import Database
from app.db.migrations import downgrade, upgrade
from app.models import Base, Run
from app.settings import Settings
from tests.rows import row_session


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


def index_names(url: str) -> set[str]:
    """Every index in the database, expression indexes included (the inspector skips those on SQLite)."""
    database = Database.connect(url)
    try:
        with database.engine.connect() as connection:
            if connection.dialect.name == "sqlite":
                query = "SELECT name FROM sqlite_master WHERE type = 'index'"
            else:
                query = "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
            return set(connection.exec_driver_sql(query).scalars())
    finally:
        database.dispose()


def declared_indexes() -> set[str]:
    return {index.name for table in Base.metadata.tables.values() for index in table.indexes if index.name}


def test_every_declared_index_exists_after_upgrade_and_after_a_round_trip(settings: Settings) -> None:
    # A later migration that copies a table (SQLite's batch mode) silently drops expression
    # indexes of an earlier one, e.g. the Runs list's nulls-last indexes of 0003.
    url = settings.database_url
    assert declared_indexes() - index_names(url) == set()
    downgrade(url, "0002")
    upgrade(url)
    assert declared_indexes() - index_names(url) == set()


def test_runs_stored_with_the_old_default_follow_the_server_after_0014(settings: Settings) -> None:
    # Before 0014 `allow_download: false` was the default and meant "follow the server"; now
    # false means "never download", so the upgrade removes the old default from stored runs.
    url = settings.database_url
    downgrade(url, "0013_h15")
    with row_session(url) as db:
        ids = [make_run(db, config={"allow_download": value}).id for value in (False, True)]
        ids.append(make_run(db).id)
    upgrade(url)
    with row_session(url) as db:
        configs = [db.get(Run, run_id).config for run_id in ids]
    assert "allow_download" not in configs[0] and configs[0]["backbone"] == "resnet18"  # the rest kept
    assert configs[1]["allow_download"] is True and "allow_download" not in configs[2]
