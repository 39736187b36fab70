"""`stagewise sweep SPEC --local`: no server, so it starts the embedded stack, runs the sweep and stops it.

A real subprocess: `stagewise serve` (SQLite, the embedded broker, one local worker) is started
on a free port in the data dir, the sweep's two trials train there, the leaderboard is printed,
and no process of that data dir is left behind.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml
from conftest import STAGEWISE, TINY, Backend, make_settings
from sqlalchemy import select

from app.models import Run, RunStatus, Sweep, SweepState
from app.settings import child_environment
from tests.rows import row_session


def processes_of(data_dir: Path) -> list[int]:
    """Live processes whose environment names this data dir (the local server and its worker)."""
    marker = f"STAGEWISE_DATA_DIR={data_dir}".encode()
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker in environ.read_bytes().split(b"\0"):
                found.append(int(environ.parent.name))
        except OSError:
            continue
    return found


def test_a_sweep_without_a_server_runs_locally_and_prints_the_leaderboard(tmp_path: Path) -> None:
    settings = make_settings(Backend("embedded", None, None, "default"), tmp_path / "data")
    spec = tmp_path / "sweep.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "local", "base": {"config": {**TINY, "epochs": 1}}, "sampler": "grid", "parallel": 2,
        "space": {"stages.classifier.lr": {"type": "categorical", "choices": [0.01, 0.1]}},
    }))  # fmt: skip
    done = subprocess.run(
        [*STAGEWISE, "sweep", str(spec), "--local", "--poll-s", "1"], env=child_environment(settings),
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("no server given or answering: running the sweep here")
    assert "2 trials, 2 at a time (grid, pruner none)" in lines[1] and "trials ended" in lines[2]
    assert "sweep 1 finished · objective val_acc" in lines
    assert sorted(line.split()[1] for line in lines[-2:]) == ["complete", "complete"]
    with row_session(settings.database_url) as db:
        assert db.scalar(select(Sweep.state)) == SweepState.finished
        assert list(db.scalars(select(Run.status))) == [RunStatus.succeeded] * 2
    assert processes_of(settings.data_dir) == []
