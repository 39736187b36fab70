"""Whose saved studies and LR range tests: another user's answers 404 like a missing one, their
runs cannot be saved into or re-run through a study, and an admin sees everyone's."""

from __future__ import annotations

from fastapi.testclient import TestClient
from integration_fixtures import TINY
from people import Person, add_person, finished_run, run_count

from app.settings import Settings


def test_another_users_study_is_not_found_and_cannot_be_rerun(
    client: TestClient, accounts_settings: Settings, alice: Person, bob: Person
) -> None:
    run_id = finished_run(accounts_settings, alice)
    saved = client.post("/api/studies/saved", json={"name": "mine", "run_ids": [run_id]}, headers=alice.bearer)
    assert saved.status_code == 201, saved.text
    before = run_count(accounts_settings)
    for response in (
        client.get("/api/studies/saved/mine", headers=bob.bearer),
        client.post("/api/studies/saved/mine/runs", json={"seeds": [1]}, headers=bob.bearer),
        client.get("/studies/mine", headers=bob.bearer),
    ):
        assert response.status_code == 404, response.text
    assert client.get("/api/studies/saved", headers=bob.bearer).json() == []
    assert run_count(accounts_settings) == before
    root = add_person(accounts_settings, "root", admin=True)
    assert client.get("/api/studies/saved/mine", headers=root.bearer).json()["runs"] == 1


def test_another_users_run_cannot_be_saved_into_a_study(
    client: TestClient, accounts_settings: Settings, alice: Person, bob: Person
) -> None:
    run_id = finished_run(accounts_settings, alice)
    response = client.post("/api/studies/saved", json={"name": "theirs", "run_ids": [run_id]}, headers=bob.bearer)
    assert response.status_code == 404
    assert client.get("/api/studies/saved", headers=alice.bearer).json() == []


def test_another_users_lr_range_test_is_not_found(client: TestClient, alice: Person, bob: Person) -> None:
    queued = client.post("/api/lr-finds", json={"config": TINY, "steps": 10}, headers=alice.bearer)
    assert queued.status_code == 201, queued.text
    job_id = queued.json()["id"]
    assert client.get(f"/api/lr-finds/{job_id}", headers=alice.bearer).status_code == 200
    assert client.get(f"/api/lr-finds/{job_id}", headers=bob.bearer).status_code == 404
