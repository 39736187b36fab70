"""The runs API against a real database and broker (no worker: runs stay queued)."""

from __future__ import annotations

import pytest
from conftest import TINY, add_epochs, make_run
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from app.db.types import utcnow
from app.models import Run, RunStatus
from app.schemas.runs import TOTAL_CAP
from app.services import accounts
from app.services.unit_of_work import UnitOfWork
from app.settings import Settings


def test_submit_config_returns_201_queued(client: TestClient) -> None:
    response = client.post("/api/runs", json={"name": "tiny", "config": TINY})
    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["name"], body["backbone"], body["dataset"], body["epochs"]) == (
        "queued", "tiny", "resnet18", "fake", 2,
    )


def test_submit_preset_with_dotted_overrides(client: TestClient) -> None:
    body = client.post(
        "/api/runs", json={"preset": "demo/digits", "overrides": {"epochs": 2, "image_size": 64, "stages.conv1.lr": 0}}
    ).json()
    assert (body["epochs"], body["config"]["image_size"], body["config"]["stages"]["conv1"]["lr"]) == (2, 64, 0)


@pytest.mark.parametrize(
    ("payload", "loc"),
    [
        ({"preset": "nope/nothing"}, ["body", "preset"]),
        ({"preset": "demo/digits", "overrides": {"epochs": 0}}, ["body", "overrides", "epochs"]),
        ({"preset": "demo/digits", "overrides": {"epochs.x": 1}}, ["body", "overrides", "epochs.x"]),
        ({"config": {**TINY, "backbone": "resnet9000"}}, ["body", "config", "backbone"]),
        ({"config": {**TINY, "batch_size": "many"}}, ["body", "config", "batch_size"]),
        ({"config": {**TINY, "dataset": {"name": "imagefolder", "path": "../etc"}}}, ["body", "config", "dataset", "path"]),
        ({"config": {**TINY, "weights": "/etc/passwd.pt"}}, ["body", "config", "weights"]),
        ({"config": {**TINY, "weights": "run:999"}}, ["body", "config", "weights"]),
        ({"config": TINY, "queue": "elsewhere"}, ["body", "queue"]),
        ({"config": TINY, "surprise": 1}, ["body", "surprise"]),
        ({}, ["body"]),
    ],
)
def test_bad_submission_is_422_naming_the_field(client: TestClient, payload: dict, loc: list) -> None:
    response = client.post("/api/runs", json=payload)
    assert response.status_code == 422
    assert loc in [error["loc"] for error in response.json()["detail"]]


def test_unknown_preset_message_lists_the_allowed_names(client: TestClient) -> None:
    message = client.post("/api/runs", json={"preset": "nope"}).json()["detail"][0]["msg"]
    assert "demo/digits" in message


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b"\xff\xfe", b"null"])
def test_malformed_body_is_422_not_500(client: TestClient, body: bytes) -> None:
    response = client.post("/api/runs", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][0] == "body"


