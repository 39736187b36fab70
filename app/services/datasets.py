"""The datasets on this server's disk: catalog datasets found under the data root and uploads.

Lists them with their classes, images, size and uploader; serves a few thumbnails per class
(found by dataset key, class name and index: a client never names a path); deletes an
upload that no queued or running run uses; says whether an upload name is free. Walking
folders and decoding thumbnails happen outside any transaction.
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.models import DatasetFolder, Run, RunStatus, User
from app.schemas.accounts import Principal
from app.schemas.catalog import DATASETS
from app.schemas.datasets import DatasetClass, DatasetNameCheck, DatasetOnDisk
from app.services import uploads
from app.services.errors import ArtifactNotFound, DatasetInUse, DatasetNotFound, Forbidden, InvalidInput
from app.services.unit_of_work import UnitOfWork
from app.settings import Settings

# Mirrors worker.training.datasets (importing it would import torch): which files are images,
# and which top folders are splits whose class folders are pooled by name.
IMAGE_SUFFIXES = frozenset(uploads.TRAINABLE_SUFFIXES)
SPLIT_FOLDERS = frozenset({"train", "training", "val", "valid", "validation", "test", "testing"})
EXCLUDED_CLASSES = {"caltech101": ("BACKGROUND_Google",)}
THUMBNAILS_PER_CLASS = 3
THUMBNAIL_PX = 96
UPLOAD_PREFIX = f"{uploads.UPLOADS_FOLDER}/"


@dataclass(frozen=True)
class _Folder:
    """A dataset folder as walked: class name → its image files (sorted), and bytes on disk."""

    classes: dict[str, list[Path]]
    size_bytes: int


def _walk(folder: Path, exclude: tuple[str, ...] = ()) -> _Folder:
    """`_walk_folder`, remembered while the folder's own mtime stays: uploads never change once
    published, and the page's thumbnails would otherwise walk a 60,000-file set once each."""
    return _walk_cached(str(folder), folder.stat().st_mtime_ns, exclude)


@lru_cache(maxsize=16)
def _walk_cached(folder: str, _mtime_ns: int, exclude: tuple[str, ...]) -> _Folder:
    return _walk_folder(Path(folder), exclude)


def _walk_folder(folder: Path, exclude: tuple[str, ...] = ()) -> _Folder:
    """Class folders at the top, or inside split folders (train/, val/ …) pooled by name, as the trainer reads them.

    One pass over the tree (scandir: file type without a stat, one stat per file for the size).
    """
    tops = [e for e in os.scandir(folder) if e.is_dir() and not e.name.startswith(".")]
    depth = 2 if tops and all(top.name.lower() in SPLIT_FOLDERS for top in tops) else 1
    classes: dict[str, list[Path]] = {}
    size = 0
    for path, bytes_ in _files(folder):
        size += bytes_
        parts = path.relative_to(folder).parts
        if len(parts) > depth and path.suffix.lower() in IMAGE_SUFFIXES and _is_class(parts[:depth], exclude):
            classes.setdefault(parts[depth - 1], []).append(path)
    return _Folder({name: sorted(files) for name, files in sorted(classes.items())}, size)


def _is_class(folders: tuple[str, ...], exclude: tuple[str, ...]) -> bool:
    """Whether an image under these top folders (class, or split/class) belongs to a class the trainer reads."""
    return not any(name.startswith(".") for name in folders) and folders[-1] not in exclude


def _files(folder: Path) -> Iterator[tuple[Path, int]]:
    """Every file under `folder` (links followed, each real folder once) with its size."""
    pending, seen = [folder], set()
    while pending:
        current = pending.pop()
        real = os.path.realpath(current)
        if real in seen:  # a link back up must not loop forever
            continue
        seen.add(real)
        with os.scandir(current) as entries:
            for entry in entries:
                if entry.is_dir():
                    pending.append(Path(entry.path))
                elif entry.is_file():
                    yield Path(entry.path), _size(entry)


def _size(entry: os.DirEntry[str]) -> int:
    try:
        return entry.stat().st_size
    except OSError:
        return 0


