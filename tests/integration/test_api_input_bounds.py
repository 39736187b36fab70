"""Odd names and oversized numbers are refused at the door, with 422 naming the field.

Issue 15: a dataset name "ok1\\n" was accepted (a pattern ending in `$` under `re.match`),
`eval_batch_size` ignored STAGEWISE_MAX_BATCH_SIZE, and `seed = 10**40` was accepted only for
the worker to fail later with an overflow.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import TINY
from fastapi.testclient import TestClient
from pydantic import ValidationError

from app.schemas.accounts import check_user_name
from app.settings import Settings

CONTROL = ["ok1\n", "ok\r1", "a\x00b", "tab\there", "\u202egnp.exe", "zero\u200bwidth", "line\u2028sep"]


@pytest.mark.parametrize("name", CONTROL)
def test_a_run_name_with_a_control_character_is_422_on_name(client: TestClient, name: str) -> None:
    response = client.post("/api/runs", json={"config": TINY, "name": name})

    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["body", "name"]]


@pytest.mark.parametrize(
    ("config", "loc"),
    [
        ({"name": "ok1\n"}, ["body", "config", "name"]),
        ({"dataset": {"name": "imagefolder", "path": "uploads/ok1\n"}}, ["body", "config", "dataset", "path"]),
        ({"weights": "runs/1/best\n.pt"}, ["body", "config", "weights"]),
        ({"seed": 10**40}, ["body", "config", "seed"]),
        ({"seed": -1}, ["body", "config", "seed"]),
        ({"dataset": {"name": "digits", "split_seed": 2**64}}, ["body", "config", "dataset", "split_seed"]),
        ({"dataset": {"name": "cifar10", "train_size": 10**12}}, ["body", "config", "dataset", "train_size"]),
        ({"test_every": 10**9}, ["body", "config", "test_every"]),
        ({"schedule": {"name": "step", "step_size": 10**9}}, ["body", "config", "schedule", "step_size"]),
        ({"schedule": {"name": "onecycle", "max_factor": 1e300}}, ["body", "config", "schedule", "max_factor"]),
        ({"stages": {"conv1": {"lr": 1e300}}}, ["body", "config", "stages", "conv1", "lr"]),
        ({"grad_clip": 1e300}, ["body", "config", "grad_clip"]),
    ],
)
def test_a_config_field_out_of_bounds_is_422_naming_it(client: TestClient, config: dict[str, Any], loc: list) -> None:
    response = client.post("/api/runs", json={"config": {**TINY, **config}})

    assert response.status_code == 422, response.text
    assert loc in [e["loc"] for e in response.json()["detail"]]


def test_the_largest_seed_torch_takes_is_accepted(client: TestClient) -> None:
    response = client.post("/api/plan", json={"config": {**TINY, "seed": 2**63 - 1}})

    assert response.status_code == 200, response.text


@pytest.mark.parametrize("field", ["batch_size", "eval_batch_size"])
def test_batch_sizes_over_the_servers_limit_are_422_naming_the_limit(
    client: TestClient, settings: Settings, field: str
) -> None:
    response = client.post("/api/runs", json={"config": {**TINY, field: settings.max_batch_size + 1}})

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "config", field] and "STAGEWISE_MAX_BATCH_SIZE" in error["msg"]


def test_an_override_out_of_bounds_is_422_on_the_overrides_path(client: TestClient) -> None:
    response = client.post("/api/runs", json={"preset": "demo/digits", "overrides": {"seed": 10**40}})

    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["body", "overrides", "seed"]]


@pytest.mark.parametrize("params", [{"dataset": "digits\n"}, {"owner": "alice\n"}, {"backbone": "resnet18\x00"}])
def test_a_list_filter_with_a_control_character_is_422(client: TestClient, params: dict[str, str]) -> None:
    response = client.get("/api/runs", params=params)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", *params]


def test_a_user_name_with_a_trailing_newline_is_refused() -> None:
    with pytest.raises(ValueError, match="user names"):
        check_user_name("alice\n")


def test_a_queue_name_with_a_trailing_newline_is_refused() -> None:
    with pytest.raises(ValidationError, match="queue name"):
        Settings(queues=["gpu\n"])
