"""The no-JavaScript New run form never answers 500, whatever a tampered or odd form holds:
it shows the error beside the field (422) and stores nothing, or starts from the defaults."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient


def total_runs(client: TestClient) -> int:
    return client.get("/api/runs").json()["total"]


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"stages.conv1.value": "x", "stages.conv1.mode": "zz"}, "stages.conv1"),
        ({"stages.conv2.unfreeze_epoch": "soon"}, "stages.conv2"),
        ({"base_config": '{"dataset": 5}'}, "dataset"),
        ({"name": "x" * 1000}, "name"),
    ],
)
def test_a_bad_form_is_422_beside_its_field_and_stores_nothing(client: TestClient, form: dict, field: str) -> None:
    before = total_runs(client)
    response = client.post("/runs/new", data=form, follow_redirects=False)
    assert (response.status_code, f'data-error-for="{field}"' in response.text) == (422, True)
    assert total_runs(client) == before


@pytest.mark.parametrize("base_config", ["{not json", "[1, 2]", '"a string"'])
def test_a_tampered_starting_config_falls_back_to_the_defaults(client: TestClient, base_config: str) -> None:
    form = {"base_config": base_config, "epochs": "1", "weights": "none"}  # the test server has no ImageNet file
    response = client.post("/runs/new", data=form, follow_redirects=False)
    assert (response.status_code, response.headers["location"].startswith("/runs/")) == (303, True)
