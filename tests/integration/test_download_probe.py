"""Issue 14, part 1: the submit's probe of download.pytorch.org (a HEAD, up to 3 s) happens
before the write block, so the database never waits on the network.

A real HTTP server stands in for download.pytorch.org (the catalog entry's URL is pointed at
it). When the probe arrives, the server first tries to take SQLite's writer lock from another
connection without waiting: inside the submit's write block that fails ("database is locked").
"""

from __future__ import annotations

import http.server
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import TINY, Backend, local_client, make_run, make_settings, reset_database
from sqlalchemy import make_url

from app.main import create_app
from app.schemas.weights import IMAGENET_WEIGHTS, WeightsFile
from app.settings import Settings
from tests.rows import row_session

IMAGENET = {**TINY, "weights": "imagenet"}


@dataclass(frozen=True)
class Mirrored(WeightsFile):
    """The same file, served from another address."""

    base: str = ""

    @property
    def url(self) -> str:
        return self.base + self.file


@dataclass
class ProbeServer:
    """Answers HEAD with 200, after noting whether a competing writer could take the database's writer lock."""

    database: Path
    competitor_wrote: list[bool]

    def handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        probe = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_HEAD(self) -> None:
                probe.competitor_wrote.append(probe.try_to_write())
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    def try_to_write(self) -> bool:
        connection = sqlite3.connect(self.database, timeout=0, isolation_level=None)
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("ROLLBACK")
            return True
        except sqlite3.OperationalError:  # database is locked: someone holds the writer lock
            return False
        finally:
            connection.close()


@pytest.fixture
def settings(tmp_path: Path, session_token: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """SQLite (where a write block holds the one writer lock), downloads allowed, no weights on disk."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # an empty torch hub folder
    made = make_settings(Backend("embedded", None, None, f"test-{session_token}"), tmp_path / "data",
                         allow_download=True)  # fmt: skip
    reset_database(made)
    return made


@pytest.fixture
def probe(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[ProbeServer]:
    served = ProbeServer(Path(make_url(settings.database_url).database or ""), [])
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), served.handler())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/models/"  # a new address per test: no cached answer
    monkeypatch.setitem(IMAGENET_WEIGHTS, "resnet18", Mirrored(IMAGENET_WEIGHTS["resnet18"].file, base))
    yield served
    server.shutdown()


def test_a_submit_probes_the_download_outside_its_write_block(settings: Settings, probe: ProbeServer) -> None:
    with local_client(create_app(settings)) as client:
        response = client.post("/api/runs", json={"config": IMAGENET})
    assert response.status_code == 201, response.text
    assert probe.competitor_wrote == [True]


def test_a_clone_probes_the_download_outside_its_write_block(settings: Settings, probe: ProbeServer) -> None:
    with row_session(settings.database_url) as db:
        source = make_run(db, config=IMAGENET)
    with local_client(create_app(settings)) as client:
        response = client.post(f"/api/runs/{source.id}/clone", json={})
    assert response.status_code == 201, response.text
    assert probe.competitor_wrote == [True]
