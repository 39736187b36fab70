"""Organising is owner-only: another user's run answers PATCH, the bulk actions (API and form) and
the Run page's form exactly like a missing run (404), and nothing of it changes; an admin may."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from integration_fixtures import make_run
from people import Person, add_person, rows

from app.models import Run
from app.settings import Settings


@pytest.fixture
def alices_run(accounts_settings: Settings, alice: Person) -> int:
    with rows(accounts_settings) as db:
        return make_run(db, owner_id=alice.id, name="alice's").id


def state(settings: Settings, run_id: int) -> tuple[str | None, str, list[str]]:
    with rows(settings) as db:
        run = db.get(Run, run_id)
        return run.name, run.status, run.tags


# (method, URL, JSON body or form) of each new route that names a run; {id} is alice's run.
ATTEMPTS = {
    "PATCH": ("PATCH", "/api/runs/{id}", {"json": {"name": "mine", "tags": ["x"]}}),
    "API bulk tag": ("POST", "/api/runs/bulk", {"json": {"ids": ["{id}"], "action": "tag", "tags": ["x"]}}),
    "API bulk cancel": ("POST", "/api/runs/bulk", {"json": {"ids": ["{id}"], "action": "cancel"}}),
    "form bulk delete": ("POST", "/runs/bulk", {"data": {"ids": ["{id}"], "action": "delete"}}),
    "form bulk compare": ("POST", "/runs/bulk", {"data": {"ids": ["{id}"], "action": "compare"}}),
    "Run page form": ("POST", "/runs/{id}/organise", {"data": {"name": "mine"}}),
}


def attempt_as(client: TestClient, attempt: str, run_id: int, who: Person) -> Response:
    method, url, body = ATTEMPTS[attempt]
    filled = {kind: {k: ([run_id] if v == ["{id}"] else v) for k, v in fields.items()} for kind, fields in body.items()}
    return client.request(method, url.format(id=run_id), headers=who.bearer, **filled)


@pytest.mark.parametrize("attempt", list(ATTEMPTS))
def test_another_users_run_is_404_and_unchanged(
    client: TestClient, accounts_settings: Settings, alices_run: int, bob: Person, attempt: str
) -> None:
    before = state(accounts_settings, alices_run)
    response = attempt_as(client, attempt, alices_run, bob)
    if attempt == "form bulk compare":  # Compare itself refuses the run it is sent to
        response = client.get(response.headers["location"], headers=bob.bearer)
    assert response.status_code == 404 and f"run {alices_run} not found" in response.text
    assert state(accounts_settings, alices_run) == before


def test_the_owner_and_an_admin_may(client: TestClient, accounts_settings: Settings, alices_run: int,
                                    alice: Person) -> None:  # fmt: skip
    root = add_person(accounts_settings, "root", admin=True)
    assert attempt_as(client, "PATCH", alices_run, alice).status_code == 200
    response = client.patch(f"/api/runs/{alices_run}", json={"add_tags": ["checked"]}, headers=root.bearer)
    assert (response.status_code, response.json()["tags"]) == (200, ["checked", "x"])
