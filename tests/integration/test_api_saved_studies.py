"""Studies saved from a Compare selection and re-run with overrides (`/api/studies/saved`), on
SQLite and PostgreSQL with the embedded/Redis broker and no worker: the study is its tagged runs,
grouped per configuration with mean ± std; a re-run queues configurations × seeds, all or none."""

from __future__ import annotations

import statistics
from typing import Any

import pytest
from conftest import TINY, make_run
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.models import RunStatus

MODEL_D = {"conv1": 1e-4, "conv2": 1e-4, "conv3": 1e-4, "conv4": 1e-3, "conv5": 1e-3, "classifier": 0.1}


def finished(db: Session, name: str, seed: int, test_acc: float, **config: Any) -> int:
    summary = {"epochs_done": 2, "best_val_acc": test_acc - 0.01, "best_epoch": 1, "test_acc_at_best_val": test_acc,
               "final_train_acc": 0.9, "final_test_acc": test_acc, "images_per_s": 100.0, "split_hash": "x"}  # fmt: skip
    run = make_run(db, name=name, status=RunStatus.succeeded, summary=summary,
                   config={**TINY, "name": name, "seed": seed, **config})  # fmt: skip
    return run.id


@pytest.fixture
def study(client: TestClient, db: Session) -> dict[str, Any]:
    """Model D over three seeds and one LR everywhere over two, saved as `ab`."""
    ids = [finished(db, f"D (seed {s})", s, acc, stages=MODEL_D) for s, acc in enumerate((0.80, 0.84, 0.82))]
    ids += [finished(db, "same", s, acc, optimizer={"lr": 0.01}) for s, acc in enumerate((0.70, 0.74))]
    response = client.post("/api/studies/saved", json={"name": "ab", "run_ids": ids})
    assert response.status_code == 201, response.text
    return response.json()


def test_a_saved_study_groups_its_runs_per_configuration_with_mean_and_std(study: dict[str, Any]) -> None:
    assert (study["name"], study["runs"], study["configurations"]) == ("ab", 5, 2)
    d, same = study["groups"]
    assert (d["label"], d["seeds"], d["finished"]) == ("D", [0, 1, 2], 3)
    assert d["test_acc_mean"] == pytest.approx(0.82)
    assert d["test_acc_std"] == pytest.approx(statistics.stdev([0.80, 0.84, 0.82]))
    assert (same["label"], same["test_acc_mean"]) == ("same", pytest.approx(0.72))


def test_the_study_list_counts_runs_and_configurations(client: TestClient, study: dict[str, Any]) -> None:
    assert client.get("/api/studies/saved").json() == [{"name": "ab", "runs": 5, "configurations": 2}]
    assert all("study:ab" in run["tags"] for run in study["members"])


def test_run_with_overrides_queues_each_configuration_per_seed_tagged_with_the_study(
    client: TestClient, study: dict[str, Any]
) -> None:
    response = client.post("/api/studies/saved/ab/runs", json={"seeds": [5, 6], "epochs": 1, "backbone": "resnet34"})
    assert response.status_code == 201, response.text
    queued = response.json()["runs"]
    assert len(queued) == 4 and {r["status"] for r in queued} == {"queued"}
    assert sorted((r["config"]["seed"], r["epochs"], r["backbone"]) for r in queued) == [
        (5, 1, "resnet34"), (5, 1, "resnet34"), (6, 1, "resnet34"), (6, 1, "resnet34")]  # fmt: skip
    assert {r["name"] for r in queued} == {"D (seed 5)", "D (seed 6)", "same (seed 5)", "same (seed 6)"}
    assert next(r for r in queued if r["name"] == "D (seed 5)")["config"]["stages"]["conv4"]["lr"] == 1e-3
    after = client.get("/api/studies/saved/ab").json()
    assert (after["runs"], after["configurations"]) == (9, 4)
    assert [g["seeds"] for g in after["groups"][2:]] == [[5, 6], [5, 6]]


@pytest.mark.parametrize(
    ("body", "field"),
    [({"epochs": 0}, "epochs"), ({"backbone": "resnet1000"}, "backbone"), ({"dataset": "nope"}, "dataset"),
     ({"seeds": [1, 1]}, "seeds"), ({"epochs": 1, "queue": "nope"}, "queue")],
)  # fmt: skip
def test_a_bad_override_is_422_naming_it_and_queues_nothing(
    client: TestClient, study: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    before = client.get("/api/runs").json()["total"]
    response = client.post("/api/studies/saved/ab/runs", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][:2] == ["body", field]
    assert client.get("/api/runs").json()["total"] == before


def test_saving_an_unknown_run_or_a_bad_name_is_refused_and_tags_nothing(client: TestClient, db: Session) -> None:
    run_id = finished(db, "x", 0, 0.5)
    assert client.post("/api/studies/saved", json={"name": "s", "run_ids": [run_id, 999_999]}).status_code == 404
    bad = client.post("/api/studies/saved", json={"name": "has space", "run_ids": [run_id]})
    assert (bad.status_code, bad.json()["detail"][0]["loc"]) == (422, ["body", "name"])
    assert client.get("/api/studies/saved").json() == []
    assert client.get("/api/studies/saved/s").status_code == 404


def test_the_study_page_shows_mean_and_std_and_refuses_bad_overrides_beside_the_field(
    client: TestClient, study: dict[str, Any]
) -> None:
    page = client.get("/studies/ab")
    assert page.status_code == 200 and "82.00% ± 2.00%" in page.text
    assert 'href="/studies/ab"' in client.get("/studies").text
    before = client.get("/api/runs").json()["total"]
    for form, field in (({"seeds": "²"}, "seeds"), ({"seeds": "2", "epochs": "0"}, "epochs"),
                        ({"seeds": "1", "backbone": "nope"}, "backbone")):  # fmt: skip
        refused = client.post("/studies/ab/runs", data=form, follow_redirects=False)
        assert refused.status_code == 422, refused.text[-500:]
        assert f'data-error-for="{field}" aria-live="polite">' in refused.text
        assert f'data-error-for="{field}" aria-live="polite"></p>' not in refused.text  # the message is there
    assert client.get("/api/runs").json()["total"] == before
    queued = client.post("/studies/ab/runs", data={"seeds": "0, 7", "epochs": "1"}, follow_redirects=False)
    assert (queued.status_code, queued.headers["location"]) == (303, "/studies/ab")
    assert client.get("/api/runs").json()["total"] == before + 4


def test_compare_save_as_study_shows_a_bad_name_beside_the_field(client: TestClient, db: Session) -> None:
    ids = f"{finished(db, 'a', 0, 0.5)},{finished(db, 'b', 0, 0.6)}"
    refused = client.post("/studies/saved", data={"name": "no spaces please", "ids": ids}, follow_redirects=False)
    assert refused.status_code == 422 and 'data-error-for="name" aria-live="polite">String should match' in refused.text
    saved = client.post("/studies/saved", data={"name": "pair", "ids": ids}, follow_redirects=False)
    assert (saved.status_code, saved.headers["location"]) == (303, "/studies/pair")
