"""Optuna's studies live in the product's database (SQLite and PostgreSQL) beside our Alembic
tables: a study survives a new storage object, and our migrations neither see nor disturb it."""

from __future__ import annotations

import uuid

import optuna
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from app.db import Database
from app.db.migrations import alembic_config, downgrade, upgrade
from app.models import Base
from app.schemas.sweeps import SweepSpec
from app.settings import Settings
from app.sweeps.space import resolve_base, suggest
from app.sweeps.storage import sweep_storage
from app.sweeps.study import create_study

optuna.logging.set_verbosity(optuna.logging.WARNING)

GRID = SweepSpec.model_validate({
    "base": {"config": {"backbone": "resnet18", "weights": "none", "dataset": {"name": "fake"}}},
    "space": {"stages.classifier.lr": {"type": "categorical", "choices": [0.01, 0.1]},
              "freeze_through": {"type": "categorical", "choices": ["none", "conv3"]}},
    "sampler": "grid",
})  # fmt: skip


def run_grid(database_url: str, name: str) -> None:
    """A whole grid sweep in the database's Optuna storage (each trial's value made up from its LR)."""
    study = create_study(GRID, resolve_base(GRID.base), storage=sweep_storage(database_url), study_name=name)
    study.optimize(lambda trial: suggest(trial, GRID.space)["stages.classifier.lr"], n_trials=GRID.trials)


def our_state(database_url: str) -> tuple[set[str], str | None, list[object]]:
    """Our tables, our Alembic revision, and what autogenerate would change."""
    database = Database.connect(database_url)
    try:
        with database.engine.connect() as connection:
            context = MigrationContext.configure(connection)
            tables = set(inspect(connection).get_table_names()) - {"alembic_version"}
            return tables, context.get_current_revision(), compare_metadata(context, Base.metadata)
    finally:
        database.dispose()


def test_a_study_is_kept_in_the_product_database(settings: Settings) -> None:
    name = f"sweep-{uuid.uuid4().hex[:8]}"
    run_grid(settings.database_url, name)
    study = optuna.load_study(study_name=name, storage=sweep_storage(settings.database_url))
    assert len(study.trials) == 4 and study.best_value == 0.1


def test_optuna_tables_leave_our_migrations_alone(settings: Settings) -> None:
    run_grid(settings.database_url, f"sweep-{uuid.uuid4().hex[:8]}")
    head = ScriptDirectory.from_config(alembic_config(settings.database_url)).get_current_head()
    tables, revision, changes = our_state(settings.database_url)
    assert tables == set(Base.metadata.tables) and revision == head and changes == []
    downgrade(settings.database_url, "base")
    upgrade(settings.database_url)
    assert our_state(settings.database_url)[:2] == (set(Base.metadata.tables), head)
    assert len(optuna.get_all_study_names(sweep_storage(settings.database_url))) >= 1
