"""Datasets uploaded as archives: extracted so that nothing escapes, limited, verified image by image.

An upload is a zip or a tar (plain, gz, bz2 or xz) of a class-per-folder tree. It is
extracted into a temporary folder under `<data root>/uploads/`, every file that is not a
decodable image is removed (and reported), and only then is the folder renamed to
`uploads/<name>` in one step, so a failed upload leaves nothing behind.

An archive is refused, whole and with the entry's name, when it:
- names a path outside its folder: absolute, `..`, a drive letter, a backslash;
- holds anything but regular files and folders: symlinks, hard links, devices, FIFOs
  (the escapes of ClearML CVE-2024-24591 and CVE-2025-8917);
- passes a limit: the archive's size, its entry count, its extracted size, or the ratio
  of extracted to archive bytes (zip bombs). Sizes declared in headers are checked
  before anything is written, and the bytes are counted again while they are written,
  since headers can lie.
"""

from __future__ import annotations

import bz2
import errno
import gzip
import json
import lzma
import os
import re
import shutil
import stat
import tarfile
import tempfile
import time
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import DatasetFolder
from app.schemas.accounts import Principal
from app.schemas.uploads import DatasetUploadRead, SkippedFile
from app.services.errors import DatasetNameTaken, InsufficientStorage, InvalidInput, UploadTooLarge
from app.services.public_paths import relative_message
from app.services.unit_of_work import UnitOfWork
from app.settings import Settings

UPLOADS_FOLDER = "uploads"
REPORT_FILE = "upload-report.json"
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
# What the trainer reads: worker.training.datasets.IMAGE_EXTENSIONS (importing it here would import torch).
TRAINABLE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif"})
CHUNK = 1 << 20
INCOMING_PREFIX = ".incoming-"
# An extraction folder this old belongs to a process that died mid-upload (kill -9, power loss).
ABANDONED_AFTER_S = 24 * 3600
# Tar headers and padding are read too; this much beyond the byte budget is never data.
TAR_SLACK = 1 << 20
# What a broken archive raises while it is read (NotImplementedError: an unknown zip compression method).
_BROKEN = (
    zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError, ValueError,
    NotImplementedError,
)  # fmt: skip
FILE = ("body", "file")
NAME = ("body", "name")


@dataclass(frozen=True)
class UploadLimits:
    """What one upload may cost the server."""

    max_archive_bytes: int
    max_total_bytes: int
    max_files: int
    max_ratio: float
    max_image_pixels: int

    @classmethod
    def from_settings(cls, settings: Settings) -> UploadLimits:
        return cls(
            max_archive_bytes=settings.max_upload_bytes, max_total_bytes=settings.max_upload_uncompressed_bytes,
            max_files=settings.max_upload_files, max_ratio=settings.max_upload_ratio,
            max_image_pixels=settings.max_upload_image_pixels,
        )  # fmt: skip


@dataclass
class _Budget:
    """Entries and bytes an archive may still produce; raises as soon as one runs out."""

    limits: UploadLimits
    archive_bytes: int
    entries: int = 0
    declared: int = 0
    written: int = 0

    @property
    def allowed_bytes(self) -> int:
        """The size limit, or the ratio limit times the archive's own size, whichever is smaller."""
        return min(self.limits.max_total_bytes, int(self.limits.max_ratio * self.archive_bytes))

    def entry(self, name: str, size: int) -> None:
        """Count an entry and its declared size, before any of it is written."""
        self.entries += 1
        if self.entries > self.limits.max_files:
            raise UploadTooLarge.at(FILE, f"holds more than {self.limits.max_files} entries")
        self.declared += max(size, 0)
        if self.declared > self.allowed_bytes:
            raise self.too_big(f"declares {self.declared} bytes by {name!r}")

    def wrote(self, count: int) -> None:
        """Count bytes actually extracted: headers may understate them."""
        self.written += count
        if self.written > self.allowed_bytes:
            raise self.too_big(f"extracted more than {self.allowed_bytes} bytes")

    def too_big(self, what: str) -> UploadTooLarge:
        """The error for passing the byte budget, naming the limit that was hit."""
        if self.allowed_bytes == self.limits.max_total_bytes:
            return UploadTooLarge.at(FILE, f"{what}: over the limit of {self.limits.max_total_bytes} bytes extracted")
        return UploadTooLarge.at(
            FILE, f"{what}: over {self.limits.max_ratio:g} times its compressed size of {self.archive_bytes} bytes "
            "(a zip bomb?)",
        )  # fmt: skip


