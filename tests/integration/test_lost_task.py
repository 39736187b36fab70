"""A worker that dies between taking a task and claiming its run or evaluation, on the embedded broker.

kombu's SQLAlchemy transport hides a taken message for good, so such a run would stay
queued forever; the workers' sweep publishes its task again once two sweeps in a row find
no message for it. The death itself cannot be timed (milliseconds), so the tests leave
exactly its trace in the broker's database: the message taken (invisible), the run or
evaluation still queued.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import TINY, Backend, Stack, make_run, make_settings, reset_database
from sqlalchemy.orm import Session

from app.models import Evaluation, EvaluationStatus, RunStatus
from app.queue import EVALUATE_TASK, TRAIN_TASK, runs_waiting_in_sql_broker, tasks_waiting_in_sql_broker
from app.services.evaluation_jobs import redispatch_lost_evaluations
from app.services.execution import redispatch_lost_tasks
from app.services.unit_of_work import UnitOfWork
from app.settings import Settings
from tests.polling import wait_for

OTHER_FAKE = {"name": "fake", "num_images": 16, "num_classes": 2, "split_seed": 7}  # the tiny runs' class names


def take_message_of(settings: Settings, job_id: int, task: str = TRAIN_TASK) -> None:
    """What kombu does when a worker takes a task: the message row turns invisible."""
    path = settings.broker_url.removeprefix("sqla+sqlite:///")
    with sqlite3.connect(path) as broker:
        changed = broker.execute(
            "UPDATE kombu_message SET visible = 0 WHERE visible AND payload LIKE ? AND payload LIKE ?",
            (f'%"argsrepr": "[{job_id}]"%', f'%"task": "{task}"%'),
        ).rowcount
    assert changed == 1, f"no waiting {task} message of {job_id}"


def test_a_queued_run_whose_task_was_taken_is_sent_again_on_the_second_sweep(
    backend: Backend, settings: Settings, db: Session, uow: UnitOfWork
) -> None:
    if backend.name != "embedded":
        pytest.skip("Redis redelivers an unacknowledged task itself")
    kept, lost = make_run(db, queue=settings.default_queue), make_run(db, queue=settings.default_queue)
    for run in (kept, lost):
        uow.tasks.train(run.id, run.queue)
    take_message_of(settings, lost.id)
    assert runs_waiting_in_sql_broker(settings) == {kept.id}

    first, suspects = redispatch_lost_tasks(uow=uow, suspects=set())
    assert (first, suspects) == ([], {lost.id})  # once could be a worker between taking and claiming
    second, suspects = redispatch_lost_tasks(uow=uow, suspects=suspects)
    assert (second, suspects) == ([lost.id], set())
    assert runs_waiting_in_sql_broker(settings) == {kept.id, lost.id}


def test_a_claimed_run_is_never_sent_again(backend: Backend, settings: Settings, db: Session, uow: UnitOfWork) -> None:
    if backend.name != "embedded":
        pytest.skip("embedded broker only")
    run = make_run(db, queue=settings.default_queue)
    uow.tasks.train(run.id, run.queue)
    take_message_of(settings, run.id)
    _, suspects = redispatch_lost_tasks(uow=uow, suspects=set())
    run.status = RunStatus.running  # the worker claimed it between the two sweeps
    db.commit()
    assert redispatch_lost_tasks(uow=uow, suspects=suspects) == ([], set())
    assert runs_waiting_in_sql_broker(settings) == set()


def queued_evaluation(db: Session, settings: Settings, run_id: int) -> Evaluation:
    job = Evaluation(
        run_id=run_id, status=EvaluationStatus.queued, queue=settings.default_queue, dataset=OTHER_FAKE,
        dataset_label="fake", split="all", checkpoint="best", shared_classes=False, attempt=0,
    )  # fmt: skip
    db.add(job)
    db.commit()
    return job


def test_a_queued_evaluation_whose_task_was_taken_is_sent_again_on_the_second_sweep(
    backend: Backend, settings: Settings, db: Session, uow: UnitOfWork
) -> None:
    if backend.name != "embedded":
        pytest.skip("Redis redelivers an unacknowledged task itself")
    run = make_run(db, status=RunStatus.succeeded)
    kept, lost = queued_evaluation(db, settings, run.id), queued_evaluation(db, settings, run.id)
    for job in (kept, lost):
        uow.tasks.evaluate(job.id, job.queue)
    take_message_of(settings, lost.id, EVALUATE_TASK)
    assert tasks_waiting_in_sql_broker(settings, EVALUATE_TASK) == {kept.id}

    first, suspects = redispatch_lost_evaluations(uow=uow, suspects=set())
    assert (first, suspects) == ([], {lost.id})  # once could be a worker between taking and claiming
    second, suspects = redispatch_lost_evaluations(uow=uow, suspects=suspects)
    assert (second, suspects) == ([lost.id], set())
    assert tasks_waiting_in_sql_broker(settings, EVALUATE_TASK) == {kept.id, lost.id}


@pytest.fixture
def embedded_stack(tmp_path: Path) -> Iterator[Stack]:
    backend = Backend("embedded", None, None, f"lost-{uuid.uuid4().hex[:8]}")
    made = make_settings(backend, tmp_path / "data")
    reset_database(made)
    stack = Stack(made, tmp_path)
    try:
        yield stack
    finally:
        stack.stop()


def test_end_to_end_the_lost_run_trains_once_after_a_worker_starts(embedded_stack: Stack) -> None:
    stack = embedded_stack
    stack.start_server()
    with stack.client() as client:
        runs = [client.post("/api/runs", json={"config": TINY}).json()["id"] for _ in range(2)]
        take_message_of(stack.settings, runs[0])  # taken by a worker that died before claiming
        stack.start_worker()

        def finished() -> list[dict[str, object]] | None:
            found = [client.get(f"/api/runs/{run_id}").json() for run_id in runs]
            return found if all(run["status"] in ("succeeded", "failed") for run in found) else None

        done = wait_for(finished, timeout=120, what="both runs to finish")
        epochs = [[m["epoch"] for m in client.get(f"/api/runs/{run_id}/metrics").json()] for run_id in runs]
    assert [(run["status"], run["attempt"]) for run in done] == [("succeeded", 1), ("succeeded", 1)]
    assert epochs == [[0, 1], [0, 1]]
    assert "was queued with no task in the broker" in (stack.logs / "worker0.log").read_text()


def test_end_to_end_the_lost_evaluation_is_finished_once_after_a_worker_starts(embedded_stack: Stack) -> None:
    stack = embedded_stack
    stack.start_server()
    with stack.client() as client:
        run_id = client.post("/api/runs", json={"config": TINY}).json()["id"]
        first_worker = stack.start_worker()
        wait_for(lambda: client.get(f"/api/runs/{run_id}").json()["status"] == "succeeded", timeout=180,
                 what="the tiny run to succeed")  # fmt: skip
        stack.kill_worker(first_worker)  # no worker now: the evaluation's task waits in the broker
        response = client.post(f"/api/runs/{run_id}/evaluations", json={"dataset": OTHER_FAKE})
        assert response.status_code == 201, response.text
        evaluation_id = response.json()["id"]
        take_message_of(stack.settings, evaluation_id, EVALUATE_TASK)  # taken by a worker that died before claiming
        stack.start_worker()
        done = wait_for(
            lambda: (e := client.get(f"/api/evaluations/{evaluation_id}").json())["status"] in ("succeeded", "failed")
            and e, timeout=120, what="the evaluation to finish",
        )  # fmt: skip
    assert (done["status"], done["attempt"], done["error"]) == ("succeeded", 1, None)
    assert done["result"]["count"] == 16
    worker_log = (stack.logs / "worker1.log").read_text()
    assert f"evaluation {evaluation_id} was queued with no task in the broker" in worker_log
