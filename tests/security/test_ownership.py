"""Whose runs: users see, cancel and build on their own runs only; admins on all; and the limits.

Another user's run answers every route exactly as a run that does not exist (404, "run N
not found"), so ids cannot be probed; it cannot be named as `weights` either. Admins see
and cancel everyone's. Each user has a quota of queued + running runs, and every run has
ceilings on epochs, batch size and image size, named in the 422 so the user can fix them.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from integration_fixtures import TINY, make_run
from people import Person, add_person, browser, finished_run, rows, run_count, with_accounts
from sqlalchemy import select

from app.main import create_app
from app.models import Run, RunStatus
from app.settings import Settings
from tests.weights_files import place_imagenet_weights

MISSING = 999_999


@pytest.fixture
def accounts_settings(settings: Settings) -> Settings:
    return with_accounts(settings, max_active_runs_per_user=2, max_epochs=50, max_batch_size=256, max_image_size=512)


@pytest.fixture
def root(accounts_settings: Settings) -> Person:
    return add_person(accounts_settings, "root", admin=True)


@pytest.fixture
def client(accounts_settings: Settings) -> Iterator[TestClient]:
    with browser(create_app(accounts_settings)) as test_client:
        yield test_client


@pytest.fixture
def alices_run(accounts_settings: Settings, alice: Person) -> int:
    """A finished run of alice's, with metrics, best.pt and a test report."""
    return finished_run(accounts_settings, alice)


@pytest.fixture
def alices_queued(accounts_settings: Settings, alice: Person) -> int:
    with rows(accounts_settings) as db:
        return make_run(db, owner_id=alice.id).id


def runs_of(settings: Settings) -> list[tuple[int | None, str]]:
    """(owner, status) of every run, in id order: what a refused request must leave as it was."""
    with rows(settings) as db:
        return [(r.owner_id, r.status) for r in db.scalars(select(Run).order_by(Run.id))]


# --- reading and acting on another user's run ---------------------------------------------------

API = [
    ("GET", "/api/runs/{id}"), ("GET", "/api/runs/{id}/metrics"), ("GET", "/api/runs/{id}/test-report"),
    ("GET", "/api/runs/{id}/checkpoint"), ("GET", "/api/runs/{id}/checkpoint?kind=last"),
    ("POST", "/api/runs/{id}/cancel"), ("POST", "/api/runs/{id}/clone"), ("DELETE", "/api/runs/{id}"),
    ("GET", "/api/compare?ids={id}"), ("GET", "/api/runs/{id}/fast-path"),
]  # fmt: skip
PAGES = [
    ("GET", "/runs/{id}"), ("GET", "/runs/new?from_run={id}"), ("POST", "/runs/{id}/cancel"),
    ("POST", "/runs/{id}/delete"), ("GET", "/compare?ids={id}"), ("GET", "/compare.csv?ids={id}"),
    ("POST", "/runs/{id}/organise"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "url"), API, ids=[f"{m} {u}" for m, u in API])
def test_another_users_run_answers_like_a_missing_one(
    client: TestClient, alices_run: int, bob: Person, method: str, url: str
) -> None:
    theirs = client.request(method, url.format(id=alices_run), headers=bob.bearer)
    missing = client.request(method, url.format(id=MISSING), headers=bob.bearer)
    assert (theirs.status_code, theirs.json()["detail"]) == (404, f"run {alices_run} not found")
    assert (missing.status_code, missing.json()["detail"]) == (404, f"run {MISSING} not found")


@pytest.mark.parametrize(("method", "url"), PAGES, ids=[f"{m} {u}" for m, u in PAGES])
def test_another_users_run_is_a_404_page(
    client: TestClient, alices_run: int, bob: Person, method: str, url: str
) -> None:
    response = client.request(method, url.format(id=alices_run), headers=bob.bearer)
    assert response.status_code == 404 and f"run {alices_run} not found" in response.text


def test_the_owner_reads_everything_the_other_user_cannot(client: TestClient, alices_run: int, alice: Person) -> None:
    for url in (url for method, url in [*API, *PAGES] if method == "GET"):
        response = client.get(url.format(id=alices_run), headers=alice.bearer)
        assert response.status_code == 200, (url, response.text[:200])


def test_the_other_users_attempts_change_nothing(
    client: TestClient, alices_run: int, alices_queued: int, bob: Person, accounts_settings: Settings
) -> None:
    before = runs_of(accounts_settings)
    for run_id in (alices_run, alices_queued):
        for method, url in [*API, *PAGES]:
            client.request(method, url.format(id=run_id), headers=bob.bearer)
    assert runs_of(accounts_settings) == before  # not cancelled, deleted nor cloned
    assert (accounts_settings.runs_dir / str(alices_run) / "best.pt").is_file()


