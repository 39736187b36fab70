"""A training process unheard for a whole heartbeat timeout asks the database before its next step.

`RunWatch` against real PostgreSQL, with its background thread never started (as if the
process had been frozen): once the lease has run out, `should_stop()` renews it when the
attempt still owns the run, and raises `RunLost` when the run was handed to another
attempt meanwhile, so `fit` stops before it trains or writes anything more.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest
from integration_fixtures import Backend, make_run, make_settings, reset_database
from sqlalchemy import update

from app.db.types import utcnow
from app.models import Run, RunStatus
from app.schemas.train_config import TrainConfig
from app.services.execution import Claim
from app.settings import Settings
from tests.rows import row_session, unit_of_work
from worker.heartbeat import RunLost, RunWatch

pytestmark = [pytest.mark.postgres]


@pytest.fixture
def settings(tmp_path: Path, postgres_url: str, session_token: str) -> Settings:
    made = make_settings(Backend("server", postgres_url, None, f"rel-{session_token}"), tmp_path / "data")
    reset_database(made)
    return made


def _expired_watch(settings: Settings) -> RunWatch:
    """The watch of a running run's attempt 1, its lease already over."""
    with row_session(settings.database_url) as db:
        run = make_run(db, status=RunStatus.running, attempt=1, heartbeat_at=utcnow())
    claim = Claim(run.id, 1, TrainConfig.model_validate(run.config))
    return RunWatch(partial(unit_of_work, settings), claim, interval_s=3600, lease_s=0)


def test_an_owner_past_its_lease_renews_it_and_trains_on(settings: Settings) -> None:
    watch = _expired_watch(settings)
    assert (watch.should_stop(), watch.lost) == (False, False)


def test_an_attempt_whose_run_was_handed_on_raises_run_lost_at_its_next_step(settings: Settings) -> None:
    watch = _expired_watch(settings)
    with row_session(settings.database_url) as db:
        db.execute(update(Run).where(Run.id == watch.claim.run_id).values(attempt=2))
    with pytest.raises(RunLost):
        watch.should_stop()