def _builtin_folders(settings: Settings) -> dict[str, Path]:
    """Catalog datasets whose folder is under the data root: key → folder (the first candidate found)."""
    found = {}
    for spec in DATASETS.values():
        folder = next((settings.data_dir / name for name in spec.folders if (settings.data_dir / name).is_dir()), None)
        if folder is not None:
            found[spec.name] = folder
    return found


def _upload_rows(uow: UnitOfWork) -> list[tuple[DatasetFolder, str | None]]:
    with uow.reading() as db:
        rows = db.execute(
            select(DatasetFolder, User.name).outerjoin(User, User.id == DatasetFolder.owner_id)
            .where(DatasetFolder.path.startswith(UPLOAD_PREFIX)).order_by(DatasetFolder.path)
        ).all()  # fmt: skip
        return [(row, owner) for row, owner in rows]


def list_on_disk(*, uow: UnitOfWork, principal: Principal) -> list[DatasetOnDisk]:
    """Every dataset this server can train on now: built-in ones (on disk, or shipped) and uploads."""
    settings = uow.settings
    entries = [_builtin_entry(key, folder) for key, folder in _builtin_folders(settings).items()]
    entries.append(_digits_entry())
    for row, owner in _upload_rows(uow):
        folder = settings.data_dir / row.path
        if folder.is_dir():
            entries.append(_upload_entry(row, owner, _walk(folder), principal))
    return entries


def _builtin_entry(key: str, folder: Path) -> DatasetOnDisk:
    spec = DATASETS[key]
    walked = _walk(folder, EXCLUDED_CLASSES.get(key, ()))
    images = sum(len(files) for files in walked.classes.values())
    return DatasetOnDisk(
        key=key, title=spec.description.split(":")[0], kind="builtin", config={"name": key},
        path=str(folder.name), images=images or None,
        classes=[DatasetClass(name=n, images=len(f)) for n, f in walked.classes.items()],
        num_classes=spec.num_classes, size_bytes=walked.size_bytes,
        created_at=datetime.fromtimestamp(folder.stat().st_mtime, UTC), fractions=spec.fractions,
        thumbnails=bool(images),  # CIFAR-10's pickled batches hold no image files
    )  # fmt: skip


def _digits_entry() -> DatasetOnDisk:
    spec = DATASETS["digits"]
    return DatasetOnDisk(
        key="digits", title="Digits", kind="builtin", config={"name": "digits"}, path=None, images=1797,
        classes=[], num_classes=spec.num_classes, size_bytes=0, fractions=spec.fractions, thumbnails=False,
    )  # fmt: skip


def _upload_entry(row: DatasetFolder, owner: str | None, walked: _Folder, principal: Principal) -> DatasetOnDisk:
    classes = [DatasetClass(name=n, images=len(f)) for n, f in walked.classes.items()]
    return DatasetOnDisk(
        key=row.path, title=row.path.removeprefix(UPLOAD_PREFIX), kind="upload",
        config={"name": "imagefolder", "path": row.path}, path=row.path,
        images=sum(c.images for c in classes), classes=classes, num_classes=len(classes),
        size_bytes=walked.size_bytes, uploader=owner, created_at=row.scanned_at,
        fractions=DATASETS["imagefolder"].fractions, thumbnails=True,
        can_delete=principal.is_admin or (row.owner_id is not None and row.owner_id == principal.user_id),
    )  # fmt: skip


def upload_choices(*, uow: UnitOfWork, principal: Principal) -> list[tuple[str, str]]:
    """(key, label) of every upload, for the New run form's Dataset menu; no folder walk."""
    del principal  # datasets are shared by the lab; the caller is still required
    return [(row.path, f"{row.path.removeprefix(UPLOAD_PREFIX)} (upload, {row.num_images or 0} images)")
            for row, _ in _upload_rows(uow)]  # fmt: skip


