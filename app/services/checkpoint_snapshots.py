"""Pinning another run's checkpoint when a chained run is submitted, and reading its epoch.

`weights: "run:<id>:best"` means that checkpoint *as of the submit*, though the new run may
wait in the queue while the source keeps training. The loop replaces `best.pt` and
`checkpoint.pt` by rename (`checkpoints.save_atomic`), so a hard link taken now keeps the
file of now, at no cost in disk while the source does not move on. Its epoch is read from
the file's pickle by walking its opcodes (`pickletools`, which runs nothing and needs no
torch: the API process does not import torch for a submit, and a submit holds the writer
lock).
"""

from __future__ import annotations

import os
import pickletools
import shutil
import uuid
import zipfile
from pathlib import Path

from app.schemas.weights_source import CHECKPOINT_FILES, CheckpointName, snapshot_path

_MEMO_OPS = {"PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"}
_INT_OPS = {"BININT", "BININT1", "BININT2", "INT", "LONG", "LONG1"}
_MAX_PICKLE_BYTES = 64 * 2**20  # the data.pkl of a checkpoint holds names and numbers; tensors are separate entries


def pin_checkpoint(data_dir: Path, run_id: int, checkpoint: CheckpointName) -> str | None:
    """Pin run `run_id`'s `checkpoint` file as it is now; its data-root-relative path.

    None when the file holds no epoch we can read (not a Stagewise checkpoint): the caller
    keeps the live file's path, and the worker reports what is wrong with it.
    """
    live = data_dir / "runs" / str(run_id) / CHECKPOINT_FILES[checkpoint]
    folder = live.parent / "snapshots"
    folder.mkdir(exist_ok=True)
    pending = folder / f".{checkpoint}-{uuid.uuid4().hex}.pt"
    _link_or_copy(live, pending)
    try:
        epoch = checkpoint_epoch(pending)
        if epoch is None:
            return None
        relative = snapshot_path(run_id, checkpoint, epoch)
        os.replace(pending, data_dir / relative)  # a pin of the same epoch already there is the same model
        return relative
    finally:
        pending.unlink(missing_ok=True)


def checkpoint_epoch(path: Path) -> int | None:
    """The top-level `"epoch"` of a checkpoint written by `torch.save` (a zip), without unpickling it.

    The loop writes the payload as a dict whose first `"epoch"` string is its own key (a
    state dict's keys are layer names; later `"epoch"`s, in `records`, are memo references).
    """
    try:
        with zipfile.ZipFile(path) as archive:
            entry = next((i for i in archive.infolist() if i.filename.endswith("/data.pkl")), None)
            if entry is None or entry.file_size > _MAX_PICKLE_BYTES:
                return None
            ops = [(op.name, arg) for op, arg, _ in pickletools.genops(archive.read(entry))]
    except (OSError, zipfile.BadZipFile, ValueError, EOFError):
        return None
    for index, (_, arg) in enumerate(ops):
        if arg == "epoch":
            name, value = next(((n, v) for n, v in ops[index + 1 :] if n not in _MEMO_OPS), ("", None))
            return value if name in _INT_OPS and isinstance(value, int) else None
    return None


def _link_or_copy(source: Path, target: Path) -> None:
    """A hard link (instant, no extra disk); a copy where the filesystem has none."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
