"""Where Optuna's tables go for each product database URL (tests/integration/test_sweep_storage.py
shows them beside our tables on real databases)."""

from __future__ import annotations

import pytest

from app.sweeps.storage import sweep_storage_url


def test_sqlite_studies_go_to_a_file_beside_the_database() -> None:
    url, _ = sweep_storage_url("sqlite:////srv/data/stagewise.db")
    assert url == "sqlite:////srv/data/stagewise.optuna.db"


def test_postgres_studies_go_to_their_own_schema_of_the_same_database() -> None:
    url, options = sweep_storage_url("postgresql+psycopg://lab:secret@db:5432/stagewise")
    assert url == "postgresql+psycopg://lab:secret@db:5432/stagewise"
    assert options["connect_args"] == {"options": "-c search_path=optuna"}


def test_an_in_memory_database_has_nowhere_to_keep_studies() -> None:
    with pytest.raises(ValueError, match="in-memory"):
        sweep_storage_url("sqlite://")
