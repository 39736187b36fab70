"""Using a trained run: load its checkpoint, classify images, and show where the model looked.

Everything a prediction needs travels in the checkpoint (`config`, `class_names`), so a
run folder or a copied `best.pt` is enough: no database, no dataset. Images go through
the run's own eval path: decoded like its dataset's files (`images.decode_one`: shorter
side to the stored size, central square) and prepared like its test split
(`prepare_batch(train=False)`: the 224/256 central view, the run's normalization).
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
from PIL import Image
from torch import nn

from app.schemas.train_config import TrainConfig
from worker.training import checkpoints
from worker.training.backbones import empty_model
from worker.training.datasets import storage_size
from worker.training.errors import TrainingError
from worker.training.frozen_prefix import layout_of
from worker.training.images import decode_one
from worker.training.transforms import eval_view, prepare_batch

CHECKPOINT_FILES = {"best": "best.pt", "last": "checkpoint.pt"}
HEATMAP_OPACITY = 0.45


@dataclass(frozen=True)
class Classifier:
    """A run's trained model on the CPU in eval mode, with what it needs to read images.

    Attributes:
        model: the torchvision model with the run's head.
        config: the run's training config (backbone, image size, normalization, dataset).
        class_names: output i is class_names[i].
        epoch: epochs finished when the checkpoint was written.
        split_hash: the fingerprint of the run's data split.
        best_val_acc: the best validation accuracy so far (None without a validation split).
    """

    model: nn.Module
    config: TrainConfig
    class_names: tuple[str, ...]
    epoch: int
    split_hash: str | None
    best_val_acc: float | None

    @property
    def image_size(self) -> int:
        """The model's input side length."""
        return self.config.resolved_image_size()

    @property
    def stored_size(self) -> int:
        """The side an image is decoded to before the central view is taken (as in training)."""
        return storage_size(self.config.dataset, self.image_size)

    @property
    def normalization(self) -> str:
        return self.config.resolved_normalization()


def checkpoint_in(run_dir: Path, kind: str = "best") -> Path:
    """`best.pt` or `checkpoint.pt` (last) of a run folder; a file path is returned as is."""
    if run_dir.is_file():
        return run_dir
    if kind not in CHECKPOINT_FILES:
        raise ValueError(f"unknown checkpoint {kind!r}; allowed: {', '.join(CHECKPOINT_FILES)}")
    return run_dir / CHECKPOINT_FILES[kind]


def load_classifier(path: Path) -> Classifier:
    """The model a Stagewise checkpoint holds, read with `weights_only=True`.

    Raises:
        TrainingError: the file is missing, not a Stagewise checkpoint, or holds more than tensors.
    """
    if not path.is_file():
        raise TrainingError(f"no checkpoint at {path}: a run writes best.pt after its first epoch")
    payload = checkpoints.load_trusted_format(path)
    if "config" not in payload or "class_names" not in payload:
        raise TrainingError(f"{path} has no config or class names: written by an older Stagewise, cannot predict")
    config = TrainConfig.model_validate(payload["config"])
    class_names = tuple(payload["class_names"])
    model = empty_model(config.backbone, len(class_names))
    model.load_state_dict(payload["model"])
    model.eval()
    return Classifier(
        model=model, config=config, class_names=class_names, epoch=int(payload.get("epoch", 0)),
        split_hash=payload.get("split_hash"), best_val_acc=payload.get("best_val_acc"),
    )  # fmt: skip


def read_image(classifier: Classifier, source: BinaryIO, *, max_pixels: int) -> torch.Tensor:
    """One image file as the run's stored (3, S, S) uint8 view (see `images.decode_one` for errors)."""
    return decode_one(source, classifier.stored_size, max_pixels=max_pixels)


def model_inputs(classifier: Classifier, images: torch.Tensor) -> torch.Tensor:
    """Stored (B, 3, S, S) uint8 images as normalized (B, 3, image_size, image_size) model inputs."""
    return prepare_batch(
        images, train=False, image_size=classifier.image_size, augment="none", normalization=classifier.normalization
    )


