"""An upload that meets a full data disk answers 507 saying so, and leaves nothing behind.

The disk is real: a 2 MiB tmpfs holding the data root (the database lives elsewhere).
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

from conftest import Backend, local_client, make_settings, reset_database
from PIL import Image

from app.main import create_app
from tests.tiny_disk import tiny_disk


def noisy_archive(images: int, side: int = 256) -> bytes:
    """Incompressible PNGs in two class folders: `images` × about `side`² × 3 bytes once extracted."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for index in range(images):
            image = io.BytesIO()
            Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(image, "PNG")
            archive.writestr(f"{'ants' if index % 2 else 'bees'}/{index}.png", image.getvalue())
    return buffer.getvalue()


def test_an_upload_onto_a_full_disk_is_507_and_leaves_nothing(backend: Backend, tmp_path: Path) -> None:
    with tiny_disk(tmp_path / "disk", "2m") as disk:
        overrides = {} if backend.database_url else {"database_url": f"sqlite:///{tmp_path / 'stagewise.db'}"}
        settings = make_settings(backend, disk / "data", min_free_disk_gb=0, **overrides)
        reset_database(settings)
        archive = noisy_archive(16)  # about 3 MiB extracted: more than the disk holds
        with local_client(create_app(settings)) as client:
            response = client.post(
                "/api/datasets", data={"name": "big"}, files={"file": ("big.zip", archive, "application/zip")}
            )
            listed = client.get("/api/datasets").json()
        assert response.status_code == 507, response.text
        assert "no space left on the device holding uploads/" in response.json()["detail"]
        assert sorted(p.name for p in (disk / "data" / "uploads").iterdir()) == []
        assert not any(row["path"] == "uploads/big" for entry in listed for row in entry["scanned"])
