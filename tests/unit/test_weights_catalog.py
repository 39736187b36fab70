"""The API's knowledge of ImageNet weight files (no torch) agrees with torchvision's, and the
server can tell whether a file is here, downloadable or missing (issue 14, part 1)."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from app.schemas.catalog import BACKBONES
from app.schemas.weights import IMAGENET_WEIGHTS
from app.services.weights import imagenet_state, reachable
from app.settings import Settings
from worker.training.backbones import imagenet_weights_file


def test_every_backbone_lists_torchvisions_own_file_and_url() -> None:
    assert set(IMAGENET_WEIGHTS) == set(BACKBONES)
    for backbone, weights in IMAGENET_WEIGHTS.items():
        assert (weights.file, weights.url) == imagenet_weights_file(backbone)


def test_the_default_folder_is_torch_hubs(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path).weights_folder == Path(torch.hub.get_dir()) / "checkpoints"
    assert Settings(data_dir=tmp_path, weights_dir=tmp_path / "w").weights_folder == tmp_path / "w"


def test_a_file_in_the_folder_is_here_and_none_is_missing_with_downloads_off(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, weights_dir=tmp_path, allow_download=False)
    assert imagenet_state(settings, "resnet18") == "missing"
    (tmp_path / IMAGENET_WEIGHTS["resnet18"].file).write_bytes(b"x")
    assert imagenet_state(settings, "resnet18") == "here"


@pytest.fixture
def local_server() -> Iterator[str]:
    """A real HTTP server on this machine answering HEAD requests."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def test_a_url_that_answers_is_reachable_and_a_closed_port_is_not(local_server: str) -> None:
    assert reachable(local_server, timeout_s=2)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/x.pth"
    assert not reachable(closed, timeout_s=2)


def test_a_file_downloaded_before_into_torch_hub_counts_when_downloads_are_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    hub = Settings(data_dir=tmp_path).torch_hub_folder
    assert hub == Path(torch.hub.get_dir()) / "checkpoints"  # torch reads TORCH_HOME the same way
    hub.mkdir(parents=True)
    (hub / IMAGENET_WEIGHTS["resnet34"].file).write_bytes(b"x")
    kept_apart = {"data_dir": tmp_path, "weights_dir": tmp_path / "weights"}
    assert imagenet_state(Settings(**kept_apart, allow_download=True), "resnet34") == "here"
    assert imagenet_state(Settings(**kept_apart, allow_download=False), "resnet34") == "missing"  # as the worker