def test_a_finished_run_of_another_user_is_404_not_409(
    client: TestClient, alices_run: int, alice: Person, bob: Person
) -> None:
    # The owner learns it finished (409); anyone else must not learn it exists.
    assert client.post(f"/api/runs/{alices_run}/cancel", headers=alice.bearer).status_code == 409
    assert client.post(f"/api/runs/{alices_run}/cancel", headers=bob.bearer).status_code == 404


def test_the_list_shows_a_user_only_their_runs(
    client: TestClient, alices_run: int, alices_queued: int, bob: Person, accounts_settings: Settings
) -> None:
    with rows(accounts_settings) as db:
        bobs = make_run(db, owner_id=bob.id).id
    page = client.get("/api/runs", headers=bob.bearer).json()
    assert ([r["id"] for r in page["items"]], page["total"]) == ([bobs], 1)
    assert f"/runs/{alices_run}" not in client.get("/", headers=bob.bearer).text


def test_an_admin_sees_every_run(
    client: TestClient, alices_run: int, bob: Person, root: Person, accounts_settings: Settings
) -> None:
    with rows(accounts_settings) as db:
        bobs = make_run(db, owner_id=bob.id).id
    page = client.get("/api/runs", headers=root.bearer).json()
    assert sorted((r["id"], r["owner_name"]) for r in page["items"]) == [(alices_run, "alice"), (bobs, "bob")]
    assert client.get(f"/api/runs/{alices_run}", headers=root.bearer).status_code == 200


def test_an_admin_cancels_another_users_run(client: TestClient, alices_queued: int, root: Person) -> None:
    response = client.post(f"/api/runs/{alices_queued}/cancel", headers=root.bearer)
    assert (response.status_code, response.json()["status"]) == (200, "cancelled")


def test_a_user_cancels_their_own_run(client: TestClient, alices_queued: int, alice: Person) -> None:
    assert client.post(f"/api/runs/{alices_queued}/cancel", headers=alice.bearer).json()["status"] == "cancelled"


# --- another user's checkpoint as weights -----------------------------------------------------------


@pytest.mark.parametrize("weights", ["run:{id}", "runs/{id}/best.pt", "./runs/{id}/best.pt", "uploads/../runs/{id}/best.pt",
                                     "runs/{id}/checkpoint.pt"])  # fmt: skip
def test_another_users_checkpoint_cannot_be_the_weights(
    client: TestClient, alices_run: int, bob: Person, accounts_settings: Settings, weights: str
) -> None:
    config = {**TINY, "weights": weights.format(id=alices_run)}
    response = client.post("/api/runs", json={"config": config}, headers=bob.bearer)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "config", "weights"]
    assert run_count(accounts_settings) == 1  # alice's only


def test_the_owner_starts_from_their_own_checkpoint(client: TestClient, alices_run: int, alice: Person) -> None:
    response = client.post("/api/runs", json={"config": {**TINY, "weights": f"run:{alices_run}"}}, headers=alice.bearer)
    assert response.status_code == 201, response.text
    assert client.get(f"/api/runs/{response.json()['id']}", headers=alice.bearer).json()["config"]["weights"] == (
        f"runs/{alices_run}/best.pt"
    )


def test_an_override_naming_another_users_run_is_422_on_the_override(
    client: TestClient, alices_run: int, bob: Person
) -> None:
    body = {"config": TINY, "overrides": {"weights": f"run:{alices_run}"}}
    response = client.post("/api/runs", json=body, headers=bob.bearer)
    assert (response.status_code, response.json()["detail"][0]["loc"]) == (422, ["body", "overrides", "weights"])


# --- quota and limits ------------------------------------------------------------------------------


def test_the_third_active_run_is_429_naming_the_setting(
    client: TestClient, alice: Person, accounts_settings: Settings
) -> None:
    for _ in range(2):
        assert client.post("/api/runs", json={"config": TINY}, headers=alice.bearer).status_code == 201
    response = client.post("/api/runs", json={"config": TINY}, headers=alice.bearer)
    assert response.status_code == 429 and "STAGEWISE_MAX_ACTIVE_RUNS_PER_USER=2" in response.json()["detail"]
    assert run_count(accounts_settings) == 2


