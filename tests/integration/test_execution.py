"""The worker-side use cases on real backends: claiming, ownership, the heartbeat sweep."""

from __future__ import annotations

import pytest
from celery import Celery
from conftest import make_run, stale_running
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import EpochMetric, Run, RunStatus
from app.schemas.metrics import EpochRecord
from app.services.execution import Claim, Worker, claim_run, heartbeat, sweep_stale_runs
from app.services.metrics import record_epochs
from app.settings import Settings
from worker.celery_app import make_celery

ME = Worker(host="test-host", pid=4242, gpu="cpu")


def alive(_host: str | None, _pid: int | None) -> bool:
    return True


def dead(_host: str | None, _pid: int | None) -> bool:
    return False


@pytest.fixture
def celery(settings: Settings) -> Celery:
    return make_celery(settings)


def record(epoch: int, val_acc: float = 0.5) -> EpochRecord:
    return EpochRecord(
        epoch=epoch, train_loss=1.0, train_acc=0.5, val_loss=1.0, val_acc=val_acc, test_loss=None, test_acc=None,
        lr={"conv1": 0.1}, images_per_s=10.0, seconds=1.0,
    )  # fmt: skip


def claim(db: Session, settings: Settings, run: Run, owner_alive=alive) -> Claim | None:
    return claim_run(db=db, settings=settings, run_id=run.id, worker=ME, owner_alive=owner_alive)


def test_claim_marks_queued_run_running_with_host(db: Session, settings: Settings) -> None:
    run = make_run(db)
    got = claim(db, settings, run)
    db.refresh(run)
    assert (got.attempt, run.status, run.worker_host, run.gpu) == (1, "running", "test-host", "cpu")


def test_duplicate_delivery_of_a_live_run_does_nothing(db: Session, settings: Settings) -> None:
    run = make_run(db)
    claim(db, settings, run)
    assert claim(db, settings, run) is None


def test_delivery_after_owner_died_takes_over(db: Session, settings: Settings) -> None:
    run = make_run(db)
    claim(db, settings, run)
    assert claim(db, settings, run, owner_alive=dead).attempt == 2


@pytest.mark.parametrize("status", [RunStatus.succeeded, RunStatus.failed, RunStatus.cancelled])
def test_finished_run_is_not_claimed(db: Session, settings: Settings, status: RunStatus) -> None:
    assert claim(db, settings, make_run(db, status=status)) is None


def test_claim_of_missing_run_raises_lookup_error(db: Session, settings: Settings) -> None:
    with pytest.raises(LookupError):
        claim_run(db=db, settings=settings, run_id=999, worker=ME, owner_alive=alive)


def test_recording_an_epoch_twice_keeps_one_row(db: Session, settings: Settings) -> None:
    run = make_run(db)
    got = claim(db, settings, run)
    record_epochs(db=db, run_id=run.id, attempt=got.attempt, records=[record(0, 0.5)])
    record_epochs(db=db, run_id=run.id, attempt=got.attempt, records=[record(0, 0.7)])
    rows = db.scalars(select(EpochMetric).where(EpochMetric.run_id == run.id)).all()
    assert [(r.epoch, r.val_acc) for r in rows] == [(0, 0.7)]


def test_superseded_attempt_can_no_longer_write(db: Session, settings: Settings) -> None:
    run = make_run(db)
    old = claim(db, settings, run)
    claim(db, settings, run, owner_alive=dead)
    assert record_epochs(db=db, run_id=run.id, attempt=old.attempt, records=[record(0)]) is False
    assert heartbeat(db=db, run_id=run.id, attempt=old.attempt).owned is False


def test_heartbeat_reports_a_pending_cancel(db: Session, settings: Settings) -> None:
    run = make_run(db)
    got = claim(db, settings, run)
    db.execute(Run.__table__.update().where(Run.id == run.id).values(cancel_requested=True))
    db.commit()
    assert heartbeat(db=db, run_id=run.id, attempt=got.attempt).cancel_requested is True


def test_sweep_requeues_a_silent_run(db: Session, settings: Settings, celery: Celery) -> None:
    run = stale_running(db, queue=settings.default_queue)
    assert sweep_stale_runs(db=db, celery=celery, settings=settings) == [(run.id, "queued")]


def test_sweep_fails_a_run_that_lost_its_worker_too_often(db: Session, settings: Settings, celery: Celery) -> None:
    run = stale_running(db, attempt=settings.max_attempts)
    sweep_stale_runs(db=db, celery=celery, settings=settings)
    db.refresh(run)
    assert run.status == "failed"
    assert "gone-host" in run.error and "no heartbeat" in run.error


def test_sweep_finishes_a_silent_run_being_cancelled(db: Session, settings: Settings, celery: Celery) -> None:
    run = stale_running(db, cancel_requested=True)
    assert sweep_stale_runs(db=db, celery=celery, settings=settings) == [(run.id, "cancelled")]


def test_sweep_leaves_live_runs_alone(db: Session, settings: Settings, celery: Celery) -> None:
    run = make_run(db)
    claim(db, settings, run)
    assert sweep_stale_runs(db=db, celery=celery, settings=settings) == []


def test_sweep_with_broker_down_leaves_run_for_the_next_sweep(db: Session, settings: Settings) -> None:
    run = stale_running(db, queue=settings.default_queue)
    down = make_celery(settings.model_copy(update={"broker_url": "redis://127.0.0.1:1/0"}))
    assert sweep_stale_runs(db=db, celery=down, settings=settings) == []
    db.refresh(run)
    assert run.status == "running"
