"""The tiny training run the unit tests share: a scratch ResNet-18 on 32 synthetic 32 px
images (seconds on a CPU), and a CPU runtime writing under a test's tmp_path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.presets import apply_overrides
from app.schemas.train_config import TrainConfig
from worker.training.runtime import Runtime

TINY: dict[str, Any] = {
    "backbone": "resnet18",
    "weights": "none",
    "dataset": {"name": "fake", "num_images": 32, "num_classes": 2},
    "epochs": 3,
    "batch_size": 8,
    "image_size": 32,
    "optimizer": {"lr": 0.05},
}


def tiny(**overrides: Any) -> TrainConfig:
    """TINY with dotted-path overrides (a mapping value replaces the whole entry)."""
    return TrainConfig.model_validate(apply_overrides(TINY, overrides))


def runtime(tmp_path: Path, out: str = "out", **options: Any) -> Runtime:
    """Train on the CPU with data under `tmp_path`, writing into `tmp_path / out`."""
    return Runtime(data_root=tmp_path, out_dir=tmp_path / out, device="cpu", **options)
