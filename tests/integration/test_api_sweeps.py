"""POST /api/sweeps and friends, on real Optuna and real databases (SQLite and PostgreSQL), no worker.

A sweep's trials are runs queued like any run; what a worker would do when a trial ends
(`advance_sweep`) is called here after the test finished the runs in the database, so the
continuation is tested without training. tests/integration/test_sweep_trials.py trains them.
"""

from __future__ import annotations

from typing import Any

import optuna
import pytest
from conftest import TINY, add_epochs, local_client
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.types import utcnow
from app.main import create_app
from app.models import Run, RunStatus, Sweep
from app.schemas.metrics import EpochRecord, EpochVerdict
from app.services import execution, sweeps
from app.services.unit_of_work import UnitOfWork
from app.settings import Settings
from app.sweeps.storage import sweep_storage

optuna.logging.set_verbosity(optuna.logging.WARNING)

BASE = {"config": {**TINY, "dataset": {"name": "fake", "num_images": 24, "num_classes": 2}}}
GRID_SPACE = {
    "stages.classifier.lr": {"type": "categorical", "choices": [0.01, 0.1]},
    "freeze_through": {"type": "categorical", "choices": ["none", "conv3"]},
}
GRID = {(0.01, "none"), (0.01, "conv3"), (0.1, "none"), (0.1, "conv3")}


def spec(**fields: Any) -> dict[str, Any]:
    return {"name": "grid", "base": BASE, "space": GRID_SPACE, "sampler": "grid", **fields}


