"""Free space on the volumes the service writes to: reported by /healthz, checked before a submit.

A run on a full disk fails at its first checkpoint (the worker names the file); refusing
the submit when the data volume is already under `min_free_disk_gb` saves the user that
wait, and /healthz says `degraded` so a monitor sees it before users do.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy.engine import make_url

from app.schemas.health import VolumeRead
from app.services.errors import InsufficientStorage
from app.settings import Settings

GB = 1e9


def volumes(settings: Settings) -> list[VolumeRead]:
    """The data root's volume and, for an SQLite database, the volume of its file."""
    found = [_volume("data", settings.data_dir, settings)]
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        found.append(_volume("database", Path(url.database).parent, settings))
    return found


def require_room_for_runs(settings: Settings) -> None:
    """Refuse new runs while the data volume is under the threshold.

    Raises:
        InsufficientStorage: (507) says how much is free and what the threshold is.
    """
    data = _volume("data", settings.data_dir, settings)
    if data.low:
        raise InsufficientStorage(
            f"the data volume has {data.free_bytes / GB:.2f} GB free, under the server's minimum of "
            f"{settings.min_free_disk_gb:g} GB (min_free_disk_gb): a run could not save its checkpoints; "
            "ask the administrator to free space, then submit again"
        )


def _volume(name: str, folder: Path, settings: Settings) -> VolumeRead:
    usage = shutil.disk_usage(_existing(folder))
    return VolumeRead(
        name=name, free_bytes=usage.free, total_bytes=usage.total, low=usage.free < settings.min_free_disk_gb * GB  # type: ignore[arg-type]
    )


def _existing(folder: Path) -> Path:
    """`folder`, or its nearest existing parent (the data root is created on first write)."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder
