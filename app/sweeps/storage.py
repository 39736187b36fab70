"""Where Optuna keeps its studies: beside the product's own tables, never among them.

Optuna's RDB storage migrates its schema with Alembic and records its revision in a table
named `alembic_version` — the very table our migrations use. In one schema, each would read
the other's revision (Optuna refuses to open the storage; our `upgrade` cannot find Optuna's
revision). So on PostgreSQL Optuna's tables live in the same database in their own schema,
`optuna` (its connections set `search_path`), which our Alembic never inspects; on SQLite,
which has no schemas that Optuna could use, in a second file beside the database
(`stagewise.db` → `stagewise.optuna.db`).
"""

from __future__ import annotations

from typing import Any

import optuna
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url

SCHEMA = "optuna"
SQLITE_BUSY_TIMEOUT_S = 30  # trials of several workers report at once


def sweep_storage_url(database_url: str) -> tuple[str, dict[str, Any]]:
    """Optuna's storage URL and engine options for the product database at `database_url`."""
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        return _render(url), {"connect_args": {"options": f"-c search_path={SCHEMA}"}, "pool_pre_ping": True}
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            raise ValueError("an in-memory SQLite database has no file beside which to keep sweeps")
        stem = url.database.removesuffix(".db").removesuffix(".sqlite")
        return _render(url.set(database=f"{stem}.optuna.db")), {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}}
    raise ValueError(f"sweeps support PostgreSQL and SQLite databases, not {url.get_backend_name()}")


def sweep_storage(database_url: str) -> optuna.storages.RDBStorage:
    """Optuna's RDB storage for the product database (its tables created on first use)."""
    url, engine_kwargs = sweep_storage_url(database_url)
    if make_url(url).get_backend_name() == "postgresql":
        _create_schema(url)
    return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)


def _create_schema(url: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
    finally:
        engine.dispose()


def _render(url: URL) -> str:
    return url.render_as_string(hide_password=False)
