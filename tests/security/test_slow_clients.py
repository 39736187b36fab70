"""A stalled or crawling upload is cut with 408 and leaves nothing behind (issue 15).

A real uvicorn server on a real socket: the client sends the headers and part of a
multipart body, then stops (or trickles), as a slow-loris client or a dead laptop would.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from integration_fixtures import free_port, wait_for

from app.main import create_app
from app.settings import Settings

BOUNDARY = "stagewise-test-boundary"
HEAD = (
    "POST /api/datasets HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: 1000000\r\n\r\n"
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="name"\r\n\r\npets\r\n'
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="pets.zip"\r\n'
    "Content-Type: application/zip\r\n\r\nPK\x03\x04"
).encode()


@contextmanager
def served(settings: Settings) -> Iterator[int]:
    """The app on a real uvicorn server in a thread; yields its port."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, timeout=60, what="uvicorn to start")
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _leftovers(settings: Settings) -> list[Path]:
    uploads = settings.data_dir / "uploads"
    return sorted(uploads.rglob("*")) if uploads.exists() else []


@pytest.fixture
def local(settings: Settings, backend: object) -> Settings:
    if getattr(backend, "name", "") != "embedded":
        pytest.skip("timeouts do not depend on the database or broker")
    return settings


def test_a_stalled_upload_is_cut_with_408_and_leaves_nothing(local: Settings) -> None:
    impatient = local.model_copy(update={"body_idle_timeout_s": 1.0})
    with served(impatient) as port, socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(HEAD + b"\x00" * 50_000)  # ... and then nothing more
        started = time.monotonic()
        answer = _answer(sock)
        waited = time.monotonic() - started

    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert 0.9 < waited < 15
    assert _leftovers(impatient) == []


def test_an_upload_that_crawls_past_the_total_limit_is_cut(local: Settings) -> None:
    patient = local.model_copy(update={"body_idle_timeout_s": 10.0, "body_timeout_s": 2.0})
    with served(patient) as port, socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(HEAD)
        started = time.monotonic()
        sock.settimeout(0.3)
        answer = b""
        while not answer and time.monotonic() - started < 20:
            try:
                sock.sendall(b"\x00" * 100)  # a little, often enough never to look idle
                answer = sock.recv(65536)
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break

    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert time.monotonic() - started < 10
    assert _leftovers(patient) == []
