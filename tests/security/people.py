"""Users of the security tests: account rows, their API tokens, and in-process clients.

Rows are made through the accounts service (as `stagewise users create` does), so the
tests see what a real server sees: argon2 hashes, token digests, owners of runs.
"""

from __future__ import annotations

import json
import re
import uuid
from contextlib import AbstractContextManager
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.testclient import TestClient
from integration_fixtures import add_epochs, make_run
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.types import utcnow
from app.models import Evaluation, EvaluationStatus, Run, RunStatus, Sweep, SweepState
from app.schemas.lr_finds import LrFindJob
from app.schemas.sweeps import SweepSpec
from app.services import accounts
from app.services.lr_finds import FOLDER as LR_FINDS_FOLDER
from app.services.runs import FAST_PATH_FILE, TEST_REPORT_FILE
from app.settings import Settings
from tests.rows import row_session, unit_of_work

PASSWORD = "correct horse battery"
BASE_URL = "http://testserver"  # TestClient's; the Host a same-origin browser would name
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)">')


@dataclass(frozen=True)
class Person:
    """A user and one of their API tokens (`token`: the secret, as the user holds it)."""

    id: int
    name: str
    token: str
    token_id: int

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def with_accounts(settings: Settings, **more: object) -> Settings:
    """`settings` with logins required (`accounts_required` follows `auth`)."""
    return settings.model_copy(update={"auth": "accounts", **more})


def rows(settings: Settings) -> AbstractContextManager[Session]:
    """An autocommitting session on the test database, for factories and for checking what a request changed."""
    return row_session(settings.database_url)


def add_person(settings: Settings, name: str, *, admin: bool = False, password: str | None = None) -> Person:
    """A user with one API token; `password` None: no dashboard login (argon2 is slow on purpose)."""
    with unit_of_work(settings) as uow:
        user = accounts.create_user(uow=uow, name=name, password=password, admin=admin)
        token = accounts.create_token_for(uow=uow, user_name=name, name="tests")
    return Person(id=user.id, name=name, token=token.token, token_id=token.id)


def finished_run(settings: Settings, owner: Person) -> int:
    """A succeeded run of `owner` with everything a reader can fetch: an epoch, checkpoints, a test report."""
    with rows(settings) as db:
        run = make_run(db, owner_id=owner.id, status=RunStatus.succeeded, started_at=utcnow(), finished_at=utcnow())
        add_epochs(db, run, 1)
        run_id = run.id
    folder = settings.runs_dir / str(run_id)
    folder.mkdir(parents=True)
    (folder / "best.pt").write_bytes(b"a checkpoint")
    (folder / "checkpoint.pt").write_bytes(b"the last checkpoint")
    report = {"model": "best", "epoch": 0, "accuracy": 0.5, "class_names": ["a", "b"], "confusion": [[1, 1], [1, 1]]}
    (folder / TEST_REPORT_FILE).write_text(json.dumps(report))
    (folder / FAST_PATH_FILE).write_text(json.dumps({"data": "cpu", "frozen_prefix": "none"}))
    return run_id


def an_evaluation(settings: Settings, run_id: int) -> int:
    """A succeeded evaluation of run `run_id` (on the synthetic dataset): an id that exists."""
    with rows(settings) as db:
        job = Evaluation(
            run_id=run_id, status=EvaluationStatus.succeeded, queue="default",
            dataset={"name": "fake", "num_images": 8, "num_classes": 2}, dataset_label="fake", split="all",
            checkpoint="best", shared_classes=False, attempt=1, accuracy=0.5,
        )  # fmt: skip
        db.add(job)
        db.commit()
        return job.id


def a_sweep(settings: Settings, owner_id: int) -> int:
    """A finished sweep of `owner_id` with no trials (no Optuna study is read for it): an id that exists."""
    spec = {"name": "routes", "base": {"config": {"dataset": {"name": "fake"}}}, "sampler": "random", "trials": 1,
            "space": {"stages.classifier.lr": {"type": "float", "low": 0.01, "high": 0.1, "log": True}}}  # fmt: skip
    with rows(settings) as db:
        sweep = Sweep(
            name="routes", state=SweepState.finished, queue="default",
            spec=SweepSpec.model_validate(spec).model_dump(mode="json"), base_config={},
            study_name=f"routes-{uuid.uuid4().hex[:12]}", owner_id=owner_id, finished_at=utcnow(),
        )  # fmt: skip
        db.add(sweep)
        db.commit()
        return sweep.id


def an_lr_find(settings: Settings, owner_id: int) -> str:
    """A finished LR range test of `owner_id` (its record under the data root): an id that exists."""
    job = LrFindJob(
        id=uuid.uuid4().hex, state="failed", base_lr=0.1, start=1e-7, end=10.0, steps=10, created_at=utcnow(),
        finished_at=utcnow(), error="made by the test", owner_id=owner_id, queue="default", config={},
    )  # fmt: skip
    folder = settings.data_dir / LR_FINDS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{job.id}.json").write_text(job.model_dump_json())
    return job.id


def run_count(settings: Settings) -> int:
    with rows(settings) as db:
        return db.scalar(select(func.count()).select_from(Run)) or 0


def browser(app: FastAPI) -> TestClient:
    """An in-process client that does not follow redirects (a test reads each Location)."""
    return TestClient(app, base_url=BASE_URL, follow_redirects=False)


def log_in(client: TestClient, name: str, password: str = PASSWORD) -> str:
    """Log `client` in (the session cookie stays in its jar); the page's CSRF token."""
    response = client.post("/login", data={"name": name, "password": password, "next": "/account"})
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/account").text)


def csrf_of(page: str) -> str:
    """The CSRF token a page hands its forms and scripts (`<meta name="csrf-token">`)."""
    found = CSRF_META.search(page)
    assert found is not None and found.group(1), "the page carries no CSRF token"
    return found.group(1)
