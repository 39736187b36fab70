"""Exports a deployment runtime can use: ONNX (onnxruntime), TorchScript, safetensors, each with a model card."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch
import torchvision
from safetensors.torch import load_file
from typer.testing import CliRunner

from app.cli import cli
from tests.unit.tiny_runs import runtime, tiny
from worker.training import export, inference
from worker.training.loop import fit


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory) -> inference.Classifier:
    """A tiny scratch ResNet-18 (2 classes, 32 px) trained for one epoch on synthetic images."""
    root = tmp_path_factory.mktemp("run")
    fit(tiny(epochs=1), runtime(root))
    return inference.load_classifier(root / "out" / "best.pt")


def unpack(result: export.ExportResult, folder: Path) -> tuple[Path, dict]:
    with zipfile.ZipFile(result.archive) as bundle:
        bundle.extractall(folder)
    card = json.loads((folder / export.CARD_FILE).read_text())
    return folder / card["file"], card


def batch(seed: int = 1) -> torch.Tensor:
    return torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


@torch.inference_mode()
def reference(classifier: inference.Classifier, x: torch.Tensor) -> np.ndarray:
    return classifier.model(x).numpy()


def test_onnx_logits_from_onnxruntime_match_pytorch(classifier: inference.Classifier, tmp_path: Path) -> None:
    result = export.export_model(classifier, "onnx", tmp_path, extra={})
    model, _ = unpack(result, tmp_path / "unpacked")
    session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    x = batch()  # another batch size than the check's: the batch axis is dynamic
    (logits,) = session.run(None, {"image": x.numpy()})
    diff = float(np.abs(logits - reference(classifier, x)).max())
    print(f"onnx max |logit diff| = {diff:.2e}, export check {result.max_abs_diff:.2e}")
    assert diff <= export.MAX_ABS_DIFF and result.max_abs_diff <= export.MAX_ABS_DIFF


def test_torchscript_loads_without_stagewise_and_matches(classifier: inference.Classifier, tmp_path: Path) -> None:
    result = export.export_model(classifier, "torchscript", tmp_path, extra={})
    model, _ = unpack(result, tmp_path / "unpacked")
    loaded = torch.jit.load(str(model))
    with torch.no_grad():
        diff = float(np.abs(loaded(batch()).numpy() - reference(classifier, batch())).max())
    assert diff <= export.MAX_ABS_DIFF


def test_safetensors_loads_into_a_fresh_torchvision_model(classifier: inference.Classifier, tmp_path: Path) -> None:
    model, card = unpack(export.export_model(classifier, "safetensors", tmp_path, extra={}), tmp_path / "unpacked")
    fresh = torchvision.models.resnet18(num_classes=len(card["classes"]))
    fresh.load_state_dict(load_file(str(model)))
    with torch.inference_mode():
        assert np.array_equal(fresh.eval()(batch()).numpy(), reference(classifier, batch()))


def test_the_model_card_says_how_to_feed_the_model(classifier: inference.Classifier, tmp_path: Path) -> None:
    result = export.export_model(classifier, "safetensors", tmp_path, extra={"run_id": 7})
    card = result.card
    assert (card["backbone"], card["classes"], card["run_id"]) == ("resnet18", list(classifier.class_names), 7)
    assert card["input"]["shape"] == [None, 3, 32, 32]
    assert card["normalization"] == {
        "name": "imagenet", "channel_order": "RGB", "scale": 1 / 255, "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225], "formula": "(pixel * scale - mean) / std, per channel in channel_order",
    }  # fmt: skip
    assert card["config_hash"] == export.config_hash(classifier.config.model_dump(mode="json"))
    assert card["config"]["image_size"] == 32 and card["split_hash"] == classifier.split_hash


def test_caffe_normalization_is_written_as_bgr_0_255(tmp_path: Path) -> None:
    fit(tiny(epochs=1, normalization="caffe"), runtime(tmp_path))
    caffe = inference.load_classifier(tmp_path / "out" / "best.pt")
    norm = export.model_card(caffe, fmt="onnx", extra={})["normalization"]
    assert (norm["channel_order"], norm["scale"], norm["std"]) == ("BGR", 1.0, [1.0, 1.0, 1.0])


def test_cli_export_writes_the_zip(classifier: inference.Classifier, tmp_path: Path) -> None:
    out = tmp_path / "model.zip"
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    torch.save({"model": classifier.model.state_dict(), "config": classifier.config.model_dump(mode="json"),
                "class_names": list(classifier.class_names)}, run_dir / "best.pt")  # fmt: skip
    result = CliRunner().invoke(cli, ["export", str(run_dir), "--format", "safetensors", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(zipfile.ZipFile(out).namelist()) == ["model.safetensors", "model_card.json"]
