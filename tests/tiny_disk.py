"""A real, tiny filesystem for disk-full tests: a tmpfs of a few MiB mounted for one test.

Needs root (as in this project's CI containers); elsewhere the test is skipped, saying why.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def tiny_disk(mount: Path, size: str = "2m") -> Iterator[Path]:
    """`mount` as a filesystem of `size` bytes of its own; unmounted (lazily) afterwards."""
    mount.mkdir(parents=True, exist_ok=True)
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
                          check=False, capture_output=True, text=True)  # fmt: skip
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({made.stderr.strip()}): needs root")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "--lazy", str(mount)], check=True)  # a failing test may still hold a file open