def test_a_study_that_would_pass_the_quota_queues_none_of_its_runs(
    client: TestClient, alice: Person, accounts_settings: Settings
) -> None:
    short = {"epochs": 10}  # within this server's STAGEWISE_MAX_EPOCHS=50
    place_imagenet_weights(accounts_settings, "resnet18")  # the studies start from ImageNet weights
    response = client.post("/api/studies", json={"study": "cifar10-4000/reference", "overrides": short},
                           headers=alice.bearer)  # fmt: skip
    assert response.status_code == 429 and "6 more would pass the most allowed" in response.json()["detail"]
    assert run_count(accounts_settings) == 0
    two = client.post("/api/studies", json={"study": "cifar10-4000/beat-the-table", "overrides": short},
                      headers=alice.bearer)  # fmt: skip
    assert two.status_code == 201 and [run["owner_name"] for run in two.json()["runs"]] == ["alice", "alice"]
    assert run_count(accounts_settings) == 2


def test_parallel_submits_cannot_pass_the_quota(client: TestClient, alice: Person, accounts_settings: Settings) -> None:
    def submit(_: int) -> int:
        return client.post("/api/runs", json={"config": TINY}, headers=alice.bearer).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = sorted(pool.map(submit, range(8)))
    assert codes == [201, 201] + [429] * 6
    assert run_count(accounts_settings) == 2


def test_the_quota_is_per_user(client: TestClient, alice: Person, bob: Person) -> None:
    for _ in range(2):
        client.post("/api/runs", json={"config": TINY}, headers=alice.bearer)
    assert client.post("/api/runs", json={"config": TINY}, headers=bob.bearer).status_code == 201


def test_a_clone_counts_against_the_quota(client: TestClient, alice: Person, alices_run: int) -> None:
    for _ in range(2):
        assert client.post(f"/api/runs/{alices_run}/clone", headers=alice.bearer).status_code == 201
    assert client.post(f"/api/runs/{alices_run}/clone", headers=alice.bearer).status_code == 429


def test_finished_runs_free_the_quota(client: TestClient, alice: Person, alices_queued: int) -> None:
    client.post("/api/runs", json={"config": TINY}, headers=alice.bearer)
    client.post(f"/api/runs/{alices_queued}/cancel", headers=alice.bearer)
    assert client.post("/api/runs", json={"config": TINY}, headers=alice.bearer).status_code == 201


@pytest.mark.parametrize(("field", "value", "variable"), [
    ("epochs", 51, "STAGEWISE_MAX_EPOCHS"), ("batch_size", 257, "STAGEWISE_MAX_BATCH_SIZE"),
    ("image_size", 513, "STAGEWISE_MAX_IMAGE_SIZE"),
])  # fmt: skip
def test_a_run_over_a_limit_is_422_naming_the_field(
    client: TestClient, alice: Person, accounts_settings: Settings, field: str, value: int, variable: str
) -> None:
    response = client.post("/api/runs", json={"config": {**TINY, field: value}}, headers=alice.bearer)
    assert response.status_code == 422
    error = response.json()["detail"][0]
    assert error["loc"] == ["body", "config", field] and variable in error["msg"]
    assert run_count(accounts_settings) == 0


def test_an_override_over_a_limit_is_422_on_the_override(client: TestClient, alice: Person) -> None:
    body = {"config": TINY, "overrides": {"epochs": 51}}
    response = client.post("/api/runs", json=body, headers=alice.bearer)
    assert (response.status_code, response.json()["detail"][0]["loc"]) == (422, ["body", "overrides", "epochs"])


def test_a_clone_over_a_limit_is_422(client: TestClient, alice: Person, alices_run: int) -> None:
    response = client.post(
        f"/api/runs/{alices_run}/clone", json={"overrides": {"batch_size": 1024}}, headers=alice.bearer
    )
    assert (response.status_code, response.json()["detail"][0]["loc"]) == (422, ["body", "overrides", "batch_size"])


def test_limits_hold_at_exactly_the_maximum(client: TestClient, alice: Person) -> None:
    config = {**TINY, "epochs": 50, "batch_size": 256, "image_size": 512}
    assert client.post("/api/runs", json={"config": config}, headers=alice.bearer).status_code == 201


def test_the_plan_preview_applies_the_same_limits(
    client: TestClient, alice: Person, alices_run: int, bob: Person
) -> None:
    assert client.post("/api/plan", json={"config": {**TINY, "epochs": 51}}, headers=alice.bearer).status_code == 422
    config = {**TINY, "weights": f"run:{alices_run}"}
    assert client.post("/api/plan", json={"config": config}, headers=bob.bearer).status_code == 422


def test_a_run_counts_as_its_owners(client: TestClient, alice: Person, accounts_settings: Settings) -> None:
    run_id = client.post("/api/runs", json={"config": TINY}, headers=alice.bearer).json()["id"]
    with rows(accounts_settings) as db:
        run = db.get(Run, run_id)
        assert run is not None and (run.owner_id, run.status) == (alice.id, RunStatus.queued)
