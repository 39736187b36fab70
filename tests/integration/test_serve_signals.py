"""`stagewise serve` stops its worker however it is told to stop: Ctrl-C, or SIGTERM (docker stop,
systemd, kill), in a real subprocess with its real worker child."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import STAGEWISE, Backend, _answers, free_port

from app.settings import Settings, child_environment
from tests.polling import wait_for


def _children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # exited while we looked
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _gone(pid: int) -> bool:
    """Whether `pid` has exited (a zombie that nobody reaped counts as exited)."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@pytest.fixture
def serving(settings: Settings, backend: Backend, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """`stagewise serve` with its local worker, answering; yields the server and the worker's pid."""
    if backend.name != "embedded":
        pytest.skip("signal handling does not depend on the database or broker")
    port = free_port()
    log = (tmp_path / "serve.log").open("ab")
    server = subprocess.Popen(
        [*STAGEWISE, "serve", "--port", str(port)], env=child_environment(settings), stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        wait_for(lambda: _answers(f"http://127.0.0.1:{port}"), timeout=90, what="serve to answer")
        worker = wait_for(lambda: _children(server.pid), timeout=30, what="serve's worker child")[0]
        yield server, worker
    finally:
        for pid in [server.pid, *_children(server.pid)]:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        server.wait()
        print((tmp_path / "serve.log").read_text(errors="replace")[-3000:])


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_stops_its_worker_on_sigterm_as_on_ctrl_c(
    serving: tuple[subprocess.Popen[bytes], int], sig: signal.Signals
) -> None:
    server, worker = serving

    server.send_signal(sig)

    server.wait(timeout=60)
    wait_for(lambda: _gone(worker), timeout=30, what=f"the worker {worker} to exit after serve's {sig.name}")