def test_oversized_body_is_413(client: TestClient, settings: Settings) -> None:
    response = client.post("/api/runs", content=b" " * (settings.max_body_bytes + 1), headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_rejected_submission_leaves_no_row(client: TestClient, db: Session) -> None:
    client.post("/api/runs", json={"config": {**TINY, "epochs": -1}})
    assert db.scalar(select(func.count()).select_from(Run)) == 0


def test_get_run_and_404(client: TestClient, db: Session) -> None:
    run = make_run(db, name="mine")
    assert client.get(f"/api/runs/{run.id}").json()["name"] == "mine"
    assert client.get("/api/runs/424242").status_code == 404


def test_list_filters_by_status_dataset_backbone(client: TestClient, db: Session) -> None:
    make_run(db, status=RunStatus.succeeded)
    make_run(db, status=RunStatus.failed, dataset="digits")
    make_run(db, status=RunStatus.failed, backbone="resnet50")
    assert client.get("/api/runs", params={"status": "failed"}).json()["total"] == 2
    assert client.get("/api/runs", params={"dataset": "digits"}).json()["total"] == 1
    assert client.get("/api/runs", params={"backbone": "resnet50", "status": "failed"}).json()["total"] == 1


def test_list_filters_by_the_user_who_started_the_run(client: TestClient, db: Session, uow: UnitOfWork) -> None:
    alice = accounts.create_user(uow=uow, name="alice", password=None)
    make_run(db, owner_id=alice.id)
    make_run(db)
    body = client.get("/api/runs", params={"owner": "alice"}).json()
    assert (body["total"], [run["owner_name"] for run in body["items"]]) == (1, ["alice"])


def test_list_sorts_by_best_val_acc_with_unfinished_last(client: TestClient, db: Session) -> None:
    low, high, none = (make_run(db, best_val_acc=acc) for acc in (0.2, 0.9, None))
    ids = [r["id"] for r in client.get("/api/runs", params={"sort": "-best_val_acc"}).json()["items"]]
    assert ids == [high.id, low.id, none.id]


def test_list_paginates(client: TestClient, db: Session) -> None:
    made = [make_run(db).id for _ in range(5)]
    page = client.get("/api/runs", params={"sort": "id", "limit": 2, "offset": 2}).json()
    assert ([r["id"] for r in page["items"]], page["total"]) == (made[2:4], 5)


@pytest.mark.parametrize(
    ("params", "loc"),
    [({"status": "sleeping"}, ["query", "status"]), ({"sort": "colour"}, ["query", "sort"]),
     ({"limit": 0}, ["query", "limit"]), ({"limit": 100000}, ["query", "limit"]), ({"offset": -1}, ["query", "offset"])],
)
def test_bad_list_query_is_422(client: TestClient, params: dict, loc: list) -> None:
    response = client.get("/api/runs", params=params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == loc


def test_metrics_list_epochs_in_order_and_after(client: TestClient, db: Session) -> None:
    run = make_run(db, status=RunStatus.running)
    add_epochs(db, run, 3)
    rows = client.get(f"/api/runs/{run.id}/metrics").json()
    assert [r["epoch"] for r in rows] == [0, 1, 2]
    assert set(rows[0]) == {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc",
                            "lr", "images_per_s", "seconds"}  # fmt: skip
    assert [r["epoch"] for r in client.get(f"/api/runs/{run.id}/metrics", params={"after": 1}).json()] == [2]


def test_metrics_of_unknown_run_is_404(client: TestClient) -> None:
    assert client.get("/api/runs/77/metrics").status_code == 404


def test_cancel_queued_run_cancels_it(client: TestClient, db: Session) -> None:
    run_id = client.post("/api/runs", json={"config": TINY}).json()["id"]
    assert client.post(f"/api/runs/{run_id}/cancel").json()["status"] == "cancelled"


def test_cancel_running_run_asks_its_worker(client: TestClient, db: Session) -> None:
    run = make_run(db, status=RunStatus.running)
    body = client.post(f"/api/runs/{run.id}/cancel").json()
    assert (body["status"], body["cancel_requested"]) == ("running", True)


@pytest.mark.parametrize("status", [RunStatus.succeeded, RunStatus.failed, RunStatus.cancelled])
def test_cancel_finished_run_is_409(client: TestClient, db: Session, status: RunStatus) -> None:
    run = make_run(db, status=status)
    assert client.post(f"/api/runs/{run.id}/cancel").status_code == 409


def test_clone_applies_overrides_and_links_source(client: TestClient, db: Session) -> None:
    source = make_run(db, name="base", status=RunStatus.succeeded)
    body = client.post(f"/api/runs/{source.id}/clone", json={"overrides": {"optimizer.lr": 0.05}}).json()
    assert (body["status"], body["cloned_from"], body["config"]["optimizer"]["lr"], body["name"]) == (
        "queued", source.id, 0.05, "base (copy)",
    )


def test_clone_with_bad_override_is_422(client: TestClient, db: Session) -> None:
    source = make_run(db)
    response = client.post(f"/api/runs/{source.id}/clone", json={"overrides": {"stages.conv9.lr": 0.1}})
    assert (response.status_code, response.json()["detail"][0]["loc"]) == (422, ["body", "overrides", "stages.conv9.lr"])


def test_weights_from_a_run_becomes_its_checkpoint_path(client: TestClient, db: Session, settings: Settings) -> None:
    source = make_run(db, status=RunStatus.succeeded)
    (settings.runs_dir / str(source.id)).mkdir(parents=True)
    (settings.runs_dir / str(source.id) / "best.pt").write_bytes(b"not read by the API")
    body = client.post("/api/runs", json={"config": {**TINY, "weights": f"run:{source.id}"}}).json()
    assert body["config"]["weights"] == f"runs/{source.id}/best.pt"


def test_weights_from_a_run_without_checkpoint_is_422(client: TestClient, db: Session) -> None:
    source = make_run(db, status=RunStatus.failed)
    response = client.post("/api/runs", json={"preset": "demo/digits", "overrides": {"weights": f"run:{source.id}"}})
    assert response.json()["detail"][0]["loc"] == ["body", "overrides", "weights"]


def test_delete_removes_run_metrics_and_files(client: TestClient, db: Session, settings: Settings) -> None:
    run = make_run(db, status=RunStatus.succeeded)
    add_epochs(db, run, 2)
    (settings.runs_dir / str(run.id)).mkdir(parents=True)
    assert client.delete(f"/api/runs/{run.id}").status_code == 204
    assert client.get(f"/api/runs/{run.id}").status_code == 404
    assert not (settings.runs_dir / str(run.id)).exists()


def test_delete_running_run_is_409(client: TestClient, db: Session) -> None:
    run = make_run(db, status=RunStatus.running)
    assert client.delete(f"/api/runs/{run.id}").status_code == 409


def test_checkpoint_download_is_by_id_and_404_when_missing(client: TestClient, db: Session, settings: Settings) -> None:
    run = make_run(db, status=RunStatus.succeeded)
    assert client.get(f"/api/runs/{run.id}/checkpoint").status_code == 404
    (settings.runs_dir / str(run.id)).mkdir(parents=True)
    (settings.runs_dir / str(run.id) / "best.pt").write_bytes(b"weights")
    response = client.get(f"/api/runs/{run.id}/checkpoint")
    assert (response.status_code, response.content) == (200, b"weights")
    assert client.get(f"/api/runs/{run.id}/checkpoint", params={"kind": "../../etc/passwd"}).status_code == 422


def test_test_report_of_a_queued_run_is_404_saying_why(client: TestClient, db: Session) -> None:
    run = make_run(db)
    response = client.get(f"/api/runs/{run.id}/test-report")
    assert (response.status_code, response.json()["detail"]) == (
        404, f"run {run.id} is queued: its test report is written when it finishes",
    )  # fmt: skip


def test_fast_path_of_a_run_no_worker_started_is_404_saying_why(client: TestClient, db: Session) -> None:
    run = make_run(db)
    response = client.get(f"/api/runs/{run.id}/fast-path")
    assert (response.status_code, response.json()["detail"]) == (
        404, f"run {run.id} has no fast-path record yet: a worker writes it when training starts",
    )  # fmt: skip


def test_compare_returns_curves_and_config_differences(client: TestClient, db: Session) -> None:
    a = make_run(db, config={"optimizer": {"lr": 0.1}})
    b = make_run(db, config={"optimizer": {"lr": 0.01}})
    add_epochs(db, a, 3)
    body = client.get("/api/compare", params={"ids": f"{a.id},{b.id}"}).json()
    assert [r["id"] for r in body["runs"]] == [a.id, b.id]
    assert (len(body["curves"][str(a.id)]), len(body["curves"][str(b.id)])) == (3, 0)
    assert body["differences"] == [{"path": "optimizer.lr", "values": {str(a.id): 0.1, str(b.id): 0.01}}]


@pytest.mark.parametrize("ids", ["", "1,x", "-1", ",".join(str(i) for i in range(1, 30))])
def test_compare_bad_ids_is_422(client: TestClient, ids: str) -> None:
    response = client.get("/api/compare", params={"ids": ids})
    assert (response.status_code, response.json()["detail"][0]["loc"]) == (422, ["query", "ids"])


def test_compare_unknown_id_is_404(client: TestClient, db: Session) -> None:
    run = make_run(db)
    assert client.get("/api/compare", params={"ids": f"{run.id},999"}).status_code == 404


def test_oversized_streamed_body_without_length_is_413(client: TestClient, settings: Settings) -> None:
    half = b" " * (settings.max_body_bytes // 2 + 1)
    response = client.post("/api/runs", content=iter([half, half]), headers={"content-type": "application/json"})
    assert response.status_code == 413




def test_total_counts_up_to_the_cap_and_the_api_and_the_runs_page_say_there_are_more(
    client: TestClient, db: Session
) -> None:
    # 10,050 runs: the list counts the first 10,000 and says "more", but a page past the cap counts to its end.
    row = {"status": "queued", "queue": "default", "config": TINY, "dataset": "fake", "backbone": "resnet18",
           "epochs": 2, "attempt": 0, "cancel_requested": False, "epochs_done": 0, "created_at": utcnow()}  # fmt: skip
    db.execute(insert(Run.__table__), [row] * (TOTAL_CAP + 50))
    first = client.get("/api/runs").json()
    past = client.get("/api/runs", params={"offset": TOTAL_CAP, "limit": 200}).json()
    none = client.get("/api/runs", params={"status": "failed"}).json()
    html = client.get("/", params={"offset": TOTAL_CAP - 50}, headers={"Accept": "text/html"}).text
    assert (first["total"], first["total_capped"]) == (TOTAL_CAP, True)
    assert (past["total"], past["total_capped"], len(past["items"])) == (TOTAL_CAP + 50, False, 50)
    assert (none["total"], none["total_capped"]) == (0, False)
    assert ('Runs <span class="muted">(10,000+)</span>' in html, "9,951–10,000 of 10,000+" in html) == (True, True)
    assert 'rel="next"' in html
