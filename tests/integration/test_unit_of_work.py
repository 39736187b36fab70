"""Every writing service survives a competing write between its first read and its write.

On SQLite a transaction that began by reading cannot become a writer once another
connection committed in between ("database is locked", at once): a worker's heartbeat
every few seconds made uploads, submits and clones answer 500. The unit of work begins
each write block as the writer, so the competitor waits for it instead. The fixture here
commits a competing write (a worker's heartbeat row) from another connection the moment
each service issues its first SELECT, and lets it finish if it can (it cannot while the
service holds the write lock); then checks that both writes landed. Run on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import io
import threading
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import torch
from conftest import TINY, make_run
from PIL import Image
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from app.db.types import utcnow
from app.models import (
    ApiToken,
    DatasetFolder,
    Evaluation,
    EvaluationStatus,
    LoginAttempt,
    LoginSession,
    Run,
    RunStatus,
    RunTag,
    Sweep,
    SweepState,
    User,
    WorkerSeen,
)
from app.schemas.accounts import Principal
from app.schemas.evaluations import EvaluationCreate, TransferRequest
from app.schemas.metrics import EpochRecord
from app.schemas.runs import RunClone, RunCreate, RunUpdate, StudyCreate
from app.schemas.saved_studies import SavedStudyCreate, StudyRerun
from app.schemas.sweeps import SweepSpec
from app.services import (
    accounts,
    catalog,
    datasets,
    evaluation_jobs,
    evaluations,
    execution,
    metrics,
    organisation,
    runs,
    saved_studies,
    sweeps,
    uploads,
    workers,
)
from app.services.errors import LoginRefused
from app.services.unit_of_work import UnitOfWork
from app.settings import Settings
from tests.rows import unit_of_work
from tests.weights_files import place_imagenet_weights

PASSWORD = "a long enough password"
TRANSACTION_CONTROL = {"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"}


@dataclass
class Competitor:
    """Commits a worker heartbeat from another connection at a service's first statement (a read, mostly)."""

    settings: Settings
    thread: threading.Thread | None = None
    errors: list[BaseException] = field(default_factory=list)

    def arm(self, uow: UnitOfWork) -> None:
        caller = threading.get_ident()

        def on_execute(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            first_word = statement.lstrip().split(" ", 1)[0].upper()
            if self.thread is None and threading.get_ident() == caller and first_word not in TRANSACTION_CONTROL:
                self.thread = threading.Thread(target=self._beat, daemon=True)
                self.thread.start()
                self.thread.join(timeout=0.5)  # commits now, unless the service holds the write lock

        event.listen(uow.session.get_bind(), "after_cursor_execute", on_execute)

    def _beat(self) -> None:
        try:
            with unit_of_work(self.settings) as other:
                workers.worker_seen(uow=other, name="competitor", host="h", pid=1, queues=["default"], gpu=None)
        except BaseException as exc:  # noqa: BLE001 (reported by `finish`)
            self.errors.append(exc)

    def finish(self) -> None:
        assert self.thread is not None, "the service issued no statement: nothing was tested"
        self.thread.join(timeout=40)
        assert not self.thread.is_alive() and not self.errors, self.errors


@dataclass
class World:
    """What the services act on: the caller, a user with a password, runs in each state."""

    principal: Principal
    finished: int
    queued: int
    token_id: int
    claim: execution.Claim
    evaluation_queued: int
    evaluation_claim: evaluation_jobs.EvaluationClaim
    evaluation_stale: int
    session_secret: str  # bob's dashboard session
    sweep_id: int  # a running sweep (2 trials, 1 at a time) whose first trial has just succeeded


SWEEP = SweepSpec.model_validate({
    "name": "uow", "base": {"config": TINY}, "sampler": "random", "trials": 2,
    "space": {"stages.classifier.lr": {"type": "float", "low": 0.01, "high": 0.1, "log": True}},
})  # fmt: skip


def record(epoch: int) -> EpochRecord:
    return EpochRecord(
        epoch=epoch, train_loss=1.0, train_acc=0.5, val_loss=1.0, val_acc=0.5, test_loss=None, test_acc=None,
        lr={"conv1": 0.1}, images_per_s=10.0, seconds=1.0,
    )  # fmt: skip


def class_zip() -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for label, colour in (("ants", (200, 30, 30)), ("bees", (30, 30, 200))):
            for index in range(2):
                image = io.BytesIO()
                Image.new("RGB", (16, 16), colour).save(image, "PNG")
                archive.writestr(f"{label}/{index}.png", image.getvalue())
    buffer.seek(0)
    return buffer


SERVICES: dict[str, Callable[[UnitOfWork, World], Any]] = {
    "submit": lambda uow, w: runs.create_run(uow=uow, principal=w.principal, request=RunCreate(config=TINY)),
    "clone": lambda uow, w: runs.clone_run(uow=uow, principal=w.principal, run_id=w.finished, request=RunClone()),
    "study": lambda uow, w: runs.create_study(
        uow=uow, principal=w.principal, request=StudyCreate(study=runs.list_studies()[0].name)
    ),
    "cancel": lambda uow, w: runs.cancel_run(uow=uow, principal=w.principal, run_id=w.queued),
    "delete": lambda uow, w: runs.delete_run(uow=uow, principal=w.principal, run_id=w.finished),
    "run update": lambda uow, w: organisation.update_run(
        uow=uow, principal=w.principal, run_id=w.finished, request=RunUpdate(name="renamed", tags=["t"])
    ),
    "bulk tag": lambda uow, w: organisation.bulk_action(
        uow=uow, principal=w.principal, run_ids=[w.finished, w.queued], action="tag", tags=["bulk"]
    ),
    "dataset upload": lambda uow, w: uploads.create_upload(uow=uow, principal=w.principal, name="shapes", source=class_zip()),
    "dataset scan": lambda uow, w: catalog.scan_datasets(uow=uow),
    "dataset delete": lambda uow, w: datasets.delete_upload(uow=uow, principal=w.principal, name="old"),
    "token create": lambda uow, w: accounts.create_token(uow=uow, principal=w.principal, name="ci"),
    "token revoke": lambda uow, w: accounts.revoke_token(uow=uow, principal=w.principal, token_id=w.token_id),
    "user create": lambda uow, w: accounts.create_user(uow=uow, name="carol", password=None),
    "password change": lambda uow, w: accounts.set_password(uow=uow, name="bob", password=PASSWORD + "!"),
    "user disable": lambda uow, w: accounts.set_disabled(uow=uow, name="bob", disabled=True),
    "login": lambda uow, w: accounts.log_in(uow=uow, name="bob", password=PASSWORD, client="127.0.0.1"),
    "failed-login record": lambda uow, w: _failed_login(uow),
    "log out": lambda uow, w: accounts.log_out(uow=uow, secret=w.session_secret),
    "worker gone": lambda uow, w: workers.worker_gone(uow=uow, name="leaving"),
    "worker seen": lambda uow, w: workers.worker_seen(uow=uow, name="w", host="h", pid=2, queues=["q"], gpu=None),
    "heartbeat": lambda uow, w: execution.heartbeat(uow=uow, run_id=w.claim.run_id, attempt=w.claim.attempt),
    "claim": lambda uow, w: execution.claim_run(
        uow=uow, run_id=w.queued, worker=execution.Worker("h", 3, None), owner_alive=lambda *_: True
    ),
    "finish": lambda uow, w: execution.finish_run(uow=uow, claim=w.claim, status=RunStatus.succeeded),
    "epoch records": lambda uow, w: metrics.record_epochs(
        uow=uow, run_id=w.claim.run_id, attempt=w.claim.attempt, records=[record(1)]
    ),
    "evaluation create": lambda uow, w: evaluations.create_evaluation(
        uow=uow, principal=w.principal, run_id=w.finished, request=EvaluationCreate(dataset=FAKE_DATASET)
    ),
    "transfer create": lambda uow, w: evaluations.create_transfer(
        uow=uow, principal=w.principal, request=TransferRequest(run_ids=[w.finished], datasets=[FAKE_DATASET])
    ),
    "evaluation claim": lambda uow, w: evaluation_jobs.claim_evaluation(
        uow=uow, evaluation_id=w.evaluation_queued, worker=execution.Worker("h", 4, None), owner_alive=lambda *_: True
    ),
    "evaluation heartbeat": lambda uow, w: evaluation_jobs.evaluation_heartbeat(uow=uow, claim=w.evaluation_claim),
    "evaluation finish": lambda uow, w: evaluation_jobs.finish_evaluation(uow=uow, claim=w.evaluation_claim,
                                                                          error="failed on purpose"),
    "evaluation sweep": lambda uow, w: evaluation_jobs.sweep_stale_evaluations(uow=uow),
    "sweep create": lambda uow, w: sweeps.create_sweep(uow=uow, principal=w.principal, spec=SWEEP),
    "sweep cancel": lambda uow, w: sweeps.cancel_sweep(uow=uow, principal=w.principal, sweep_id=w.sweep_id),
    "sweep advance": lambda uow, w: sweeps.advance_sweep(uow=uow, sweep_id=w.sweep_id),
    "study save": lambda uow, w: saved_studies.save_study(
        uow=uow, principal=w.principal, request=SavedStudyCreate(name="saved", run_ids=[w.finished, w.queued])
    ),
    "study re-run": lambda uow, w: saved_studies.rerun_study(
        uow=uow, principal=w.principal, name="uow", request=StudyRerun(seeds=[7])
    ),
}
FAKE_DATASET = {"name": "fake", "num_images": 8, "num_classes": 2}


def _failed_login(uow: UnitOfWork) -> None:
    with pytest.raises(LoginRefused):
        accounts.log_in(uow=uow, name="bob", password="wrong password, long", client="127.0.0.1")


@pytest.fixture
def world(settings: Settings, db: Session, uow: UnitOfWork) -> World:
    place_imagenet_weights(settings, "resnet18")  # the study's runs start from ImageNet weights
    principal = accounts.local_principal(uow=uow)
    accounts.create_user(uow=uow, name="bob", password=PASSWORD)
    token = accounts.create_token(uow=uow, principal=principal, name="old")
    session_secret, _ = accounts.log_in(uow=uow, name="bob", password=PASSWORD, client="127.0.0.1")
    workers.worker_seen(uow=uow, name="leaving", host="h", pid=5, queues=["q"], gpu=None)
    # The sweep first: the checks of "study" and "submit" look for runs newer than the ones below.
    sweep_id = sweeps.create_sweep(uow=uow, principal=principal, spec=SWEEP).id
    trial = db.scalar(select(Run).where(Run.sweep_id == sweep_id))
    assert trial is not None
    trial.status, trial.best_val_acc = RunStatus.succeeded, 0.5
    db.commit()
    finished = make_run(db, status=RunStatus.succeeded, owner_id=principal.user_id).id
    queued = make_run(db, owner_id=principal.user_id, queue=settings.default_queue).id
    running = make_run(db, owner_id=principal.user_id, queue=settings.default_queue)
    claim = execution.claim_run(
        uow=uow, run_id=running.id, worker=execution.Worker("h", 1, None), owner_alive=lambda *_: True
    )
    assert claim is not None
    db.add(RunTag(run_id=finished, tag="study:uow"))  # a saved study of one run, to re-run
    db.add(DatasetFolder(name="imagefolder", path="uploads/old", owner_id=principal.user_id))
    db.commit()
    folder = settings.runs_dir / str(finished)
    folder.mkdir(parents=True)
    torch.save({"model": {}, "class_names": ["class_0", "class_1"]}, folder / "best.pt")
    evaluation_queued, evaluation_running, evaluation_stale = (
        _evaluation(db, finished, settings, status, heartbeat) for status, heartbeat in
        ((EvaluationStatus.queued, None), (EvaluationStatus.queued, None), (EvaluationStatus.running, -3600))
    )  # fmt: skip
    evaluation_claim = evaluation_jobs.claim_evaluation(
        uow=uow, evaluation_id=evaluation_running, worker=execution.Worker("h", 1, None), owner_alive=lambda *_: True
    )
    assert evaluation_claim is not None
    return World(
        principal, finished, queued, token.id, claim, evaluation_queued, evaluation_claim, evaluation_stale,
        session_secret, sweep_id,
    )


def _evaluation(db: Session, run_id: int, settings: Settings, status: str, heartbeat_s: float | None) -> int:
    job = Evaluation(
        run_id=run_id, status=status, queue=settings.default_queue, dataset=FAKE_DATASET, dataset_label="fake",
        split="all", checkpoint="best", shared_classes=False, attempt=1 if heartbeat_s else 0,
        heartbeat_at=utcnow() + timedelta(seconds=heartbeat_s) if heartbeat_s else None,
    )  # fmt: skip
    db.add(job)
    db.commit()
    return job.id


@pytest.fixture
def service_uow(settings: Settings) -> Iterator[UnitOfWork]:
    with unit_of_work(settings) as made:
        yield made


@pytest.mark.parametrize("name", list(SERVICES))
def test_a_write_between_the_first_read_and_the_write_breaks_no_service(
    name: str, world: World, settings: Settings, service_uow: UnitOfWork, db: Session
) -> None:
    competitor = Competitor(settings)
    competitor.arm(service_uow)
    SERVICES[name](service_uow, world)
    competitor.finish()
    assert db.scalar(select(WorkerSeen.name).where(WorkerSeen.name == "competitor")) == "competitor"
    assert _effect(name, db, world), f"{name}: its write did not land"


def _effect(name: str, db: Session, world: World) -> bool:
    """The service's own write is in the database."""
    checks: dict[str, Callable[[], bool]] = {
        "submit": lambda: db.scalar(select(Run).where(Run.status == RunStatus.queued, Run.id > world.queued)) is not None,
        "clone": lambda: db.scalar(select(Run).where(Run.cloned_from == world.finished)) is not None,
        "study": lambda: (db.scalar(select(Run.id).where(Run.id > world.claim.run_id)) or 0) > 0,
        "cancel": lambda: db.get(Run, world.queued).status == RunStatus.cancelled,
        "delete": lambda: db.get(Run, world.finished) is None,
        "run update": lambda: db.get(Run, world.finished).name == "renamed",
        "bulk tag": lambda: db.scalar(select(func.count()).select_from(RunTag).where(RunTag.tag == "bulk")) == 2,
        "dataset upload": lambda: db.scalar(
            select(DatasetFolder.owner_id).where(DatasetFolder.path == "uploads/shapes")
        ) == world.principal.user_id,
        "dataset delete": lambda: db.scalar(select(DatasetFolder).where(DatasetFolder.path == "uploads/old")) is None,
        "dataset scan": lambda: True,  # nothing to find on an empty data root; the point is no error
        "token create": lambda: db.scalar(select(ApiToken).where(ApiToken.name == "ci")) is not None,
        "token revoke": lambda: db.get(ApiToken, world.token_id).revoked_at is not None,
        "user create": lambda: db.scalar(select(User).where(User.name == "carol")) is not None,
        "password change": lambda: True,  # checked by the login suite; the point here is no error
        "user disable": lambda: db.scalar(select(User.disabled).where(User.name == "bob")) is True,
        "login": lambda: db.scalar(select(LoginAttempt).where(LoginAttempt.name == "bob")) is None,
        "failed-login record": lambda: db.scalar(select(LoginAttempt).where(LoginAttempt.name == "bob")) is not None,
        "log out": lambda: db.scalar(select(func.count()).select_from(LoginSession)) == 0,
        "worker gone": lambda: db.get(WorkerSeen, "leaving") is None,
        "worker seen": lambda: db.get(WorkerSeen, "w") is not None,
        "heartbeat": lambda: db.get(Run, world.claim.run_id).heartbeat_at is not None,
        "claim": lambda: db.get(Run, world.queued).status == RunStatus.running,
        "finish": lambda: db.get(Run, world.claim.run_id).status == RunStatus.succeeded,
        "epoch records": lambda: db.get(Run, world.claim.run_id).epochs_done == 1,
        "evaluation create": lambda: db.scalar(select(Evaluation).where(Evaluation.id > world.evaluation_stale)) is not None,
        "transfer create": lambda: db.scalar(select(Evaluation).where(Evaluation.id > world.evaluation_stale)) is not None,
        "evaluation claim": lambda: db.get(Evaluation, world.evaluation_queued).status == EvaluationStatus.running,
        "evaluation heartbeat": lambda: db.get(Evaluation, world.evaluation_claim.evaluation_id).heartbeat_at is not None,
        "evaluation finish": lambda: db.get(Evaluation, world.evaluation_claim.evaluation_id).status == "failed",
        "evaluation sweep": lambda: db.get(Evaluation, world.evaluation_stale).status == EvaluationStatus.queued,
        "sweep create": lambda: db.scalar(select(func.count()).select_from(Sweep)) == 2,
        "sweep cancel": lambda: db.get(Sweep, world.sweep_id).state == SweepState.cancelled,
        "sweep advance": lambda: db.scalar(select(func.count()).select_from(Run).where(Run.sweep_id == world.sweep_id)) == 2,
        "study save": lambda: db.scalar(select(func.count()).select_from(RunTag).where(RunTag.tag == "study:saved")) == 2,
        "study re-run": lambda: db.scalar(select(func.count()).select_from(RunTag).where(RunTag.tag == "study:uow")) == 2,
    }
    db.expire_all()
    return checks[name]()
