"""Alembic environment: the URL comes from Settings (or the caller), never from alembic.ini."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, text

from app.db.engine import make_engine
from app.models import Base
from app.settings import get_settings

# On PostgreSQL, concurrent starters (several API replicas) wait for one another.
_PG_LOCK = 727_211


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things: batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = context.config.attributes.get("database_url") or get_settings().database_url
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            postgres = connection.dialect.name == "postgresql"
            if postgres:
                connection.execute(text(f"SELECT pg_advisory_lock({_PG_LOCK})"))
                connection.commit()
            try:
                _run(connection)
            finally:
                if postgres:
                    connection.execute(text(f"SELECT pg_advisory_unlock({_PG_LOCK})"))
                    connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
run_migrations_online()