@torch.inference_mode()
def probabilities(classifier: Classifier, images: torch.Tensor) -> torch.Tensor:
    """Softmax over the classes, (B, classes) float32, for stored uint8 images."""
    return classifier.model(model_inputs(classifier, images)).float().softmax(dim=1)


def top_k(probs: torch.Tensor, k: int) -> list[list[tuple[int, float]]]:
    """Per image, the `k` most probable classes as (index, probability), most probable first."""
    values, indices = probs.topk(min(k, probs.shape[1]), dim=1)
    return [list(zip(row_i, row_p, strict=True)) for row_i, row_p in zip(indices.tolist(), values.tolist(), strict=True)]


def _last_feature_module(classifier: Classifier) -> nn.Module:
    """The module whose output is the last stage before the classifier: Grad-CAM's layer."""
    layout = layout_of(classifier.model, classifier.config.backbone)
    if layout is None:
        raise TrainingError(f"no Grad-CAM for {classifier.config.backbone}: its layout is unknown")
    feature_stages = [modules for name, modules in layout if name != "classifier" and modules]
    return feature_stages[-1][-1]


def grad_cam(classifier: Classifier, image: torch.Tensor, class_index: int) -> torch.Tensor:
    """Grad-CAM (Selvaraju et al., 2017) of one stored uint8 image for `class_index`.

    The last feature stage's activations, weighted per channel by the spatially averaged
    gradient of the class's logit, summed, ReLU'd, upsampled to the input and scaled to
    [0, 1]: an (image_size, image_size) float map of where the evidence for the class lies.

    Raises:
        TrainingError: the backbone's last stage has no spatial map (ViT's tokens).
    """
    captured: dict[str, torch.Tensor] = {}

    def keep(_module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
        output.retain_grad()
        captured["features"] = output

    handle = _last_feature_module(classifier).register_forward_hook(keep)
    try:
        with torch.enable_grad():
            inputs = model_inputs(classifier, image.unsqueeze(0)).requires_grad_(True)
            classifier.model(inputs)[0, class_index].backward()
    finally:
        handle.remove()
        classifier.model.zero_grad(set_to_none=True)
    features = captured["features"]
    if features.dim() != 4 or features.grad is None:
        raise TrainingError(f"no Grad-CAM for {classifier.config.backbone}: its last stage has no spatial map")
    weights = features.grad.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * features).sum(dim=1, keepdim=True)).detach()
    size = (classifier.image_size, classifier.image_size)
    cam = torch.nn.functional.interpolate(cam, size=size, mode="bilinear", align_corners=False)[0, 0]
    return cam / cam.max() if cam.max() > 0 else cam


def _colormap(heat: np.ndarray) -> np.ndarray:
    """A blue → cyan → yellow → red ramp for values in [0, 1], as (H, W, 3) floats in [0, 255]."""
    ramp = np.array([[0, 0, 128], [0, 128, 255], [0, 255, 255], [255, 255, 0], [255, 64, 0], [192, 0, 0]], float)
    position = heat * (len(ramp) - 1)
    low = np.clip(np.floor(position).astype(int), 0, len(ramp) - 2)
    frac = (position - low)[..., None]
    return ramp[low] * (1 - frac) + ramp[low + 1] * frac


def heatmap_png(classifier: Classifier, image: torch.Tensor, heat: torch.Tensor) -> str:
    """The model's view of `image` with `heat` laid over it, as a base64 PNG (no data: prefix)."""
    view = eval_view(image.unsqueeze(0), classifier.image_size)[0].clamp(0, 255)
    pixels = view.permute(1, 2, 0).numpy()
    blended = pixels * (1 - HEATMAP_OPACITY) + _colormap(heat.numpy()) * HEATMAP_OPACITY
    buffer = io.BytesIO()
    Image.fromarray(blended.round().astype(np.uint8)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")
