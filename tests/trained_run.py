"""A tiny run trained on the real Ants & Bees photos, shared by the predict and export tests.

Scratch ResNet-18 at 32 px, one epoch on 40 photos: seconds on a CPU, and enough that its
predictions vary from image to image. Its test split is the 80 photos after the first 20 %.
"""

from __future__ import annotations

from pathlib import Path

from app.schemas.train_config import TrainConfig
from worker.training.datasets import select_files
from worker.training.loop import fit
from worker.training.runtime import Runtime

CONFIG = TrainConfig.model_validate({
    "backbone": "resnet18", "weights": "none", "epochs": 1, "batch_size": 8, "image_size": 32,
    "optimizer": {"lr": 0.001}, "dataset": {"name": "hymenoptera", "fractions": [0.1, 0.1, 0.2]},
})  # fmt: skip


def train(data_root: Path, out: Path) -> Path:
    """Train CONFIG with images under `data_root` into `out` (best.pt, checkpoint.pt, test_report.json)."""
    fit(CONFIG, Runtime(data_root=data_root, out_dir=out, device="cpu"))
    return out


def test_images(data_root: Path) -> list[Path]:
    """The run's test photos in the order of its test report's `predictions`."""
    folder, files = select_files(CONFIG.dataset, data_root)
    return [folder / name for name in files["test"]]