@dataclass
class ImageReport:
    """What verification kept and what it removed, with why."""

    num_images: int = 0
    classes: set[str] = field(default_factory=set)
    skipped: list[SkippedFile] = field(default_factory=list)


def _refuse(name: str, why: str) -> InvalidInput:
    return InvalidInput.at(FILE, f"archive entry {name!r} {why}; nothing was extracted")


def safe_parts(name: str) -> tuple[str, ...]:
    """The path components of an archive entry, or an error if it could land outside its folder."""
    if "\\" in name or "\x00" in name:
        raise _refuse(name, "contains a backslash or NUL byte")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise _refuse(name, "is an absolute path")
    parts = tuple(part for part in name.split("/") if part not in ("", "."))
    if ".." in parts:
        raise _refuse(name, "climbs out of its folder with '..'")
    return parts


def _target(root: Path, name: str) -> Path | None:
    """Where entry `name` goes under `root` (None: the root itself, e.g. "./")."""
    parts = safe_parts(name)
    if not parts:
        return None
    path = root.joinpath(*parts)
    # No link is ever created below root, so this holds; checked anyway should that change.
    if not path.resolve().is_relative_to(root.resolve()):
        raise _refuse(name, "resolves outside its folder")
    return path


def _write(source: BinaryIO, path: Path, name: str, budget: _Budget) -> None:
    """Copy one entry's bytes to a new file, counting them against the budget."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL | O_NOFOLLOW: never overwrite, never write through a link.
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    except (FileExistsError, NotADirectoryError) as error:
        raise _refuse(name, "appears twice or clashes with a folder of the same name") from error
    with os.fdopen(handle, "wb") as out:
        while chunk := source.read(CHUNK):
            budget.wrote(len(chunk))
            out.write(chunk)


def _make_dir(path: Path | None, name: str) -> None:
    if path is None:
        return
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as error:
        raise _refuse(name, "clashes with a file of the same name") from error


# --- zip ----------------------------------------------------------------------------------


def _zip_kind(info: zipfile.ZipInfo) -> str | None:
    """Why a zip entry is not a plain file or folder (None when it is)."""
    kind = stat.S_IFMT(info.external_attr >> 16)
    # Not from Unix, or no file type bits (Python's writestr leaves them out): a plain entry.
    if info.create_system != 3 or kind in (0, stat.S_IFREG, stat.S_IFDIR):
        return None
    if kind == stat.S_IFLNK:
        return "is a symbolic link"
    return "is a device, FIFO or socket, not a file"


def _check_zip(archive: zipfile.ZipFile, root: Path, budget: _Budget) -> None:
    """Every entry's path, kind and declared size, before anything is written."""
    for info in archive.infolist():
        _target(root, info.filename)
        if why := _zip_kind(info):
            raise _refuse(info.filename, why)
        budget.entry(info.filename, info.file_size)
        if info.flag_bits & 0x1:
            raise _refuse(info.filename, "is encrypted")


def _extract_zip(source: BinaryIO, root: Path, budget: _Budget) -> None:
    with zipfile.ZipFile(source) as archive:
        _check_zip(archive, root, budget)
        for info in archive.infolist():
            path = _target(root, info.filename)
            if info.is_dir():
                _make_dir(path, info.filename)
            elif path is not None:
                with archive.open(info) as member:
                    _write(member, path, info.filename, budget)


# --- tar ----------------------------------------------------------------------------------


class _CappedReader:
    """A stream that fails once more than `cap` bytes were read from it.

    Tar metadata (long names, pax headers) is read into memory before any entry is
    seen, so the decompressed stream itself is capped, not just the entries' data.
    """

    def __init__(self, raw: BinaryIO, cap: int, budget: _Budget) -> None:
        self.raw, self.cap, self.budget, self.count = raw, cap, budget, 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.count += len(data)
        if self.count > self.cap:
            raise self.budget.too_big(f"decompresses to more than {self.cap} bytes")
        return data


def _decompressed(source: BinaryIO) -> BinaryIO:
    """The tar stream inside a gz, bz2 or xz file (or the file itself)."""
    magic = source.read(6)
    source.seek(0)
    if magic.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=source, mode="rb")
    if magic.startswith(b"BZh"):
        return bz2.BZ2File(source)
    if magic.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(source)
    return source


def _tar_kind(member: tarfile.TarInfo) -> str | None:
    """Why a tar entry is not a plain file or folder (None when it is)."""
    if member.issym():
        return f"is a symbolic link (to {member.linkname!r})"
    if member.islnk():
        return f"is a hard link (to {member.linkname!r})"
    if member.ischr() or member.isblk() or member.isfifo():
        return "is a device or FIFO, not a file"
    if not (member.isreg() or member.isdir()):
        return "is not a regular file or folder"
    return None


def _extract_tar(source: BinaryIO, root: Path, budget: _Budget) -> None:
    stream = _CappedReader(_decompressed(source), budget.allowed_bytes + TAR_SLACK, budget)
    # Stream mode ("r|"): one pass, each entry checked from its header before its data is written.
    with tarfile.open(fileobj=stream, mode="r|") as archive:  # type: ignore[call-overload]
        for member in archive:
            path = _target(root, member.name)
            if why := _tar_kind(member):
                raise _refuse(member.name, why)
            budget.entry(member.name, member.size)
            if member.isdir():
                _make_dir(path, member.name)
            elif path is not None:
                data = archive.extractfile(member)
                assert data is not None  # a regular file always has data
                _write(data, path, member.name, budget)


def _size_of(source: BinaryIO) -> int:
    source.seek(0, os.SEEK_END)
    size = source.tell()
    source.seek(0)
    return size


def extract_archive(source: BinaryIO, root: Path, limits: UploadLimits) -> None:
    """Extract a zip or tar (gz, bz2, xz) from a seekable file into the empty folder `root`.

    Raises:
        UploadTooLarge: the archive, its entry count, its extracted size or its
            compression ratio passes `limits`.
        InvalidInput: (loc `file`) an entry is unsafe (see the module docstring), or the
            file is not a readable zip or tar. Files already written are left for the
            caller to delete with `root`.
    """
    size = _size_of(source)
    if size == 0:
        raise InvalidInput.at(FILE, "is empty: choose a .zip or .tar.gz of one folder per class")
    if size > limits.max_archive_bytes:
        raise UploadTooLarge.at(FILE, f"is {size} bytes, over the limit of {limits.max_archive_bytes}")
    budget = _Budget(limits, size)
    try:
        if zipfile.is_zipfile(source):
            source.seek(0)
            _extract_zip(source, root, budget)
        else:
            source.seek(0)
            _extract_tar(source, root, budget)
    except _BROKEN as error:
        if _disk_full(error):
            raise _no_room() from error
        raise InvalidInput.at(FILE, f"is not a readable zip or tar archive ({error})") from error


def _disk_full(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)


def _no_room() -> InsufficientStorage:
    return InsufficientStorage(
        f"no space left on the device holding {UPLOADS_FOLDER}/: the dataset was not stored (nothing is left "
        "behind); free space on the data volume or ask an admin, then upload again"
    )


# --- images -------------------------------------------------------------------------------


def _is_metadata(parts: tuple[str, ...]) -> bool:
    """Hidden files and macOS resource forks (.DS_Store, ._x.jpg, __MACOSX/): never images."""
    return any(part.startswith(".") or part == "__MACOSX" for part in parts)


def image_problem(path: Path, max_pixels: int) -> str | None:
    """Why the file cannot be trained on, or None when Pillow decodes all of it."""
    if path.suffix.lower() not in TRAINABLE_SUFFIXES:
        return f"not an image the trainer reads ({', '.join(sorted(TRAINABLE_SUFFIXES))})"
    try:
        with Image.open(path) as image:
            if image.width * image.height > max_pixels:
                return f"{image.width}x{image.height} pixels, over the limit of {max_pixels}"
            image.verify()
        with Image.open(path) as image:
            image.load()  # verify() skips the pixel data: a truncated JPEG fails only here
    except Exception as error:  # noqa: BLE001 (untrusted bytes can fail a decoder in any way; each means skip)
        return f"cannot be decoded: {error}"
    return None


def _files(root: Path) -> Iterator[tuple[str, Path]]:
    """Every file below `root` as ("/"-separated relative name, path), sorted."""
    for directory, folders, names in os.walk(root):
        folders.sort()
        for name in sorted(names):
            path = Path(directory, name)
            yield path.relative_to(root).as_posix(), path


def _why_skipped(name: str, path: Path, max_pixels: int) -> str | None:
    parts = tuple(name.split("/"))
    if _is_metadata(parts):
        return "hidden or metadata file"
    if len(parts) < 2:
        return "not inside a class folder"
    return image_problem(path, max_pixels)


def keep_images(root: Path, max_pixels: int) -> ImageReport:
    """Delete every file below `root` that is not a decodable image in a class folder; report them."""
    report = ImageReport()
    for name, path in list(_files(root)):
        if reason := _why_skipped(name, path, max_pixels):
            path.unlink()
            report.skipped.append(SkippedFile(file=name, reason=relative_message(reason, root, root_name="the archive")))
        else:
            report.num_images += 1
            report.classes.add(path.parent.name)  # as the catalog scan counts classes
    for directory, _, _ in sorted(os.walk(root), key=lambda entry: -len(entry[0])):
        if directory != str(root) and not os.listdir(directory):
            os.rmdir(directory)  # folders left empty (e.g. __MACOSX/)
    return report


def dataset_root(tree: Path) -> Path:
    """The folder whose subfolders are the classes: a lone wrapper folder (`mydata/ants/…`) is unwrapped."""
    entries = list(tree.iterdir())
    if len(entries) == 1 and entries[0].is_dir() and any(child.is_dir() for child in entries[0].iterdir()):
        return entries[0]
    return tree


# --- the use case -------------------------------------------------------------------------


def check_name(name: str) -> str:
    """The dataset's name, if it is a slug (it becomes a folder name)."""
    if not NAME_PATTERN.fullmatch(name):
        raise InvalidInput.at(
            NAME, f"{name!r} must be 1-63 lowercase letters, digits, '-' or '_', starting with a letter or digit"
        )
    return name


def check_free_name(*, uow: UnitOfWork, name: str) -> None:
    """Refuse a name an upload may not take, before its archive is read (the no-JavaScript form
    calls it as soon as the `name` field arrives).

    Raises:
        InvalidInput: not a slug (loc `name`).
        DatasetNameTaken: a dataset has that name, or its folder exists.
    """
    check_name(name)
    with uow.reading() as db:
        _check_free(db, name, uow.settings.data_dir / UPLOADS_FOLDER / name)


