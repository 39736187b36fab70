"""Predicting with a trained run: the run's own eval view, refusals of bad images, Grad-CAM, the CLI.

One tiny run trained on the real Ants & Bees photos (tests/trained_run.py) serves the module.
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from app.cli import cli
from app.schemas.metrics import TestReport
from tests import trained_run
from worker.training import inference
from worker.training.backbones import empty_model
from worker.training.errors import BadImage, ImageTooLarge

MAX_PIXELS = 50_000_000


@pytest.fixture(scope="module")
def run_dir(photos: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trained_run.train(photos, tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="module")
def classifier(run_dir: Path) -> inference.Classifier:
    return inference.load_classifier(run_dir / "best.pt")


def read(classifier: inference.Classifier, path: Path) -> torch.Tensor:
    with path.open("rb") as source:
        return inference.read_image(classifier, source, max_pixels=MAX_PIXELS)


def test_top1_of_each_test_photo_is_the_test_reports_prediction(
    classifier: inference.Classifier, run_dir: Path, photos: Path
) -> None:
    report = TestReport.model_validate_json((run_dir / "test_report.json").read_text())
    images = torch.stack([read(classifier, p) for p in trained_run.test_images(photos)])
    predicted = inference.probabilities(classifier, images).argmax(1).tolist()
    assert report.predictions is not None and len(set(report.predictions)) == 2  # not a constant model
    assert predicted == report.predictions


def test_probabilities_sum_to_one_and_top_k_is_sorted(classifier: inference.Classifier, photos: Path) -> None:
    image = read(classifier, trained_run.test_images(photos)[0])
    probs = inference.probabilities(classifier, image[None])
    (ranked,) = inference.top_k(probs, 5)
    assert len(ranked) == 2 and ranked[0][1] >= ranked[1][1]  # two classes: k is capped
    assert sum(p for _, p in ranked) == pytest.approx(1.0, abs=1e-5)


def test_a_file_that_is_not_an_image_is_refused(classifier: inference.Classifier) -> None:
    with pytest.raises(BadImage, match="not a readable image"):
        inference.read_image(classifier, io.BytesIO(b"%PDF-1.7 not a picture"), max_pixels=MAX_PIXELS)


def test_an_image_over_the_pixel_limit_is_refused_before_decoding(classifier: inference.Classifier) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (300, 200)).save(buffer, format="PNG")
    buffer.seek(0)
    with pytest.raises(ImageTooLarge, match="300x200 pixels"):
        inference.read_image(classifier, buffer, max_pixels=300 * 200 - 1)


def test_grad_cam_is_a_map_over_the_input_scaled_to_one(classifier: inference.Classifier, photos: Path) -> None:
    # At 96 px ResNet's last stage is 3x3, so the map has places to tell apart (at 32 px it is one value).
    torch.manual_seed(0)
    wide = replace(classifier, model=empty_model("resnet18", 2).eval(),
                   config=classifier.config.model_copy(update={"image_size": 96}))  # fmt: skip
    image = read(wide, trained_run.test_images(photos)[0])
    top = int(inference.probabilities(wide, image[None]).argmax())
    heat = inference.grad_cam(wide, image, class_index=top)
    assert heat.shape == (96, 96) and float(heat.min()) >= 0 and float(heat.max()) == pytest.approx(1.0)
    assert float(heat.min()) < 0.5  # not flat
    png = Image.open(io.BytesIO(base64.b64decode(inference.heatmap_png(wide, image, heat))))
    assert png.size == (96, 96) and png.mode == "RGB"


def test_grad_cam_leaves_no_gradient_on_the_model(classifier: inference.Classifier, photos: Path) -> None:
    image = read(classifier, trained_run.test_images(photos)[0])
    inference.grad_cam(classifier, image, class_index=0)
    assert all(p.grad is None for p in classifier.model.parameters())


def test_cli_predict_prints_the_top_classes_of_each_image(run_dir: Path, photos: Path) -> None:
    images = trained_run.test_images(photos)[:2]
    result = CliRunner().invoke(cli, ["predict", str(run_dir), *map(str, images), "--top-k", "1"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [line["file"] for line in lines] == [str(p) for p in images]
    assert all(len(line["top"]) == 1 and line["top"][0]["name"] in ("ants", "bees") for line in lines)


def test_cli_predict_names_an_unreadable_image(run_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a picture")
    result = CliRunner().invoke(cli, ["predict", str(run_dir), str(bad)])
    assert result.exit_code == 1 and "notes.jpg" in result.output
