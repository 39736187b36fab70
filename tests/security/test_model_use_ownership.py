"""Predict and export: another user's run answers like a missing one, and a checkpoint is read as tensors only."""

from __future__ import annotations

import io

import pytest
import torch
from fastapi.testclient import TestClient
from people import Person, finished_run
from PIL import Image

from app.settings import Settings

MISSING = 999_999


def a_photo() -> list[tuple[str, tuple[str, bytes, str]]]:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), "orange").save(buffer, format="PNG")
    return [("files", ("photo.png", buffer.getvalue(), "image/png"))]


@pytest.mark.parametrize("use", ["predict", "export"])
def test_another_users_run_is_404_like_a_missing_one(
    client: TestClient, accounts_settings: Settings, alice: Person, bob: Person, use: str
) -> None:
    alices = finished_run(accounts_settings, alice)
    for run_id in (alices, MISSING):
        if use == "predict":
            response = client.post(f"/api/runs/{run_id}/predict", files=a_photo(), headers=bob.bearer)
        else:
            response = client.get(f"/api/runs/{run_id}/export", headers=bob.bearer)
        assert (response.status_code, response.json()["detail"]) == (404, f"run {run_id} not found")


def test_a_checkpoint_that_would_run_code_is_refused_not_loaded(
    client: TestClient, accounts_settings: Settings, alice: Person
) -> None:
    run_id = finished_run(accounts_settings, alice)
    payload = {"model": {}, "config": {}, "class_names": [], "evil": Image.new}  # a callable: not tensors
    torch.save(payload, accounts_settings.runs_dir / str(run_id) / "best.pt")
    response = client.post(f"/api/runs/{run_id}/predict", files=a_photo(), headers=alice.bearer)
    assert response.status_code == 409 and "refused, it would import" in response.json()["detail"]
