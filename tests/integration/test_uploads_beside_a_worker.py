"""Uploads on the default `stagewise serve` (SQLite, the embedded broker, a local worker heartbeating).

Before the unit of work every upload here answered 500 "database is locked": the upload
read, checked the archive for seconds, then tried to write while the worker's heartbeat
had committed in between. Slow archives are the ones that showed it: 20,000 entries, or
3,000 class folders.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import STAGEWISE, Backend, free_port, make_settings, reset_database
from PIL import Image

from app.settings import Settings, child_environment
from tests.polling import wait_for


def png(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(buffer, "PNG")
    return buffer.getvalue()


def many_entries(count: int) -> bytes:
    """Two images in two classes, and `count` empty files beside them (checked, then skipped)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("ants/a.png", png((200, 30, 30)))
        archive.writestr("bees/b.png", png((30, 30, 200)))
        for index in range(count):
            archive.writestr(f"ants/empty-{index}.txt", b"")
    return buffer.getvalue()


def many_classes(count: int) -> bytes:
    """`count` class folders of one image each."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for index in range(count):
            archive.writestr(f"class{index:04d}/0.png", png((index % 256, (index * 7) % 256, 90)))
    return buffer.getvalue()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Settings]]:
    """`stagewise serve` as a user starts it: API and one local worker, heartbeat every 0.5 s."""
    settings = make_settings(Backend("embedded", None, None, "uploads"), tmp_path / "data")
    reset_database(settings)
    port = free_port()
    log = (tmp_path / "serve.log").open("ab")
    process = subprocess.Popen(
        [*STAGEWISE, "serve", "--port", str(port)], env=child_environment(settings), stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _workers(base) >= 1, timeout=90, what="the server and its worker")
        yield base, settings
    finally:
        process.send_signal(signal.SIGTERM)  # serve stops its worker (its own session) on SIGTERM
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _workers(base: str) -> int:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).json().get("worker_count", 0)
    except (httpx.HTTPError, ValueError):
        return 0


@pytest.mark.parametrize(
    ("name", "archive"), [("entries", lambda: many_entries(20_000)), ("classes", lambda: many_classes(3_000))]
)
def test_a_slow_upload_beside_a_beating_worker_is_stored(served: tuple[str, Settings], name: str, archive) -> None:
    base, settings = served
    body = archive()
    response = httpx.post(
        f"{base}/api/datasets", data={"name": name}, files={"file": ("data.zip", body, "application/zip")},
        timeout=300,
    )  # fmt: skip
    assert response.status_code == 201, response.text
    assert (settings.data_dir / "uploads" / name).is_dir()
    assert _workers(base) >= 1  # the worker kept beating all along