def _check_free(db: Session, name: str, final: Path) -> None:
    path = f"{UPLOADS_FOLDER}/{name}"
    taken = db.scalar(select(DatasetFolder.id).where(DatasetFolder.path == path).limit(1))
    if taken is not None or final.exists():
        raise DatasetNameTaken.at(NAME, f"a dataset named {name!r} exists already; choose another name")


def sweep_abandoned(uploads: Path, *, older_than_s: float = ABANDONED_AFTER_S) -> None:
    """Delete extraction folders left by uploads that died; a live one is younger than `older_than_s`."""
    cutoff = time.time() - older_than_s
    for folder in uploads.glob(f"{INCOMING_PREFIX}*"):
        if folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)


def _prepare(source: BinaryIO, work: Path, limits: UploadLimits) -> tuple[Path, ImageReport]:
    """Extract and verify under `work`; the dataset's folder and what was kept."""
    tree = work / "tree"
    tree.mkdir()
    extract_archive(source, tree, limits)
    report = keep_images(tree, limits.max_image_pixels)
    if len(report.classes) < 2:
        raise InvalidInput.at(
            FILE, f"holds decodable images in {len(report.classes)} class folder(s); a dataset needs at least 2 "
            f"(one folder per class, e.g. ants/…, bees/…). {len(report.skipped)} file(s) were skipped",
        )  # fmt: skip
    return dataset_root(tree), report


def _publish(folder: Path, final: Path, upload: DatasetUploadRead) -> None:
    """Write the report into the folder, then move it into place in one rename."""
    (folder / REPORT_FILE).write_text(json.dumps(upload.model_dump(mode="json"), indent=2))
    try:
        os.rename(folder, final)  # same file system (both under uploads/): atomic
    except OSError as error:  # another upload of the same name won the race
        raise DatasetNameTaken.at(NAME, f"a dataset named {final.name!r} exists already") from error


def _register(uow: UnitOfWork, principal: Principal, upload: DatasetUploadRead) -> None:
    with uow.writing() as db:
        db.add(DatasetFolder(
            name="imagefolder", path=upload.path, num_classes=upload.num_classes, num_images=upload.num_images,
            owner_id=principal.user_id,
        ))  # fmt: skip


def create_upload(*, uow: UnitOfWork, principal: Principal, name: str, source: BinaryIO) -> DatasetUploadRead:
    """Extract an uploaded archive to `uploads/<name>`, keep its decodable images, register it as `principal`'s.

    Args:
        name: the dataset's name; it becomes the folder name.
        source: the archive, a seekable binary file (a zip or a tar, gz, bz2 or xz).

    Raises:
        InvalidInput, UploadTooLarge: the archive is unsafe, broken, too large, or holds
            fewer than 2 class folders with images (loc `file`); a bad name (loc `name`).
        DatasetNameTaken: the name is in use.
    Either the dataset is registered with its folder in place, or nothing is left. The
    archive is checked outside any transaction; only the registration at the end writes.
    """
    check_free_name(uow=uow, name=name)
    settings = uow.settings
    uploads = settings.data_dir / UPLOADS_FOLDER
    final = uploads / name
    uploads.mkdir(parents=True, exist_ok=True)
    sweep_abandoned(uploads)
    work = Path(tempfile.mkdtemp(prefix=INCOMING_PREFIX, dir=uploads))  # hidden: scans skip it
    try:
        folder, report = _prepare(source, work, UploadLimits.from_settings(settings))
        upload = DatasetUploadRead(
            name=name, path=f"{UPLOADS_FOLDER}/{name}", num_classes=len(report.classes),
            num_images=report.num_images, skipped=report.skipped,
        )  # fmt: skip
        _publish(folder, final, upload)
    except OSError as error:  # the report, or the folder itself, met a full disk
        if _disk_full(error):
            raise _no_room() from error
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    try:
        _register(uow, principal, upload)
    except BaseException:
        shutil.rmtree(final, ignore_errors=True)  # no folder without its row
        raise
    return upload
