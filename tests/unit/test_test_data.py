"""scripts/test_data.py: the test images are found where the project keeps them, or fetched from
the originals (here: small local archives of the same shape, through file:// URLs; never the
network), checked, and CIFAR-10 converted to JPEG class folders; offline it names what to put where."""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from scripts.test_data import (
    ANTS_BEES,
    CIFAR,
    CIFAR_CLASSES,
    Download,
    MissingTestData,
    ensure_test_data,
    tree_digest,
)

PER_BATCH = 20  # two images of each class per batch


def _jpeg(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(out, format="JPEG")
    return out.getvalue()


def complete_folder(root: Path) -> Path:
    """A folder laid out as the tests expect, with one image per class folder."""
    for split in ("train", "val"):
        for name in ("ants", "bees"):
            (root / ANTS_BEES / split / name).mkdir(parents=True)
            (root / ANTS_BEES / split / name / "a.jpg").write_bytes(_jpeg((9, 9, 9)))
    for split in ("train", "test"):
        for name in CIFAR_CLASSES:
            (root / CIFAR / split / name).mkdir(parents=True)
    return root


def ants_bees_zip(path: Path) -> Download:
    """A zip shaped like the tutorial's, and its published-style tree digest."""
    tree = path.parent / "tree"
    complete_folder(tree)
    with zipfile.ZipFile(path, "w") as zipped:
        for file in sorted((tree / ANTS_BEES).rglob("*.jpg")):
            zipped.write(file, file.relative_to(tree).as_posix())
    return Download(path.as_uri(), tree_sha256=tree_digest(tree / ANTS_BEES))


def cifar_tar(path: Path) -> Download:
    """A tar.gz shaped like cifar-10-python.tar.gz (pickled batches of uint8 rows), and its MD5."""
    with tarfile.open(path, "w:gz") as tar:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            labels = [i % 10 for i in range(PER_BATCH)]
            data = np.array([np.full(3072, 25 * label, dtype=np.uint8) for label in labels])
            payload = pickle.dumps({b"data": data, b"labels": labels})
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return Download(path.as_uri(), md5=hashlib.md5(path.read_bytes()).hexdigest())


def test_the_first_folder_holding_both_datasets_is_used(tmp_path: Path) -> None:
    empty, lab = tmp_path / "empty", complete_folder(tmp_path / "lab")
    empty.mkdir()
    assert ensure_test_data([empty, lab], tmp_path / "cache", offline=True) == lab


def test_offline_without_the_images_it_names_what_to_put_where(tmp_path: Path) -> None:
    half = tmp_path / "half"
    (half / ANTS_BEES / "train" / "ants").mkdir(parents=True)
    with pytest.raises(MissingTestData) as refused:
        ensure_test_data([half, tmp_path / "cache"], tmp_path / "cache", offline=True)
    assert str(half) in str(refused.value) and ANTS_BEES in str(refused.value) and CIFAR in str(refused.value)


def test_the_originals_are_fetched_checked_and_cifar_converted_to_jpeg_folders(tmp_path: Path) -> None:
    sources = {"ants_bees": ants_bees_zip(tmp_path / "ab.zip"), "cifar": cifar_tar(tmp_path / "c.tar.gz")}
    cache = tmp_path / "cache"

    assert ensure_test_data([tmp_path / "nowhere"], cache, offline=False, **sources) == cache

    assert len(list((cache / ANTS_BEES).rglob("*.jpg"))) == 4
    train_cats = sorted(p.name for p in (cache / CIFAR / "train" / "cat").iterdir())
    assert train_cats == [f"{i:04d}.jpg" for i in range(10)]  # 2 per batch × 5 batches, numbered in order
    assert len(list((cache / CIFAR / "test").rglob("*.jpg"))) == PER_BATCH
    pixel = Image.open(cache / CIFAR / "test" / "cat" / "0000.jpg").getpixel((16, 16))
    assert all(abs(channel - 75) <= 3 for channel in pixel)  # label 3 was filled with 75, lossy JPEG
    # The next call finds the cache without fetching again (the archives may be gone).
    (tmp_path / "ab.zip").unlink()
    assert ensure_test_data([tmp_path / "nowhere", cache], tmp_path / "other", offline=True) == cache


def test_an_archive_that_fails_its_md5_is_refused_and_removed(tmp_path: Path) -> None:
    sources = {"ants_bees": ants_bees_zip(tmp_path / "ab.zip"),
               "cifar": Download(cifar_tar(tmp_path / "c.tar.gz").url, md5="0" * 32)}  # fmt: skip
    with pytest.raises(MissingTestData, match="MD5"):
        ensure_test_data([], tmp_path / "cache", offline=False, **sources)
    assert not (tmp_path / "cache" / "downloads" / "c.tar.gz").exists()
    assert not (tmp_path / "cache" / CIFAR).exists()


def test_a_zip_with_other_files_is_refused(tmp_path: Path) -> None:
    zipped = ants_bees_zip(tmp_path / "ab.zip")
    sources = {"ants_bees": Download(zipped.url, tree_sha256="0" * 64), "cifar": cifar_tar(tmp_path / "c.tar.gz")}
    with pytest.raises(MissingTestData, match="other files"):
        ensure_test_data([], tmp_path / "cache", offline=False, **sources)
    assert not (tmp_path / "cache" / ANTS_BEES).exists()


def test_an_unreachable_source_says_what_to_put_where(tmp_path: Path) -> None:
    missing = {"ants_bees": Download((tmp_path / "gone.zip").as_uri()), "cifar": cifar_tar(tmp_path / "c.tar.gz")}
    with pytest.raises(MissingTestData, match="could not fetch the test images"):
        ensure_test_data([tmp_path / "x"], tmp_path / "cache", offline=False, **missing)


def test_the_lab_copy_of_ants_and_bees_matches_the_pinned_digest(shared_datasets: Path) -> None:
    from scripts.test_data import ANTS_BEES_ZIP

    assert tree_digest(shared_datasets / ANTS_BEES) == ANTS_BEES_ZIP.tree_sha256
