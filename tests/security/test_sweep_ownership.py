"""Whose sweeps: a user sees and cancels their own sweeps only (another user's answers 404,
like a missing one), an admin sees everyone's, and a sweep's trials are its owner's runs."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from integration_fixtures import TINY
from people import Person, add_person

from app.settings import Settings

SPEC = {"name": "alice's", "base": {"config": TINY}, "sampler": "random", "trials": 2,
        "space": {"stages.classifier.lr": {"type": "float", "low": 0.01, "high": 0.1, "log": True}}}  # fmt: skip


@pytest.fixture
def alices_sweep(client: TestClient, alice: Person) -> dict:
    response = client.post("/api/sweeps", json=SPEC, headers=alice.bearer)
    assert response.status_code == 201, response.text
    return response.json()


def test_another_users_sweep_is_not_found(client: TestClient, bob: Person, alices_sweep: dict) -> None:
    sweep_id = alices_sweep["id"]
    for response in (
        client.get(f"/api/sweeps/{sweep_id}", headers=bob.bearer),
        client.post(f"/api/sweeps/{sweep_id}/cancel", headers=bob.bearer),
        client.get(f"/sweeps/{sweep_id}", headers=bob.bearer),
    ):
        assert response.status_code == 404, response.text
        assert f"sweep {sweep_id} not found" in response.text
    assert client.get("/api/sweeps", headers=bob.bearer).json() == []


def test_the_owner_and_an_admin_see_the_sweep_and_its_trial_runs(
    client: TestClient, accounts_settings: Settings, alice: Person, alices_sweep: dict
) -> None:
    root = add_person(accounts_settings, "root", admin=True)
    assert [s["id"] for s in client.get("/api/sweeps", headers=alice.bearer).json()] == [alices_sweep["id"]]
    assert client.get(f"/api/sweeps/{alices_sweep['id']}", headers=root.bearer).status_code == 200
    run_id = alices_sweep["trials"][0]["run_id"]
    assert client.get(f"/api/runs/{run_id}", headers=alice.bearer).json()["owner_name"] == "alice"
