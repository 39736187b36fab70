"""The stale-run sweep is not held up by a run whose frozen worker holds the run's row lock.

Against real PostgreSQL and Redis: a worker frozen inside one of its short write
transactions (SIGSTOP, a suspended VM) keeps its run's row locked indefinitely. The sweep
(in the API and in every worker) must skip that run rather than wait on it, or one frozen
worker would stop every other dead worker's run from being re-queued.
"""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest
from integration_fixtures import Backend, make_settings, reset_database, stale_running

from app.services.execution import sweep_stale_runs
from app.settings import Settings
from tests.polling import wait_for
from tests.reliability.harness import libpq_url
from tests.rows import row_session, unit_of_work

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
def settings(tmp_path: Path, postgres_url: str, redis_url: str, session_token: str) -> Settings:
    made = make_settings(Backend("server", postgres_url, redis_url, f"rel-{session_token}-sweep"), tmp_path / "data")
    reset_database(made)
    return made


def test_a_sweep_skips_a_locked_run_and_requeues_the_others(settings: Settings) -> None:
    with row_session(settings.database_url) as db:
        frozen, dead = stale_running(db).id, stale_running(db).id
    with psycopg.connect(libpq_url(settings.database_url)) as holder:  # the frozen worker's open transaction
        holder.execute("SELECT id FROM runs WHERE id = %s FOR UPDATE", (frozen,))
        outcome: list[list[tuple[int, str]]] = []

        def sweep() -> None:
            with unit_of_work(settings) as uow:
                outcome.append(sweep_stale_runs(uow=uow))

        threading.Thread(target=sweep, daemon=True).start()
        wait_for(lambda: outcome, timeout=15, what="the sweep to finish beside a locked run")
    assert outcome == [[(dead, "queued")]]
