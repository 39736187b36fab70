"""Checkpoint files: written atomically, read with `weights_only=True` only.

`checkpoint.pt` (the last epoch) holds everything needed to resume: model, optimizer,
completed epochs and the run's best-so-far. Its `"model"` entry is a plain torchvision
state dict, so `torchvision.models.resnet18(num_classes=N).load_state_dict(ckpt["model"])`
works. `best.pt` holds the model at the best validation epoch.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from worker.training.errors import TrainingError

FORMAT_VERSION = 1


def save_atomic(payload: dict[str, Any], path: Path) -> None:
    """Write `payload` to `path` so that a crash never leaves a half-written file."""
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_trusted_format(path: Path) -> dict[str, Any]:
    """Read a checkpoint with `weights_only=True`: tensors and plain containers, no code."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError/RuntimeError variants
        raise TrainingError(f"cannot read checkpoint {path}: {exc}") from exc
    if not isinstance(payload, dict) or "model" not in payload:
        raise TrainingError(f"{path} is not a Stagewise checkpoint (no 'model' entry)")
    return payload


def model_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The state dict with the plain torchvision key names (no compile/DataParallel prefixes)."""
    module = getattr(model, "_orig_mod", model)
    return {key: value.detach().cpu() for key, value in module.state_dict().items()}
