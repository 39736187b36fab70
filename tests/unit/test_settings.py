"""Settings: embedded defaults follow the data root; bad queue setups fail at start."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.settings import Settings


def test_defaults_are_sqlite_files_under_the_data_root(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.database_url == f"sqlite:///{tmp_path / 'stagewise.db'}"
    assert settings.broker_url == f"sqla+sqlite:///{tmp_path / 'broker.db'}"


def test_explicit_urls_are_kept(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url="postgresql+psycopg://db/x", broker_url="redis://r:6379/0")
    assert (settings.database_url, settings.broker_url) == ("postgresql+psycopg://db/x", "redis://r:6379/0")


def test_relative_data_root_becomes_absolute() -> None:
    assert Settings(data_dir=Path("some/where")).data_dir.is_absolute()


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STAGEWISE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("STAGEWISE_QUEUES", '["a100", "cpu"]')
    monkeypatch.setenv("STAGEWISE_DEFAULT_QUEUE", "cpu")
    settings = Settings()
    assert (settings.data_dir, settings.queues, settings.default_queue) == (tmp_path, ["a100", "cpu"], "cpu")


def test_env_round_trips_through_child_processes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = Settings(data_dir=tmp_path, queues=["x", "y"], default_queue="y", heartbeat_timeout_s=7)
    for name, value in original.env().items():
        monkeypatch.setenv(name, value)
    assert Settings() == original


def test_default_queue_must_be_a_queue(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="default_queue"):
        Settings(data_dir=tmp_path, queues=["a"], default_queue="b")


def test_queue_names_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="queue name"):
        Settings(data_dir=tmp_path, queues=["bad name!"], default_queue="bad name!")
