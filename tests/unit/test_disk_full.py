"""A full disk is a failure that names the file, never a half-written file left behind.

The disk is real: a 2 MiB tmpfs mounted for the test (`tests/tiny_disk.py`), too small for a
ResNet-18 checkpoint.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from tiny_runs import tiny

from tests.tiny_disk import tiny_disk as mounted
from worker.training import checkpoints
from worker.training.errors import DiskFull
from worker.training.loop import fit
from worker.training.runtime import Runtime


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    with mounted(tmp_path / "disk") as mount:
        yield mount


def test_a_checkpoint_that_does_not_fit_fails_the_run_naming_the_file_under_the_data_root(tiny_disk: Path) -> None:
    runtime = Runtime(data_root=tiny_disk, out_dir=tiny_disk / "runs" / "7", device="cpu")
    with pytest.raises(DiskFull) as full:
        fit(tiny(epochs=1), runtime)
    assert str(full.value).startswith("no space left on the device holding runs/7/best.pt:")
    assert str(tiny_disk) not in str(full.value)


def test_a_failed_save_leaves_no_temporary_file(tiny_disk: Path) -> None:
    with pytest.raises(DiskFull):
        checkpoints.save_atomic({"weights": torch.zeros(1_000_000)}, tiny_disk / "checkpoint.pt")
    assert list(tiny_disk.iterdir()) == []


def test_a_save_that_fails_for_another_reason_also_leaves_no_temporary_file(tmp_path: Path) -> None:
    with pytest.raises(Exception) as failed:
        checkpoints.save_atomic({"not a tensor": lambda: None}, tmp_path / "checkpoint.pt")
    assert not isinstance(failed.value, DiskFull)
    assert list(tmp_path.iterdir()) == []


def test_keeping_only_the_last_checkpoint_writes_no_best_pt_and_tests_the_last_model(tmp_path: Path) -> None:
    result = fit(tiny(epochs=2), Runtime(data_root=tmp_path, out_dir=tmp_path / "out", device="cpu", keep_best=False))
    written = {p.name for p in (tmp_path / "out").iterdir()}
    assert "checkpoint.pt" in written and "best.pt" not in written
    assert result.test_report is not None and (result.test_report.model, result.test_report.epoch) == ("last", 1)
