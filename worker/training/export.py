"""Exporting a run's model for deployment: ONNX, TorchScript or safetensors, with a model card.

Every export is checked before it is offered: the ONNX file is run with onnxruntime and
the TorchScript file reloaded with `torch.jit.load`, each on a seeded batch, and their
logits compared with PyTorch's (`MAX_ABS_DIFF`); the safetensors file is loaded back into
a fresh torchvision model. The model card (`model_card.json`) says everything a runtime
needs to feed the model: classes in order, input size, and the normalization (mean, std,
channel order, value scale) the run trained with.
"""

from __future__ import annotations

import hashlib
import json
import warnings
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from app.schemas.catalog import NORMALIZATIONS
from worker.training.backbones import empty_model
from worker.training.datasets import EVAL_RESIZE_RATIO
from worker.training.errors import ExportMismatch
from worker.training.inference import Classifier

FORMATS = ("onnx", "torchscript", "safetensors")
MODEL_FILES = {"onnx": "model.onnx", "torchscript": "model.pt", "safetensors": "model.safetensors"}
CARD_FILE = "model_card.json"
MAX_ABS_DIFF = 1e-4  # the largest logit difference from PyTorch an export may show
CHECK_BATCH = 4


@dataclass(frozen=True)
class ExportResult:
    """An exported model: the zip (model file + model card), the card, and the check's max |logit diff|."""

    archive: Path
    card: dict[str, Any]
    max_abs_diff: float


def config_hash(config: Mapping[str, Any]) -> str:
    """SHA-256 of the config as canonical JSON: two runs with the same hash trained the same recipe."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def model_card(classifier: Classifier, *, fmt: str, extra: Mapping[str, Any]) -> dict[str, Any]:
    """What a runtime needs to use the model, and where it came from (`extra`: run id, metrics…)."""
    norm = NORMALIZATIONS[classifier.normalization]
    config = classifier.config.model_dump(mode="json")
    size = classifier.image_size
    return {
        "format": fmt,
        "file": MODEL_FILES[fmt],
        "backbone": classifier.config.backbone,
        "classes": list(classifier.class_names),
        "input": {"shape": [None, 3, size, size], "dtype": "float32", "layout": "NCHW", "name": "image"},
        "output": {"name": "logits", "shape": [None, len(classifier.class_names)], "apply": "softmax"},
        "preprocessing": {
            # What images.decode_one does, so a deployment can match the API to 1e-6 (a plain
            # resize without the JPEG draft step is ~1 % off in probability).
            "decode": "Pillow: a JPEG in draft mode at resize_shorter_side (Image.draft('RGB', (s, s))), then RGB",
            "resample": "bilinear",
            "resize_shorter_side": classifier.stored_size,
            "center_crop": size,
            "crop_of_resized": round(1 / EVAL_RESIZE_RATIO, 4) if classifier.stored_size > size else 1.0,
        },
        "normalization": {
            "name": classifier.normalization,
            "channel_order": norm["order"],
            "scale": norm["scale"],
            "mean": list(norm["mean"]),  # type: ignore[call-overload]
            "std": list(norm["std"]),  # type: ignore[call-overload]
            "formula": "(pixel * scale - mean) / std, per channel in channel_order",
        },
        "epoch": classifier.epoch,
        "split_hash": classifier.split_hash,
        "config": config,
        "config_hash": config_hash(config),
        **extra,
    }


def _check_batch(classifier: Classifier) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.randn(CHECK_BATCH, 3, classifier.image_size, classifier.image_size, generator=generator)


@torch.inference_mode()
def _reference(classifier: Classifier, batch: torch.Tensor) -> torch.Tensor:
    return classifier.model(batch).float()


def _compared(expected: torch.Tensor, got: torch.Tensor, fmt: str) -> float:
    diff = float((expected - got).abs().max())
    if not diff <= MAX_ABS_DIFF:  # also catches NaN
        raise ExportMismatch(
            f"the {fmt} export's logits differ from PyTorch's by up to {diff:.2e} (allowed {MAX_ABS_DIFF:.0e}): "
            "not offered; report it with the run's backbone"
        )
    return diff


def _onnx(classifier: Classifier, path: Path) -> float:
    import onnxruntime  # imported here: a heavy module only exports need

    batch = _check_batch(classifier)
    dims = {"x": {0: torch.export.Dim("batch", min=1)}}
    torch.onnx.export(
        classifier.model, (batch,), str(path), input_names=["image"], output_names=["logits"],
        dynamo=True, dynamic_shapes=dims, external_data=False, verbose=False,
    )  # fmt: skip
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {"image": batch.numpy()})
    return _compared(_reference(classifier, batch), torch.from_numpy(logits), "onnx")


def _torchscript(classifier: Classifier, path: Path) -> float:
    batch = _check_batch(classifier)
    # TorchScript is deprecated upstream but still what `torch.jit.load` runtimes (LibTorch) read.
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", FutureWarning)
        traced = torch.jit.trace(classifier.model, batch)
        torch.jit.save(traced, str(path))
        reloaded = torch.jit.load(str(path), map_location="cpu")
        return _compared(_reference(classifier, batch), reloaded(batch).float(), "torchscript")


def _safetensors(classifier: Classifier, path: Path) -> float:
    state = {key: value.contiguous() for key, value in classifier.model.state_dict().items()}
    save_file(state, str(path), metadata={"backbone": classifier.config.backbone,
                                          "classes": json.dumps(list(classifier.class_names))})  # fmt: skip
    fresh = empty_model(classifier.config.backbone, len(classifier.class_names))
    fresh.load_state_dict(load_file(str(path)))
    fresh.eval()
    batch = _check_batch(classifier)
    with torch.inference_mode():
        return _compared(_reference(classifier, batch), fresh(batch).float(), "safetensors")


_WRITERS: dict[str, Callable[[Classifier, Path], float]] = {
    "onnx": _onnx, "torchscript": _torchscript, "safetensors": _safetensors,
}  # fmt: skip


def export_model(classifier: Classifier, fmt: str, folder: Path, *, extra: Mapping[str, Any]) -> ExportResult:
    """Write `folder/<name>.zip` holding the model in `fmt` and its `model_card.json`, checked first.

    Args:
        classifier: the loaded run (`inference.load_classifier`).
        fmt: one of `FORMATS`.
        folder: an empty scratch folder; the model file and the zip are written there.
        extra: fields added to the card (run id, name, metrics).

    Raises:
        ExportMismatch: the exported model's logits differ from PyTorch's by more than `MAX_ABS_DIFF`.
    """
    if fmt not in _WRITERS:
        raise ValueError(f"unknown format {fmt!r}; allowed: {', '.join(FORMATS)}")
    model_path = folder / MODEL_FILES[fmt]
    diff = _WRITERS[fmt](classifier, model_path)
    card = {**model_card(classifier, fmt=fmt, extra=extra), "check": {"max_abs_logit_diff": diff, "batch": CHECK_BATCH}}
    archive = folder / "export.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        bundle.write(model_path, MODEL_FILES[fmt])
        bundle.writestr(CARD_FILE, json.dumps(card, indent=2) + "\n")
    return ExportResult(archive=archive, card=card, max_abs_diff=diff)
