"""The no-JavaScript upload form refuses a bad or taken dataset name as soon as the `name` field
arrives, before the archive is sent (issue 14, part 7): a real uvicorn server, and a client on
a raw socket that sends the name, then a large archive slowly, watching for the answer."""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from conftest import free_port
from sqlalchemy import func
from sqlalchemy import select as sql_select

from app.main import create_app
from app.models import DatasetFolder
from app.settings import Settings
from tests.rows import row_session

BOUNDARY = "stagewise-test-boundary"
ARCHIVE_BYTES = 8 * 1024 * 1024
CHUNK = 16 * 1024
PAUSE_S = 0.02  # ~800 KB/s: the whole archive would take about 10 s


@pytest.fixture
def server(settings: Settings) -> Iterator[str]:
    """The app on a real HTTP server (uvicorn, as `stagewise serve` runs it), in this process."""
    port = free_port()
    running = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not running.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert running.started
    yield f"127.0.0.1:{port}"
    running.should_exit = True
    thread.join(timeout=10)


def form_head(name: str) -> tuple[bytes, bytes]:
    """The body up to the file's first byte (`name` first, as the page's form sends it), and its end."""
    head = (
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\n{name}\r\n"
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"d.zip\"\r\n"
        "Content-Type: application/zip\r\n\r\n"
    )
    return head.encode(), f"\r\n--{BOUNDARY}--\r\n".encode()


def send_slowly(address: str, name: str) -> tuple[bytes, int]:
    """POST the form, the archive in small chunks; stop sending once an answer arrives.
    Returns (the answer's first bytes, archive bytes sent by then)."""
    head, tail = form_head(name)
    host, port = address.split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            f"POST /datasets/upload HTTP/1.1\r\nHost: {address}\r\nAccept: text/html\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            f"Content-Length: {len(head) + ARCHIVE_BYTES + len(tail)}\r\n\r\n".encode() + head
        )
        sent, chunk = 0, b"\0" * CHUNK
        while sent < ARCHIVE_BYTES:
            if select.select([sock], [], [], 0)[0]:
                break
            sock.sendall(chunk)
            sent += CHUNK
            time.sleep(PAUSE_S)  # a slow link: the client's pace, not a wait for the server
        else:
            sock.sendall(tail)
        answer = sock.recv(65536)
        while b"</html>" not in answer.lower() and (more := sock.recv(65536)):
            answer += more
    return answer, sent


@pytest.mark.parametrize(
    ("name", "status", "message"),
    [("Bad Name!", 422, "lowercase letters, digits"), ("taken", 409, "exists already")],
    ids=["invalid", "taken"],
)
def test_a_refused_name_is_answered_before_the_archive_is_sent(
    server: str, settings: Settings, name: str, status: int, message: str
) -> None:
    (settings.data_dir / "uploads/taken").mkdir(parents=True)  # a folder of that name is already there
    answer, sent = send_slowly(server, name)
    assert answer.startswith(f"HTTP/1.1 {status} ".encode()), answer[:200]
    assert message.encode() in answer  # the form again, the message beside the name
    assert sent < ARCHIVE_BYTES // 4, f"answered only after {sent} of {ARCHIVE_BYTES} bytes"
    with row_session(settings.database_url) as db:
        assert db.scalar(sql_select(func.count()).select_from(DatasetFolder)) == 0
    assert sorted(p.name for p in Path(settings.data_dir / "uploads").iterdir()) == ["taken"]
