"""The New run page's Sweep… panel (POST /sweeps/new), on real Optuna and both databases, no worker:
the form's config is the base, the panel's toggles the space; a bad input is 422 beside the input
that made it, and nothing is stored."""

from __future__ import annotations

from typing import Any

import optuna
import pytest
from fastapi.testclient import TestClient

optuna.logging.set_verbosity(optuna.logging.WARNING)

FORM = {
    "epochs": "2", "batch_size": "8", "image_size": "32", "weights": "none", "backbone": "resnet18",
    "dataset.name": "fake", "dataset.num_images": "24", "dataset.num_classes": "2", "optimizer.lr": "0.01",
    "stages.conv4.value": "0.001", "stages.classifier.value": "0.1",
}  # fmt: skip


def post(client: TestClient, extra: dict[str, str], *, json: bool = False) -> Any:
    headers = {"Accept": "application/json"} if json else {}
    return client.post("/sweeps/new", data={**FORM, **extra}, headers=headers, follow_redirects=False)


def sweep_count(client: TestClient) -> int:
    return len(client.get("/api/sweeps").json())


def test_toggled_stages_become_ranges_around_their_values_and_a_group_shares_one(client: TestClient) -> None:
    response = post(client, {
        "sweep.name": "from the form", "sweep.stages.classifier.on": "1", "sweep.stages.classifier.log": "1",
        "sweep.stages.conv4.on": "1", "sweep.stages.conv4.group": "late", "sweep.stages.conv4.log": "1",
        "sweep.stages.conv5.on": "1", "sweep.stages.conv5.group": "late",
        "sweep.freeze_through.on": "1", "sweep.freeze_through.choices": "none, conv1, conv3",
        "sweep.sampler": "random", "sweep.trials": "3", "sweep.parallel": "2", "sweep.pruner": "median",
    })  # fmt: skip
    assert response.status_code == 303, response.text
    sweep = client.get("/api/sweeps/" + response.headers["location"].rsplit("/", 1)[1]).json()
    assert sweep["spec"]["space"] == {
        "stages.classifier.lr": {"type": "float", "low": pytest.approx(0.01), "high": pytest.approx(1.0), "log": True,
                                 "step": None, "stages": None},
        "late": {"type": "float", "low": pytest.approx(1e-4), "high": pytest.approx(0.01), "log": True, "step": None,
                 "stages": ["conv4", "conv5"]},
        "freeze_through": {"type": "categorical", "choices": ["none", "conv1", "conv3"], "stages": None},
    }  # fmt: skip
    assert (sweep["name"], sweep["sampler"], sweep["pruner"], sweep["planned_trials"], sweep["parallel"]) == (
        "from the form", "random", "median", 3, 2)
    assert len(sweep["trials"]) == 2
    assert sweep["spec"]["base"]["config"]["stages"]["conv4"] == {"lr": 0.001, "mult": None, "unfreeze_epoch": 0}


def test_a_grid_draws_points_between_the_bounds(client: TestClient) -> None:
    response = post(client, {
        "sweep.stages.classifier.on": "1", "sweep.stages.classifier.low": "0.001", "sweep.stages.classifier.high": "0.1",
        "sweep.stages.classifier.log": "1", "sweep.sampler": "grid", "sweep.grid_points": "3",
    }, json=True)  # fmt: skip
    assert response.status_code == 201, response.text
    assert response.json()["spec"]["space"]["stages.classifier.lr"]["choices"] == [0.001, 0.01, 0.1]
    assert response.json()["planned_trials"] == 3


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"sweep.stages.conv2.on": "1", "sweep.stages.conv2.low": "0.1", "sweep.stages.conv2.high": "0.01"},
         "sweep.stages.conv2"),
        ({"sweep.stages.conv2.on": "1", "sweep.stages.conv2.low": "abc"}, "sweep.stages.conv2"),
        ({"sweep.freeze_through.on": "1", "sweep.freeze_through.choices": "none, conv9"}, "sweep.freeze_through"),
        ({"sweep.optimizer.weight_decay.on": "1", "sweep.optimizer.weight_decay.high": "5"},
         "sweep.optimizer.weight_decay"),
        ({"sweep.stages.conv2.on": "1", "sweep.trials": "0"}, "sweep.trials"),
        ({"sweep.stages.conv2.on": "1", "sweep.sampler": "bogus"}, "sweep.sampler"),
        ({"sweep.stages.conv2.on": "1", "epochs": "0"}, "epochs"),
        ({}, "sweep.space"),  # nothing toggled
    ],
)  # fmt: skip
def test_a_bad_panel_is_422_beside_the_input_and_stores_nothing(
    client: TestClient, extra: dict[str, str], field: str
) -> None:
    page = post(client, extra)
    assert (page.status_code, f'data-error-for="{field}"' in page.text) == (422, True), page.text[-2000:]
    as_json = post(client, extra, json=True)
    assert as_json.status_code == 422
    assert next(".".join(e["loc"]) for e in as_json.json()["detail"]) == field
    assert sweep_count(client) == 0


def test_the_form_is_shown_again_as_posted(client: TestClient) -> None:
    page = post(client, {"sweep.stages.conv2.on": "1", "sweep.stages.conv2.low": "0.1", "sweep.stages.conv2.high": "0.01",
                         "sweep.name": "kept"})  # fmt: skip
    assert 'id="sweep-panel" open' in page.text
    assert 'value="kept"' in page.text and 'name="sweep.stages.conv2.on" id="sweep-conv2-on" value="1" checked' in page.text


def test_the_run_form_ignores_the_panel(client: TestClient) -> None:
    response = client.post("/runs/new", data={**FORM, "sweep.stages.conv2.on": "1", "sweep.name": "x"},
                           follow_redirects=False)  # fmt: skip
    assert response.status_code == 303, response.text
