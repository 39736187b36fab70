"""A trained run's model judged on another dataset: accuracy, loss and a confusion matrix.

The images go through the run's own eval path, exactly as its test split did: decoded to
the run's stored size (`Classifier.stored_size`) and prepared by `prepare_batch(train=False)`
with the run's normalization (`inference.model_inputs`). Classes are matched by name:
the dataset's class folders must be the model's classes, or, when asked, only the classes
both share are judged (images of other classes are left out).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from app.schemas.train_config import DatasetConfig
from worker.training.datasets import ImageTensors, Selection, select_split
from worker.training.errors import TrainingError
from worker.training.inference import Classifier, model_inputs
from worker.training.loop import resolve_device

DECODE_CHUNK = 256  # images decoded at a time: memory stays bounded on a large dataset
BATCH_SIZE = 64


class ClassMismatch(TrainingError):
    """The dataset's class names are not the model's; `missing` and `extra` say which differ."""

    def __init__(self, missing: Sequence[str], extra: Sequence[str], *, shared: bool) -> None:
        self.missing, self.extra = list(missing), list(extra)
        if shared:
            message = "the dataset shares no class name with the model"
        else:
            message = "the dataset's classes differ from the model's"
        parts = [f"missing: {', '.join(self.missing)}" if self.missing else "",
                 f"extra: {', '.join(self.extra)}" if self.extra else ""]  # fmt: skip
        super().__init__(f"{message} ({'; '.join(p for p in parts if p)})")


@dataclass(frozen=True)
class ClassMatch:
    """How a dataset's classes map onto the model's outputs.

    Attributes:
        mapping: dataset class name → model output index, for the classes judged.
        missing: model classes the dataset lacks (judged on no image).
        extra: dataset classes the model does not know (their images are left out).
    """

    mapping: dict[str, int]
    missing: list[str]
    extra: list[str]


def match_classes(model_classes: Sequence[str], dataset_classes: Sequence[str], *, shared: bool) -> ClassMatch:
    """Match classes by name.

    Raises:
        ClassMismatch: the names differ and `shared` is False, or they share no name at all.
    """
    known = set(dataset_classes)
    missing = [name for name in model_classes if name not in known]
    extra = sorted(set(dataset_classes) - set(model_classes))
    mapping = {name: index for index, name in enumerate(model_classes) if name in known}
    if (missing or extra) and not shared or not mapping:
        raise ClassMismatch(missing, extra, shared=shared)
    return ClassMatch(mapping, missing, extra)


def dataset_classes(config: DatasetConfig, data_root: Path) -> list[str]:
    """The class names of a dataset, listed without decoding an image."""
    return select_split(config, data_root, "all").class_names


@dataclass(frozen=True)
class EvaluationResult:
    """A model judged on a set of images.

    Attributes:
        accuracy, loss: over `count` images (cross-entropy over all the model's outputs).
        class_names: the model's classes; rows (true) and columns (predicted) of `confusion`.
        confusion: counts, classes × classes; rows of classes the dataset lacks are zeros.
        match: how the dataset's classes were mapped.
        split_hash: the fingerprint of the images' split (`datasets.select_split`).
    """

    accuracy: float
    loss: float
    count: int
    class_names: list[str]
    confusion: list[list[int]]
    match: ClassMatch
    split_hash: str

    @property
    def per_class_accuracy(self) -> dict[str, float | None]:
        """Accuracy per true class; None for a class with no image here."""
        return {
            name: (row[i] / sum(row)) if sum(row) else None
            for i, (name, row) in enumerate(zip(self.class_names, self.confusion, strict=True))
        }


def evaluate_dataset(
    classifier: Classifier, config: DatasetConfig, data_root: Path, split: str, *, shared: bool = False,
    device: str = "cpu", num_workers: int = 0, should_go_on: Callable[[], None] | None = None,
) -> EvaluationResult:  # fmt: skip
    """Judge `classifier` on `split` of the dataset `config` ("all": every image).

    Args:
        device: "auto" | "cpu" | "cuda[:N]"; the model runs in fp32 there (no autocast: exact as the CPU).
        should_go_on: called between chunks (a heartbeat); may raise to stop.

    Raises:
        ClassMismatch: see `match_classes`.
        DatasetNotFound, InvalidDataset, BadImage: the dataset cannot be read.
    """
    selection = select_split(config, data_root, split)
    match = match_classes(classifier.class_names, selection.class_names, shared=shared)
    to_model = [match.mapping.get(name, -1) for name in selection.class_names]
    positions = [p for p, label in zip(selection.positions, selection.labels, strict=True) if to_model[label] >= 0]
    if not positions:
        raise TrainingError(f"split {split!r} of {config.label} holds no image of the model's classes")
    classes = len(classifier.class_names)
    confusion = torch.zeros(classes * classes, dtype=torch.long)
    loss_sum, count = 0.0, 0
    target_device = resolve_device(device)
    model = classifier.model.to(target_device)
    for start in range(0, len(positions), DECODE_CHUNK):
        if should_go_on is not None:
            should_go_on()
        chunk = _decoded(selection, positions[start : start + DECODE_CHUNK], classifier, config, num_workers)
        labels = torch.tensor(to_model, dtype=torch.long)[chunk.labels]
        chunk_loss, predicted = _judge(model, classifier, chunk.images, labels, target_device)
        loss_sum += chunk_loss
        count += len(labels)
        confusion += torch.bincount(labels * classes + predicted, minlength=classes * classes)
    matrix = confusion.view(classes, classes)
    return EvaluationResult(
        accuracy=matrix.diagonal().sum().item() / count, loss=loss_sum / count, count=count,
        class_names=list(classifier.class_names), confusion=matrix.tolist(), match=match,
        split_hash=selection.split_hash,
    )  # fmt: skip


def _decoded(
    selection: Selection, positions: list[int], classifier: Classifier, config: DatasetConfig, num_workers: int
) -> ImageTensors:
    return selection.decode(positions, classifier.stored_size, num_workers=num_workers, on_bad_image=config.on_bad_image)


@torch.inference_mode()
def _judge(
    model: torch.nn.Module, classifier: Classifier, images: torch.Tensor, labels: torch.Tensor, device: torch.device
) -> tuple[float, torch.Tensor]:
    """Summed loss and the predicted classes of stored uint8 images, in batches."""
    loss_sum = 0.0
    predicted = []
    for start in range(0, len(labels), BATCH_SIZE):
        batch = images[start : start + BATCH_SIZE].to(device)
        logits = model(model_inputs(classifier, batch)).float().cpu()
        target = labels[start : start + BATCH_SIZE]
        loss_sum += F.cross_entropy(logits, target, reduction="sum").item()
        predicted.append(logits.argmax(1))
    return loss_sum, torch.cat(predicted)
