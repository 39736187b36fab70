"""Reading a checkpoint's epoch without unpickling it, and pinning a checkpoint as it is now."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
from tiny_runs import runtime, tiny

from app.services.checkpoint_snapshots import checkpoint_epoch, pin_checkpoint
from worker.training.checkpoints import load_trusted_format
from worker.training.loop import fit


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny run's folder, trained by the real loop: `best.pt` and `checkpoint.pt`."""
    root = tmp_path_factory.mktemp("run")
    fit(tiny(epochs=3), runtime(root, out="runs/7"))
    return root


@pytest.mark.parametrize("name", ["best.pt", "checkpoint.pt"])
def test_the_epoch_read_from_opcodes_is_the_one_torch_loads(trained: Path, name: str) -> None:
    path = trained / "runs" / "7" / name
    assert checkpoint_epoch(path) == load_trusted_format(path)["epoch"]


def test_pinning_keeps_the_file_of_now_when_the_run_replaces_it(trained: Path) -> None:
    live = trained / "runs" / "7" / "checkpoint.pt"
    relative = pin_checkpoint(trained, 7, "last")
    assert relative == "runs/7/snapshots/last-epoch3.pt"
    before = (trained / relative).read_bytes()
    assert before == live.read_bytes()
    torch.save({"model": {}, "epoch": 4}, trained / "next.pt")
    (trained / "next.pt").replace(live)  # the loop's next epoch: a rename over the live file
    assert (trained / relative).read_bytes() == before
    assert not [p for p in (trained / "runs" / "7" / "snapshots").iterdir() if p.name.startswith(".")]


def test_a_file_that_is_not_a_checkpoint_has_no_epoch(tmp_path: Path) -> None:
    (tmp_path / "text.pt").write_bytes(b"hello")
    torch.save({"model": {}}, tmp_path / "no_epoch.pt")
    torch.save({"model": {}, "epoch": "three"}, tmp_path / "text_epoch.pt")
    assert [checkpoint_epoch(tmp_path / n) for n in ("text.pt", "no_epoch.pt", "text_epoch.pt", "absent.pt")] == [
        None, None, None, None,
    ]  # fmt: skip


class Payload:
    """A pickle that would run a command when loaded."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("ran",))


def test_a_payload_that_would_run_code_is_only_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch.save({"model": {}, "epoch": 2, "x": Payload()}, tmp_path / "evil.pt", pickle_protocol=pickle.DEFAULT_PROTOCOL)
    assert checkpoint_epoch(tmp_path / "evil.pt") == 2
    assert "ran" not in capsys.readouterr().out