def _dataset_folder(uow: UnitOfWork, key: str) -> tuple[Path, tuple[str, ...]]:
    """The folder of dataset `key`, looked up among those known (never joined from the key)."""
    builtin = _builtin_folders(uow.settings)
    if key in builtin:
        return builtin[key], EXCLUDED_CLASSES.get(key, ())
    if not uploads.NAME_PATTERN.match(key.removeprefix(UPLOAD_PREFIX)):
        raise DatasetNotFound(f"no dataset {key[:80]!r} on this server")
    with uow.reading() as db:
        path = db.scalar(select(DatasetFolder.path).where(DatasetFolder.path == key, DatasetFolder.path.startswith(UPLOAD_PREFIX)))
    if path is None:
        raise DatasetNotFound(f"no dataset {key[:80]!r} on this server")
    return uow.settings.data_dir / path, ()


def thumbnail(*, uow: UnitOfWork, principal: Principal, key: str, class_name: str, index: int) -> bytes:
    """A small JPEG of image `index` (in path order) of class `class_name` of dataset `key`.

    Raises:
        DatasetNotFound: no such dataset; ArtifactNotFound: no such class or index.
    """
    del principal  # every user may see every dataset
    folder, exclude = _dataset_folder(uow, key)
    files = _walk(folder, exclude).classes.get(class_name)
    if files is None or not 0 <= index < len(files):
        raise ArtifactNotFound(f"dataset {key!r} has no image {index} in a class {class_name[:80]!r}")
    with Image.open(files[index]) as image:
        image.draft("RGB", (THUMBNAIL_PX * 2, THUMBNAIL_PX * 2))  # JPEG: decode at a fraction of the size
        image = image.convert("RGB")
        image.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
        out = io.BytesIO()
        image.save(out, "JPEG", quality=80)
    return out.getvalue()


def delete_upload(*, uow: UnitOfWork, principal: Principal, name: str) -> None:
    """Delete upload `name` (its row, then its folder) if no queued or running run trains on it.

    Raises:
        DatasetNotFound: no such upload. Forbidden: the caller is neither its uploader nor an admin.
        DatasetInUse: queued or running runs use it (named in the message).
    """
    if not uploads.NAME_PATTERN.match(name):  # no upload has such a name (and no NUL reaches the database)
        raise DatasetNotFound(f"no uploaded dataset named {name[:80]!r}")
    path = UPLOAD_PREFIX + name
    with uow.writing() as db:
        row = db.scalar(select(DatasetFolder).where(DatasetFolder.path == path))
        if row is None:
            raise DatasetNotFound(f"no uploaded dataset named {name[:80]!r}")
        if not principal.is_admin and row.owner_id != principal.user_id:
            raise Forbidden(f"only the user who uploaded {name!r} or an admin may delete it")
        active = db.scalars(
            select(Run).options(selectinload(Run.owner))
            .where(Run.status.in_([RunStatus.queued, RunStatus.running]), Run.dataset == "imagefolder")
            .order_by(Run.id)
        ).all()  # fmt: skip
        users = [run for run in active if _trains_on(run.config, path)]
        if users:
            named = ", ".join(f"#{run.id} ({run.status})" for run in users)
            raise DatasetInUse(f"dataset {name!r} is used by queued or running runs {named}: cancel them first")
        db.delete(row)
    # The folder after the commit: a failed commit must keep the files its row points at.
    shutil.rmtree(uow.settings.data_dir / path, ignore_errors=True)


def _trains_on(config: dict, path: str) -> bool:
    dataset = config.get("dataset") or {}
    return str(dataset.get("path") or "").strip("/") == path


def check_upload_name(*, uow: UnitOfWork, principal: Principal, name: str) -> DatasetNameCheck:
    """Whether an upload may be named `name`, asked by the upload form before it sends the archive."""
    del principal
    try:
        uploads.check_name(name)
    except InvalidInput as exc:
        return DatasetNameCheck(name=name, status="invalid", message=exc.errors[0].msg)
    path = UPLOAD_PREFIX + name
    with uow.reading() as db:
        taken = db.scalar(select(DatasetFolder.id).where(DatasetFolder.path == path).limit(1)) is not None
    if taken or (uow.settings.data_dir / path).exists():
        return DatasetNameCheck(name=name, status="taken",
                                message=f"a dataset named {name!r} exists already; choose another name")  # fmt: skip
    return DatasetNameCheck(name=name, status="free", message=f"{name!r} is free")
