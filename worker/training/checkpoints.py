"""Checkpoint files: written atomically, read with `weights_only=True` only.

`checkpoint.pt` (the last epoch) holds everything needed to resume: model, optimizer,
completed epochs and the run's best-so-far. Its `"model"` entry is a plain torchvision
state dict, so `torchvision.models.resnet18(num_classes=N).load_state_dict(ckpt["model"])`
works. `best.pt` holds the model at the best validation epoch.
"""

from __future__ import annotations

import errno
import os
import pickle
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from worker.training.errors import DiskFull, TrainingError

FORMAT_VERSION = 1
# How torch's weights-only unpickler names the global it refused ("GLOBAL posix.system whose…").
_REFUSED_GLOBAL = re.compile(r"GLOBAL (\S+)")


def save_atomic(payload: dict[str, Any], path: Path, *, before_replace: Callable[[], object] | None = None) -> None:
    """Write `payload` to `path` so that a crash never leaves a half-written file.

    The temporary file is removed on every failure: a full disk must not stay full of our
    half-written checkpoint. `before_replace` runs between writing and renaming: if it raises
    (a worker that was frozen mid-write and lost its run meanwhile), the new file is dropped
    and `path` is left as the run's new owner wrote it.

    Raises:
        DiskFull: no space (or quota) left for the file; torch reports that as a RuntimeError
            whose context is the OSError, so the file is opened here to keep it.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as file:
            torch.save(payload, file)
            file.flush()
            os.fsync(file.fileno())  # a delayed-allocation disk reports ENOSPC here, not at write
        if before_replace is not None:
            before_replace()
        os.replace(tmp, path)
    except BaseException as error:
        tmp.unlink(missing_ok=True)
        if is_disk_full(error):
            raise DiskFull(path) from error
        raise


def is_disk_full(error: BaseException) -> bool:
    """True when `error`, or an error it was raised from or during, is ENOSPC / EDQUOT."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        current = current.__cause__ or current.__context__
    return False


def load_tensors(path: Path, *, what: str, shown: str | None = None) -> Any:
    """`torch.load` with `weights_only=True`: tensors and plain containers, never code.

    A pickle can name any importable callable (`os.system`, `exec`) and call it while it
    loads, so every `.pt`/`.pth` file goes through torch's weights-only unpickler. Torch's
    own refusal is a page that suggests retrying with `weights_only=False` or allow-listing
    the callable: advice a user must never get about a file that tried to run code, so it
    becomes one sentence naming the file and what it tried to load.

    Args:
        path: the file.
        what: what the file is meant to be ("checkpoint", "weights"), for the message.
        shown: how the message names the file (default: its path), e.g. relative to a
            folder the server's admin knows, so that users never read the server's layout.

    Raises:
        TrainingError: the file holds anything but tensors and plain containers, or is not a
            complete torch.save file.
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        refused = _REFUSED_GLOBAL.search(str(error))
        found = f"it would import {refused.group(1)}" if refused else "it holds more than tensors"
        raise TrainingError(
            f"cannot read {what} {shown or path}: refused, {found}. Such a file may hold only tensors and plain "
            "containers, since unpickling anything else can run code: re-save it with "
            "torch.save(model.state_dict(), path) or as .safetensors"
        ) from error
    except Exception as error:  # a truncated zip, a foreign format: torch raises KeyError, RuntimeError…
        raise TrainingError(
            f"cannot read {what} {shown or path}: not a complete torch.save file ({type(error).__name__}); "
            "copy it again or re-save it"
        ) from error


def load_trusted_format(path: Path) -> dict[str, Any]:
    """Read a checkpoint of ours (see `load_tensors`); it must have a `"model"` entry."""
    payload = load_tensors(path, what="checkpoint")
    if not isinstance(payload, dict) or "model" not in payload:
        raise TrainingError(f"{path} is not a Stagewise checkpoint (no 'model' entry)")
    return payload


def model_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The state dict with the plain torchvision key names (no compile/DataParallel prefixes)."""
    module = getattr(model, "_orig_mod", model)
    return {key: value.detach().cpu() for key, value in module.state_dict().items()}
