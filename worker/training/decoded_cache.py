"""Decoded images on disk, so that the second run of a dataset skips decoding.

A run of a folder dataset spends its setup decoding JPEGs (CIFAR-10-4000: 15,000 files).
The result depends only on which files are selected, their bytes and the stored size, so
it is kept under `data_root/.cache/decoded/<key>.safetensors` and read back on the next
run with the same key. Safetensors holds plain tensors and cannot run code when read.

The key hashes the dataset config (name, path, split spec, seeds), the storage size and
a fingerprint of the file list: every pool path, and size + mtime of the selected files,
so that an added, removed or replaced image makes a new entry instead of a stale hit.

The folder is kept under a byte budget, least recently used first out: a hit touches its
entry, and each write removes the oldest others until the folder fits. A worker still
reading a removed entry keeps its open file (POSIX), so pruning never breaks a run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

FORMAT = 1  # bump when the stored layout or the decoder's output changes
SPLITS = ("train", "val", "test")
log = logging.getLogger(__name__)


def cache_key(dataset: dict[str, object], size: int, root: Path, files: list[str], selected: list[int]) -> str:
    """The entry's name: a hash of the dataset spec, storage size and file fingerprint."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"format": FORMAT, "dataset": dataset, "size": size}, sort_keys=True).encode())
    digest.update("\n".join(files).encode())
    for position in selected:
        stat = (root / files[position]).stat()
        digest.update(f"{position}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()[:32]


def read(path: Path) -> tuple[dict[str, torch.Tensor], list[str]] | None:
    """The stored tensors and skipped file names, or None if absent or unreadable."""
    if not path.is_file():
        return None
    try:
        os.utime(path)  # most recently used: the last to be pruned
        with safe_open(path, framework="pt", device="cpu") as fh:
            tensors = {name: fh.get_tensor(name) for name in fh.keys()}  # noqa: SIM118 (not a dict)
            skipped = json.loads((fh.metadata() or {}).get("skipped", "[]"))
    except (OSError, ValueError, SafetensorError) as error:
        log.warning("ignoring unreadable decode cache %s: %s", path, error)
        return None
    if any(f"{split}.{part}" not in tensors for split in SPLITS for part in ("images", "labels", "indices")):
        return None
    return tensors, skipped


def write(path: Path, tensors: dict[str, torch.Tensor], skipped: list[str], *, budget_bytes: int | None = None) -> None:
    """Store atomically (temp file + rename): a crash never leaves a half-written entry.

    A data root that cannot be written (read-only mount, full disk) only costs the
    next run its decode, so failures are logged, not raised. With `budget_bytes`, older
    entries are then removed until the folder fits it (this one always stays).
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        os.close(fd)
        try:
            plain = {name: tensor.contiguous() for name, tensor in tensors.items()}
            save_file(plain, tmp, metadata={"skipped": json.dumps(skipped)})
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
    except OSError as error:
        log.warning("could not write decode cache %s: %s", path, error)
        return
    if budget_bytes is not None:
        prune(path.parent, budget_bytes, keep=path)


def prune(folder: Path, budget_bytes: int, *, keep: Path | None = None) -> list[Path]:
    """Remove the least recently used entries until `folder` holds at most `budget_bytes`.

    Returns the removed files. `keep` (the entry just written) is never removed, even if
    it alone is over the budget.
    """
    entries = []
    for entry in folder.glob("*.safetensors"):
        try:
            stat = entry.stat()
        except FileNotFoundError:  # pruned by another worker meanwhile
            continue
        entries.append((stat.st_mtime_ns, stat.st_size, entry))
    total = sum(size for _, size, _ in entries)
    removed = []
    for _, size, entry in sorted(entries, key=lambda item: item[0]):
        if total <= budget_bytes:
            break
        if keep is not None and entry == keep:
            continue
        entry.unlink(missing_ok=True)
        total -= size
        removed.append(entry)
    if removed:
        log.info("decode cache over %.1f GB: removed %d least recently used entries", budget_bytes / 1e9, len(removed))
    return removed
