"""The worker-side use cases on real backends: claiming, ownership, the heartbeat sweep."""

from __future__ import annotations

import pytest
from conftest import make_run, stale_running
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import EpochMetric, Run, RunStatus
from app.schemas.metrics import EpochRecord
from app.services.execution import Claim, Worker, claim_run, heartbeat, sweep_stale_runs
from app.services.metrics import record_epochs
from app.services.unit_of_work import UnitOfWork
from app.settings import Settings
from tests.rows import unit_of_work

ME = Worker(host="test-host", pid=4242, gpu="cpu")


def alive(_host: str | None, _pid: int | None) -> bool:
    return True


def dead(_host: str | None, _pid: int | None) -> bool:
    return False


def record(epoch: int, val_acc: float = 0.5) -> EpochRecord:
    return EpochRecord(
        epoch=epoch, train_loss=1.0, train_acc=0.5, val_loss=1.0, val_acc=val_acc, test_loss=None, test_acc=None,
        lr={"conv1": 0.1}, images_per_s=10.0, seconds=1.0,
    )  # fmt: skip


def claim(uow: UnitOfWork, run: Run, owner_alive=alive) -> Claim | None:
    return claim_run(uow=uow, run_id=run.id, worker=ME, owner_alive=owner_alive)


def test_claim_marks_queued_run_running_with_host(db: Session, uow: UnitOfWork) -> None:
    run = make_run(db)
    got = claim(uow, run)
    db.refresh(run)
    assert (got.attempt, run.status, run.worker_host, run.gpu) == (1, "running", "test-host", "cpu")


def test_duplicate_delivery_of_a_live_run_does_nothing(db: Session, uow: UnitOfWork) -> None:
    run = make_run(db)
    claim(uow, run)
    assert claim(uow, run) is None


def test_delivery_after_owner_died_takes_over(db: Session, uow: UnitOfWork) -> None:
    run = make_run(db)
    claim(uow, run)
    assert claim(uow, run, owner_alive=dead).attempt == 2


@pytest.mark.parametrize("status", [RunStatus.succeeded, RunStatus.failed, RunStatus.cancelled])
def test_finished_run_is_not_claimed(db: Session, uow: UnitOfWork, status: RunStatus) -> None:
    assert claim(uow, make_run(db, status=status)) is None


def test_claim_of_missing_run_raises_lookup_error(db: Session, uow: UnitOfWork) -> None:
    with pytest.raises(LookupError):
        claim_run(uow=uow, run_id=999, worker=ME, owner_alive=alive)


def test_recording_an_epoch_twice_keeps_one_row(db: Session, uow: UnitOfWork) -> None:
    run = make_run(db)
    got = claim(uow, run)
    record_epochs(uow=uow, run_id=run.id, attempt=got.attempt, records=[record(0, 0.5)])
    record_epochs(uow=uow, run_id=run.id, attempt=got.attempt, records=[record(0, 0.7)])
    rows = db.scalars(select(EpochMetric).where(EpochMetric.run_id == run.id)).all()
    assert [(r.epoch, r.val_acc) for r in rows] == [(0, 0.7)]


def test_superseded_attempt_can_no_longer_write(db: Session, uow: UnitOfWork) -> None:
    run = make_run(db)
    old = claim(uow, run)
    claim(uow, run, owner_alive=dead)
    assert record_epochs(uow=uow, run_id=run.id, attempt=old.attempt, records=[record(0)]) is False
    assert heartbeat(uow=uow, run_id=run.id, attempt=old.attempt).owned is False


def test_heartbeat_reports_a_pending_cancel(db: Session, uow: UnitOfWork) -> None:
    run = make_run(db)
    got = claim(uow, run)
    db.execute(Run.__table__.update().where(Run.id == run.id).values(cancel_requested=True))
    assert heartbeat(uow=uow, run_id=run.id, attempt=got.attempt).cancel_requested is True


def test_sweep_requeues_a_silent_run(db: Session, settings: Settings, uow: UnitOfWork) -> None:
    run = stale_running(db, queue=settings.default_queue)
    assert sweep_stale_runs(uow=uow) == [(run.id, "queued")]


def test_sweep_fails_a_run_that_lost_its_worker_too_often(db: Session, settings: Settings, uow: UnitOfWork) -> None:
    run = stale_running(db, attempt=settings.max_attempts)
    sweep_stale_runs(uow=uow)
    db.refresh(run)
    assert run.status == "failed"
    assert "gone-host" in run.error and "no heartbeat" in run.error


def test_sweep_finishes_a_silent_run_being_cancelled(db: Session, settings: Settings, uow: UnitOfWork) -> None:
    run = stale_running(db, cancel_requested=True)
    assert sweep_stale_runs(uow=uow) == [(run.id, "cancelled")]


def test_sweep_leaves_live_runs_alone(db: Session, settings: Settings, uow: UnitOfWork) -> None:
    run = make_run(db)
    claim(uow, run)
    assert sweep_stale_runs(uow=uow) == []


def test_sweep_with_broker_down_leaves_run_for_the_next_sweep(db: Session, settings: Settings) -> None:
    run = stale_running(db, queue=settings.default_queue)
    with unit_of_work(settings.model_copy(update={"broker_url": "redis://127.0.0.1:1/0"})) as down:
        assert sweep_stale_runs(uow=down) == []
    db.refresh(run)
    assert run.status == "running"
