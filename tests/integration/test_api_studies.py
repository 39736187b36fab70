"""Studies: the reference table's six runs queued in one request (API and the New run page's
button), all or none, and opened side by side on the Compare page."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.presets import load_preset
from app.settings import Settings
from tests.weights_files import place_imagenet_weights

REFERENCE = "cifar10-4000/reference"
REFERENCE_PRESETS = [
    "cifar10-4000/model-a-lr1e-1", "cifar10-4000/model-b-lr1e-1", "cifar10-4000/model-a-lr1e-4",
    "cifar10-4000/model-b-lr1e-4", "cifar10-4000/model-c", "cifar10-4000/model-d",
]  # fmt: skip


@pytest.fixture(autouse=True)
def imagenet_weights_here(settings: Settings) -> None:
    """Four of the table's six runs start from ImageNet weights: this server holds them."""
    place_imagenet_weights(settings, "resnet18")


def total_runs(client: TestClient) -> int:
    return client.get("/api/runs").json()["total"]


def test_the_reference_study_lists_the_six_presets_of_the_table(client: TestClient) -> None:
    studies = {study["name"]: study for study in client.get("/api/studies").json()}
    assert studies[REFERENCE]["presets"] == REFERENCE_PRESETS
    known = {preset["name"] for preset in client.get("/api/presets").json()}
    assert all(set(study["presets"]) <= known for study in studies.values())


def test_a_study_queues_every_run_in_order_with_the_overrides(client: TestClient) -> None:
    response = client.post("/api/studies", json={"study": REFERENCE, "overrides": {"epochs": 3}})
    assert response.status_code == 201, response.text
    body = response.json()
    names = [load_preset(preset)["name"] for preset in REFERENCE_PRESETS]
    assert [(run["name"], run["status"], run["epochs"]) for run in body["runs"]] == [(n, "queued", 3) for n in names]
    ids = [run["id"] for run in body["runs"]]
    assert body["compare_url"] == "/compare?" + "&".join(f"ids={i}" for i in ids)
    weights = [client.get(f"/api/runs/{i}").json()["config"]["weights"] for i in ids]
    assert weights == ["none", "imagenet", "none", "imagenet", "imagenet", "imagenet"]
    page = client.get(body["compare_url"])
    assert page.status_code == 200 and all(name in page.text for name in names)


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"study": "cifar10-4000/nope"}, ["body", "study"]),
        ({"study": REFERENCE, "overrides": {"epochs": 0}}, ["body", "overrides", "epochs"]),
        ({"study": REFERENCE, "overrides": {"stages.conv9": 0.1}}, ["body", "overrides", "stages.conv9"]),
        ({"study": REFERENCE, "queue": "no-such-queue"}, ["body", "queue"]),
    ],
)
def test_a_bad_study_request_is_422_naming_the_field_and_queues_nothing(
    client: TestClient, body: dict, loc: list[str]
) -> None:
    response = client.post("/api/studies", json=body)
    assert response.status_code == 422, response.text
    assert any(error["loc"][: len(loc)] == loc for error in response.json()["detail"]), response.json()
    assert total_runs(client) == 0


def test_the_page_button_queues_the_study_and_opens_its_comparison(client: TestClient) -> None:
    response = client.post("/studies", data={"study": REFERENCE, "epochs": "2"}, follow_redirects=False)
    assert response.status_code == 303
    ids = [int(part.removeprefix("ids=")) for part in response.headers["location"].removeprefix("/compare?").split("&")]
    assert len(ids) == 6 and all(client.get(f"/api/runs/{i}").json()["epochs"] == 2 for i in ids)


def test_the_page_button_refuses_odd_epochs_and_queues_nothing(client: TestClient) -> None:
    response = client.post("/studies", data={"study": REFERENCE, "epochs": "many"}, follow_redirects=False)
    assert response.status_code == 422 and "epochs per run must be a whole number" in response.text
    assert total_runs(client) == 0


def test_the_new_run_page_offers_the_studies(client: TestClient) -> None:
    page = client.get("/runs/new").text
    assert 'action="/studies"' in page and "The reference table: ResNet-18 on CIFAR-10-4000 (6 runs)" in page
