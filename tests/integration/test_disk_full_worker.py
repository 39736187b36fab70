"""A real worker on a full disk: the run ends `failed` with the cause in one attempt, no temp file left.

The data root (and, on the embedded backend, the SQLite database and broker beside it) is a
4 MiB tmpfs: the run's first checkpoint cannot fit, and the worker must still record why.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import TINY, Backend, Stack, make_settings, reset_database
from test_worker_runs import submit, wait_status

from tests.tiny_disk import tiny_disk


@pytest.fixture
def full_stack(backend: Backend, tmp_path: Path) -> Iterator[Stack]:
    with tiny_disk(tmp_path / "data", "4m") as data_dir:
        settings = make_settings(backend, data_dir, min_free_disk_gb=0)
        reset_database(settings)
        running = Stack(settings, tmp_path)
        try:
            running.start_server()
            running.start_worker()
            yield running
        finally:
            running.stop()


def test_a_run_whose_checkpoint_does_not_fit_fails_once_with_the_cause_and_no_temp_file(full_stack: Stack) -> None:
    with full_stack.client() as client:
        run = wait_status(client, submit(client, TINY, name="too big"), "failed", "succeeded", timeout=180)
    assert (run["status"], run["attempt"]) == ("failed", 1)
    assert run["error"].startswith(f"no space left on the device holding runs/{run['id']}/best.pt:")
    assert list((full_stack.settings.data_dir / "runs" / str(run["id"])).glob(".*.tmp")) == []