def create(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/api/sweeps", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def drawn(trials: list[dict[str, Any]]) -> set[tuple[Any, Any]]:
    return {(t["params"]["stages.classifier.lr"], t["params"]["freeze_through"]) for t in trials}


def end_trials(db: Session, sweep_id: int, status: RunStatus, *, val_acc: float = 0.5) -> None:
    """Finish every queued trial of the sweep as a worker would have (one epoch each)."""
    for run in db.scalars(select(Run).where(Run.sweep_id == sweep_id, Run.status == RunStatus.queued)).all():
        add_epochs(db, run, 1, val_acc=lambda _e, v=val_acc + run.id / 100: v)
        run.status, run.finished_at, run.best_val_acc = status, utcnow(), val_acc + run.id / 100
        db.commit()


def counts(db: Session) -> tuple[int, int]:
    return db.scalar(select(func.count()).select_from(Run)) or 0, db.scalar(select(func.count()).select_from(Sweep)) or 0


def test_a_grid_sweep_queues_its_first_trials_as_runs(client: TestClient, db: Session) -> None:
    sweep = create(client, spec(parallel=2))
    runs = db.scalars(select(Run).where(Run.sweep_id == sweep["id"]).order_by(Run.trial_number)).all()
    assert sweep["state"] == "running" and sweep["planned_trials"] == 4
    assert [(t["state"], t["run_id"]) for t in sweep["trials"]] == [("queued", r.id) for r in runs]
    assert [r.trial_number for r in runs] == [0, 1] and all(r.status == RunStatus.queued for r in runs)
    for run, trial in zip(runs, sweep["trials"], strict=True):
        stages = run.config["stages"]
        assert stages["classifier"]["lr"] == trial["params"]["stages.classifier.lr"]
        assert (stages.get("conv1") or {}).get("lr") == (0.0 if trial["params"]["freeze_through"] == "conv3" else None)


def test_a_grid_sweep_creates_exactly_the_grid(client: TestClient, db: Session, uow: UnitOfWork) -> None:
    sweep_id = create(client, spec(parallel=2))["id"]
    end_trials(db, sweep_id, RunStatus.succeeded)
    sweeps.advance_sweep(uow=uow, sweep_id=sweep_id)
    assert client.get(f"/api/sweeps/{sweep_id}").json()["trial_counts"] == {"complete": 2, "queued": 2}
    end_trials(db, sweep_id, RunStatus.succeeded)
    sweeps.advance_sweep(uow=uow, sweep_id=sweep_id)
    done = client.get(f"/api/sweeps/{sweep_id}").json()
    assert done["state"] == "finished" and len(done["trials"]) == 4 and drawn(done["trials"]) == GRID
    best = max(done["trials"], key=lambda t: t["value"])
    assert (done["best"]["run_id"], done["best"]["value"]) == (best["run_id"], best["value"])
    assert done["best"]["config"]["stages"]["classifier"]["lr"] == best["params"]["stages.classifier.lr"]


def test_a_sweep_whose_trials_all_fail_finishes_with_the_failures(
    client: TestClient, db: Session, uow: UnitOfWork
) -> None:
    sweep_id = create(client, spec(parallel=2, trials=2))["id"]
    end_trials(db, sweep_id, RunStatus.failed)
    sweeps.advance_sweep(uow=uow, sweep_id=sweep_id)
    done = client.get(f"/api/sweeps/{sweep_id}").json()
    assert done["state"] == "finished" and done["trial_counts"] == {"failed": 2} and done["best"] is None


@pytest.mark.parametrize(
    ("space", "loc"),
    [
        ({"stages.conv9.lr": {"type": "float", "low": 0.001, "high": 0.1}}, ["body", "space", "stages.conv9.lr"]),
        ({"optimizer.nonsense": {"type": "float", "low": 0.001, "high": 0.1}}, ["body", "space", "optimizer.nonsense"]),
        (
            {"features": {"stages": ["conv1", "conv9"], "type": "float", "low": 0.001, "high": 0.1}},
            ["body", "space", "features", "stages", 1],
        ),
        ({"optimizer.lr": {"type": "float", "low": 0.1, "high": 0.001}}, ["body", "space", "optimizer.lr", "float"]),
    ],
    ids=["unknown stage", "unknown path", "group stage", "low above high"],
)
def test_a_bad_space_is_refused_naming_it_and_nothing_is_stored(
    client: TestClient, db: Session, settings: Settings, space: dict[str, Any], loc: list[Any]
) -> None:
    studies_before = set(optuna.get_all_study_names(sweep_storage(settings.database_url)))
    response = client.post("/api/sweeps", json={"base": BASE, "space": space, "sampler": "random", "trials": 3})
    assert response.status_code == 422, response.text
    assert [e["loc"][: len(loc)] for e in response.json()["detail"]] == [loc]
    assert counts(db) == (0, 0)
    assert set(optuna.get_all_study_names(sweep_storage(settings.database_url))) == studies_before


def test_a_sweep_past_the_quota_stores_nothing(settings: Settings, db: Session) -> None:
    limited = settings.model_copy(update={"max_active_runs_per_user": 2})
    studies_before = set(optuna.get_all_study_names(sweep_storage(settings.database_url)))
    with local_client(create_app(limited)) as client:
        response = client.post("/api/sweeps", json=spec(parallel=3))
    assert response.status_code == 429, response.text
    assert counts(db) == (0, 0)
    assert set(optuna.get_all_study_names(sweep_storage(settings.database_url))) == studies_before


def test_cancel_stops_queued_and_running_trials(client: TestClient, db: Session, uow: UnitOfWork) -> None:
    sweep = create(client, spec(parallel=2))
    running, queued = (t["run_id"] for t in sweep["trials"])
    execution.claim_run(uow=uow, run_id=running, worker=execution.Worker("h", 1, None), owner_alive=lambda *_: True)
    cancelled = client.post(f"/api/sweeps/{sweep['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["state"] == "cancelled"
    db.expire_all()
    assert db.get(Run, queued).status == RunStatus.cancelled
    assert (db.get(Run, running).status, db.get(Run, running).cancel_requested) == (RunStatus.running, True)
    sweeps.advance_sweep(uow=uow, sweep_id=sweep["id"])  # what a worker does when the running trial stops
    assert db.scalar(select(func.count()).select_from(Run).where(Run.sweep_id == sweep["id"])) == 2
    assert client.post(f"/api/sweeps/{sweep['id']}/cancel").status_code == 409


def test_the_pruner_answers_prune_for_a_trial_behind_the_others(client: TestClient, uow: UnitOfWork) -> None:
    sweep = create(client, {**spec(parallel=2), "pruner": "successive_halving"})
    ahead, behind = (t["run_id"] for t in sweep["trials"])
    for run_id in (ahead, behind):
        execution.claim_run(uow=uow, run_id=run_id, worker=execution.Worker("h", 1, None), owner_alive=lambda *_: True)
    report_ahead = sweeps.trial_reporter(uow=uow, run_id=ahead)
    report_behind = sweeps.trial_reporter(uow=uow, run_id=behind)
    assert report_ahead is not None and report_behind is not None
    assert report_ahead(epoch(0, val_acc=0.9)) is None
    assert report_behind(epoch(0, val_acc=0.3)) is EpochVerdict.PRUNE


def test_a_run_that_is_no_trial_has_no_reporter(client: TestClient, uow: UnitOfWork) -> None:
    run_id = client.post("/api/runs", json={"config": TINY}).json()["id"]
    assert sweeps.trial_reporter(uow=uow, run_id=run_id) is None


def test_the_list_shows_the_sweep(client: TestClient) -> None:
    sweep_id = create(client, spec(parallel=1))["id"]
    listed = client.get("/api/sweeps").json()
    assert [(s["id"], s["name"], s["trial_counts"]) for s in listed] == [(sweep_id, "grid", {"queued": 1})]


def test_a_missing_sweep_is_404(client: TestClient) -> None:
    assert client.get("/api/sweeps/12345").status_code == 404
    assert client.post("/api/sweeps/12345/cancel").status_code == 404


def epoch(number: int, *, val_acc: float) -> EpochRecord:
    return EpochRecord(
        epoch=number, train_loss=1.0, train_acc=0.5, val_loss=1.0 - val_acc, val_acc=val_acc, test_loss=None,
        test_acc=None, lr={"classifier": 0.1}, images_per_s=10.0, seconds=1.0,
    )  # fmt: skip


def test_the_sweep_pages_render_the_trials_and_the_best(client: TestClient, db: Session, uow: UnitOfWork) -> None:
    sweep_id = create(client, spec(parallel=2))["id"]
    end_trials(db, sweep_id, RunStatus.succeeded)
    sweeps.advance_sweep(uow=uow, sweep_id=sweep_id)
    page = client.get(f"/sweeps/{sweep_id}?x=freeze_through&y=stages.classifier.lr")
    assert page.status_code == 200, page.text
    assert page.text.count('data-state="queued"') == 2 and page.text.count('data-state="complete"') == 2
    assert "New run from best" in page.text and "Compare top 2" in page.text and 'id="sweep-data"' in page.text
    assert f'href="/sweeps/{sweep_id}"' in client.get("/sweeps").text


def end_repeats(db: Session, sweep_id: int) -> None:
    """Finish every queued repeat as a worker would, with a test accuracy in its summary."""
    for run in db.scalars(select(Run).where(Run.sweep_id == sweep_id, Run.status == RunStatus.queued)).all():
        add_epochs(db, run, 1, val_acc=lambda _e, v=run.config["seed"] / 10: v)
        run.status, run.finished_at, run.best_val_acc = RunStatus.succeeded, utcnow(), run.config["seed"] / 10
        run.summary = {"test_acc_at_best_val": run.config["seed"] / 20}
        db.commit()


def test_repeat_best_trains_the_best_configurations_with_other_seeds_and_reports_mean_and_std(
    client: TestClient, db: Session, uow: UnitOfWork
) -> None:
    sweep_id = create(client, spec(parallel=2, repeat_best={"top": 2, "seeds": 2}))["id"]
    for _ in range(2):
        end_trials(db, sweep_id, RunStatus.succeeded)
        sweeps.advance_sweep(uow=uow, sweep_id=sweep_id)
    during = client.get(f"/api/sweeps/{sweep_id}").json()
    assert during["state"] == "running" and during["trial_counts"] == {"complete": 4}
    ranked = sorted(during["trials"], key=lambda t: -t["value"])[:2]  # the values grow with the run id
    assert [(r["trial_number"], r["seeds"], r["states"]) for r in during["repeats"]] == [
        (ranked[0]["number"], [1, 2], ["queued", "queued"])
    ]  # `parallel` at a time, best first
    for _ in range(2):
        end_repeats(db, sweep_id)
        sweeps.advance_sweep(uow=uow, sweep_id=sweep_id)
    done = client.get(f"/api/sweeps/{sweep_id}").json()
    assert done["state"] == "finished" and len(done["trials"]) == 4
    assert [(r["trial_number"], r["params"], r["seeds"]) for r in done["repeats"]] == [
        (t["number"], t["params"], [1, 2]) for t in ranked
    ]
    for repeat in done["repeats"]:
        assert repeat["mean"] == pytest.approx(0.15) and repeat["std"] == pytest.approx(0.0707107, rel=1e-5)
        assert repeat["test_acc_mean"] == pytest.approx(0.075)
        runs = [db.get(Run, run_id) for run_id in repeat["runs"]]
        source = next(t for t in ranked if t["number"] == repeat["trial_number"])
        assert all(r.trial_number is None and r.cloned_from == source["run_id"] for r in runs)
        assert all(r.config["stages"] == db.get(Run, source["run_id"]).config["stages"] for r in runs)


def test_a_sweep_without_repeat_best_queues_no_repeats(client: TestClient, db: Session, uow: UnitOfWork) -> None:
    sweep_id = create(client, spec(parallel=4))["id"]
    end_trials(db, sweep_id, RunStatus.succeeded)
    sweeps.advance_sweep(uow=uow, sweep_id=sweep_id)
    done = client.get(f"/api/sweeps/{sweep_id}").json()
    assert done["state"] == "finished" and done["repeats"] == []


def test_cancel_stops_the_repeats_too(client: TestClient, db: Session, uow: UnitOfWork) -> None:
    sweep_id = create(client, spec(parallel=4, repeat_best={"top": 1, "seeds": 3}))["id"]
    end_trials(db, sweep_id, RunStatus.succeeded)
    sweeps.advance_sweep(uow=uow, sweep_id=sweep_id)
    assert [r["states"] for r in client.get(f"/api/sweeps/{sweep_id}").json()["repeats"]] == [["queued"] * 3]
    cancelled = client.post(f"/api/sweeps/{sweep_id}/cancel").json()
    assert cancelled["state"] == "cancelled" and cancelled["repeats"][0]["states"] == ["cancelled"] * 3
    sweeps.advance_sweep(uow=uow, sweep_id=sweep_id)
    assert db.scalar(select(func.count()).select_from(Run).where(Run.sweep_id == sweep_id)) == 7


def test_the_stalled_sweeper_queues_repeats_a_lost_advance_left_out(
    client: TestClient, db: Session, uow: UnitOfWork
) -> None:
    sweep_id = create(client, spec(parallel=4, repeat_best={"top": 1, "seeds": 2}))["id"]
    end_trials(db, sweep_id, RunStatus.succeeded)  # no advance_sweep: the worker died before it
    assert sweeps.advance_stalled_sweeps(uow=uow) == [sweep_id]
    assert [r["states"] for r in client.get(f"/api/sweeps/{sweep_id}").json()["repeats"]] == [["queued"] * 2]
    assert sweeps.advance_stalled_sweeps(uow=uow) == []  # two in flight, none left to queue


def test_a_sweep_queues_its_trials_on_its_queue(settings: Settings, db: Session) -> None:
    gpu = f"{settings.default_queue}-gpu"
    two_queues = settings.model_copy(update={"queues": [settings.default_queue, gpu]})
    with local_client(create_app(two_queues)) as client:
        sweep = create(client, spec(parallel=2, queue=gpu))
    assert sweep["queue"] == gpu
    assert {db.get(Run, t["run_id"]).queue for t in sweep["trials"]} == {gpu}


def test_a_sweep_on_an_unknown_queue_is_refused_naming_it(client: TestClient, db: Session) -> None:
    response = client.post("/api/sweeps", json=spec(queue="nowhere"))
    assert response.status_code == 422, response.text
    assert [e["loc"] for e in response.json()["detail"]] == [["body", "queue"]]
    assert "nowhere" in response.json()["detail"][0]["msg"]
    assert counts(db) == (0, 0)


def test_the_sweep_page_shows_the_repeats_mean_and_std(client: TestClient, db: Session, uow: UnitOfWork) -> None:
    sweep_id = create(client, spec(parallel=4, repeat_best={"top": 1, "seeds": 2}))["id"]
    assert 'id="repeats-pending"' in client.get(f"/sweeps/{sweep_id}").text
    end_trials(db, sweep_id, RunStatus.succeeded)
    sweeps.advance_sweep(uow=uow, sweep_id=sweep_id)
    assert 'data-states="queued,queued"' in client.get(f"/sweeps/{sweep_id}").text
    end_repeats(db, sweep_id)
    sweeps.advance_sweep(uow=uow, sweep_id=sweep_id)
    page = client.get(f"/sweeps/{sweep_id}").text
    assert 'data-states="complete,complete"' in page and "15.00% ± 7.07%" in page and "7.50% ± 3.54%" in page


def test_a_sweep_still_searching_is_not_stalled_for_its_repeats(client: TestClient, db: Session, uow: UnitOfWork) -> None:
    sweep = create(client, spec(parallel=2, trials=2, repeat_best={"top": 1, "seeds": 2}))
    first = db.get(Run, sweep["trials"][0]["run_id"])
    first.status, first.finished_at, first.best_val_acc = RunStatus.succeeded, utcnow(), 0.5
    db.commit()
    sweeps.advance_sweep(uow=uow, sweep_id=sweep["id"])  # one trial in flight, the budget spent: nothing to do
    assert sweeps.advance_stalled_sweeps(uow=uow) == []
