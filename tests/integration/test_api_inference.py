"""POST /api/runs/{id}/predict and GET /api/runs/{id}/export against a run trained on real photos.

The run is trained once for the module (tests/trained_run.py) and its files copied into
each test's run folder, as a worker would have left them.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torchvision
from conftest import local_client, make_run
from fastapi.testclient import TestClient
from PIL import Image
from safetensors.torch import load
from sqlalchemy.orm import Session

from app.main import create_app
from app.models import RunStatus
from app.schemas.metrics import TestReport
from app.settings import Settings
from tests import trained_run


@pytest.fixture(scope="module")
def trained(photos: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trained_run.train(photos, tmp_path_factory.mktemp("trained"))


@pytest.fixture
def run_id(db: Session, settings: Settings, trained: Path) -> int:
    """A succeeded run whose folder holds the trained checkpoints and test report."""
    run = make_run(db, status=RunStatus.succeeded, config=trained_run.CONFIG.model_dump(mode="json"))
    shutil.copytree(trained, settings.runs_dir / str(run.id))
    return run.id


def upload(*paths: Path) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in paths]


def test_top1_equals_the_test_reports_prediction_for_each_test_photo(
    client: TestClient, run_id: int, trained: Path, photos: Path
) -> None:
    report = TestReport.model_validate_json((trained / "test_report.json").read_text())
    images = trained_run.test_images(photos)
    top1 = []
    for start in range(0, len(images), 16):  # max_predict_files per request
        response = client.post(f"/api/runs/{run_id}/predict", files=upload(*images[start : start + 16]))
        assert response.status_code == 200, response.text
        top1 += [p["top"][0]["index"] for p in response.json()["predictions"]]
    assert report.predictions is not None and len(set(report.predictions)) == 2
    assert top1 == report.predictions


def test_predict_answers_top_k_per_file_in_upload_order(client: TestClient, run_id: int, photos: Path) -> None:
    first, second = trained_run.test_images(photos)[:2]
    body = client.post(f"/api/runs/{run_id}/predict", files=upload(first, second), data={"top_k": "1"}).json()
    assert [p["file"] for p in body["predictions"]] == [first.name, second.name]
    assert [len(p["top"]) for p in body["predictions"]] == [1, 1]
    assert (body["image_size"], body["normalization"], body["checkpoint"]) == (32, "imagenet", "best")


def test_predict_with_heatmap_returns_a_png_of_the_models_view(client: TestClient, run_id: int, photos: Path) -> None:
    body = client.post(f"/api/runs/{run_id}/predict", files=upload(trained_run.test_images(photos)[0]),
                       data={"heatmap": "true"}).json()  # fmt: skip
    png = Image.open(io.BytesIO(base64.b64decode(body["predictions"][0]["heatmap_png"])))
    assert (png.format, png.size) == ("PNG", (32, 32))


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_a_file_that_is_not_an_image_is_422_naming_it_and_nothing_is_stored(
    client: TestClient, run_id: int, photos: Path, settings: Settings
) -> None:
    before = files_under(settings.data_dir)
    files = [*upload(trained_run.test_images(photos)[0]), ("files", ("notes.txt", b"hello", "text/plain"))]
    response = client.post(f"/api/runs/{run_id}/predict", files=files)
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "files", 1] and error["msg"].startswith("notes.txt: not a readable image")
    assert files_under(settings.data_dir) == before


def test_a_decompression_bomb_is_413_naming_it(settings: Settings, run_id: int) -> None:
    buffer = io.BytesIO()
    Image.new("L", (4000, 4000)).save(buffer, format="PNG")  # 16 Mpx of zeros: a 16 kB file
    with local_client(create_app(settings.model_copy(update={"max_upload_image_pixels": 10_000_000}))) as client:
        response = client.post(f"/api/runs/{run_id}/predict", files=[("files", ("bomb.png", buffer.getvalue(), "image/png"))])
    assert response.status_code == 413 and "bomb.png: 4000x4000 pixels" in response.json()["detail"][0]["msg"]


def test_a_file_over_the_size_limit_is_413_naming_it(settings: Settings, run_id: int, photos: Path) -> None:
    photo = trained_run.test_images(photos)[0]
    limited = settings.model_copy(update={"max_predict_file_bytes": photo.stat().st_size - 1})
    with local_client(create_app(limited)) as client:
        response = client.post(f"/api/runs/{run_id}/predict", files=upload(photo))
    assert response.status_code == 413 and response.json()["detail"][0]["msg"].startswith(f"{photo.name}: larger than")


def test_a_run_without_checkpoint_is_409_with_a_message(client: TestClient, db: Session, photos: Path) -> None:
    queued = make_run(db).id
    response = client.post(f"/api/runs/{queued}/predict", files=upload(trained_run.test_images(photos)[0]))
    assert response.status_code == 409 and "queued and has no best checkpoint yet" in response.json()["detail"]
    response = client.get(f"/api/runs/{queued}/export")
    assert response.status_code == 409 and "has no best checkpoint yet" in response.json()["detail"]


def test_a_missing_run_is_404(client: TestClient, photos: Path) -> None:
    assert client.get("/api/runs/999999/export").status_code == 404
    assert client.post("/api/runs/999999/predict", files=upload(trained_run.test_images(photos)[0])).status_code == 404


def test_export_safetensors_is_a_zip_that_loads_into_torchvision(client: TestClient, run_id: int) -> None:
    response = client.get(f"/api/runs/{run_id}/export", params={"format": "safetensors", "checkpoint": "last"})
    assert response.status_code == 200, response.text
    assert f'filename="run-{run_id}-last-safetensors.zip"' in response.headers["content-disposition"]
    bundle = zipfile.ZipFile(io.BytesIO(response.content))
    card = json.loads(bundle.read("model_card.json"))
    assert (card["run_id"], card["classes"], card["checkpoint"]) == (run_id, ["ants", "bees"], "last")
    with bundle.open("model.safetensors") as source:
        state = load(source.read())
    torchvision.models.resnet18(num_classes=2).load_state_dict(state)


def test_export_of_an_unknown_format_is_422(client: TestClient, run_id: int) -> None:
    assert client.get(f"/api/runs/{run_id}/export", params={"format": "pickle"}).status_code == 422


def card_input(photo: Path, card: dict) -> np.ndarray:
    """A photo prepared from the model card alone, with Pillow and numpy (no Stagewise code)."""
    pre, norm = card["preprocessing"], card["normalization"]
    side, crop = pre["resize_shorter_side"], pre["center_crop"]
    with Image.open(photo) as image:
        image.draft("RGB", (side, side))
        image = image.convert("RGB")
        width, height = image.size
        short, long = sorted((width, height))
        long = int(side * long / short)  # the shorter side to `side`, as torchvision's Resize
        image = image.resize((side, long) if width <= height else (long, side), Image.Resampling.BILINEAR)
    width, height = image.size
    left, top = round((width - side) / 2), round((height - side) / 2)
    square = np.asarray(image.crop((left, top, left + side, top + side)), dtype=np.float32)
    offset = round((side - crop) / 2)
    pixels = square[offset : offset + crop, offset : offset + crop] * norm["scale"]
    pixels = (pixels - np.array(norm["mean"], dtype=np.float32)) / np.array(norm["std"], dtype=np.float32)
    return pixels.transpose(2, 0, 1)


def test_the_onnx_download_runs_in_onnxruntime_on_photos_prepared_from_its_card(
    client: TestClient, run_id: int, photos: Path
) -> None:
    response = client.get(f"/api/runs/{run_id}/export", params={"format": "onnx"})
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    card = json.loads(archive.read("model_card.json"))
    session = onnxruntime.InferenceSession(archive.read("model.onnx"), providers=["CPUExecutionProvider"])
    images = trained_run.test_images(photos)[:3]
    logits = session.run(None, {card["input"]["name"]: np.stack([card_input(p, card) for p in images])})[0]
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    predicted = client.post(f"/api/runs/{run_id}/predict", files=upload(*images), data={"top_k": "2"}).json()
    for row, prediction in zip(probabilities, predicted["predictions"], strict=True):
        by_name = {c["name"]: c["probability"] for c in prediction["top"]}
        assert max(abs(float(p) - by_name[n]) for p, n in zip(row, card["classes"], strict=True)) < 1e-4
