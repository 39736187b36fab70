"""Find the real test images, or fetch the public originals: `make test` runs this first.

The tests use two real datasets (tests/conftest.py, `shared_datasets`): `hymenoptera_data/`
(Ants & Bees, 398 JPEGs) and `cifar10_jpg/` (CIFAR-10 as 32x32 JPEGs in class folders,
`train/<class>/NNNN.jpg` 10 x 5,000 and `test/<class>/NNNN.jpg` 10 x 1,000). They are
looked for, in this order, in `$STAGEWISE_TEST_DATA`, `../shared/datasets` beside the
checkout (the lab's copy) and `~/.cache/stagewise-test-data`. When none holds both, the
originals are downloaded into the cache folder and checked (Ants & Bees' zip from PyTorch's
tutorial, CIFAR-10's python archive from its authors, by MD5), and CIFAR-10 is converted to
JPEG class folders. Offline, it stops at once, saying what to put where.

    python scripts/test_data.py            # prints the folder it found or filled
    python scripts/test_data.py --offline  # never downloads

The tests never download: they only read the folder this finds.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import pickle
import shutil
import sys
import tarfile
import urllib.request
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
ENV_VAR = "STAGEWISE_TEST_DATA"
ANTS_BEES, CIFAR = "hymenoptera_data", "cifar10_jpg"
CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR_PER_CLASS = {"train": 5000, "test": 1000}


@dataclass(frozen=True)
class Download:
    """A public archive and how its content is checked.

    `md5` checks the archive itself (CIFAR-10's authors publish it); `tree_sha256` checks the
    extracted files (`tree_digest`), for an archive whose own checksum nobody publishes.
    """

    url: str
    md5: str | None = None
    tree_sha256: str | None = None


ANTS_BEES_ZIP = Download(
    "https://download.pytorch.org/tutorial/hymenoptera_data.zip",
    # The 398 JPEGs as in the lab's copy of this zip (`tree_digest` of hymenoptera_data/).
    tree_sha256="09b2329aa6956906521686a682b4c4793592134e6d718c3e9769e005ec240417",
)
CIFAR_TAR = Download("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", md5="c58f30108f718f92721af3b95e74349a")


class MissingTestData(Exception):
    """No folder holds the test images and they could not be fetched."""


def candidates(environ: Mapping[str, str], home: Path) -> list[Path]:
    """Where the test images may already be, in the order they are looked for."""
    found = [Path(environ[ENV_VAR]).expanduser()] if environ.get(ENV_VAR) else []
    return [*found, REPO_ROOT.parent / "shared" / "datasets", cache_dir(home)]


def cache_dir(home: Path) -> Path:
    return home / ".cache" / "stagewise-test-data"


def is_complete(folder: Path) -> bool:
    """Both datasets, laid out as the tests expect (class folders, every CIFAR-10 class)."""
    ants = all((folder / ANTS_BEES / split / c).is_dir() for split in ("train", "val") for c in ("ants", "bees"))
    cifar = all((folder / CIFAR / split / c).is_dir() for split in CIFAR_PER_CLASS for c in CIFAR_CLASSES)
    return ants and cifar


def find_test_data(folders: Sequence[Path]) -> Path | None:
    """The first folder holding both datasets, or None."""
    return next((folder for folder in folders if is_complete(folder)), None)


def tree_digest(folder: Path) -> str:
    """SHA-256 over every file's relative path and SHA-256, in sorted order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        file_hash = hashlib.sha256(path.read_bytes()).hexdigest()
        digest.update(f"{path.relative_to(folder).as_posix()}\0{file_hash}\n".encode())
    return digest.hexdigest()


def fetch(source: Download, into: Path) -> Path:
    """Download `source` into `into` (kept there for the next time), checking its MD5 if known."""
    into.mkdir(parents=True, exist_ok=True)
    target = into / source.url.rsplit("/", 1)[-1]
    if not target.exists():
        partial = target.with_suffix(target.suffix + ".part")
        print(f"downloading {source.url} …", file=sys.stderr)
        with urllib.request.urlopen(source.url, timeout=60) as response, partial.open("wb") as out:
            shutil.copyfileobj(response, out, length=1 << 20)
        partial.replace(target)
    if source.md5 and hashlib.md5(target.read_bytes()).hexdigest() != source.md5:
        target.unlink()
        raise MissingTestData(f"{source.url} did not match its published MD5 {source.md5}; removed, try again")
    return target


def install_ants_bees(archive: Path, root: Path, tree_sha256: str | None) -> None:
    """Extract hymenoptera_data/ from the tutorial's zip into `root`, checking the files."""
    staging = root / f".{ANTS_BEES}.incoming"
    shutil.rmtree(staging, ignore_errors=True)
    with zipfile.ZipFile(archive) as zipped:
        members = [m for m in zipped.namelist() if m.startswith(f"{ANTS_BEES}/") and ".." not in m.split("/")]
        zipped.extractall(staging, members)
    if tree_sha256 and tree_digest(staging / ANTS_BEES) != tree_sha256:
        shutil.rmtree(staging)
        raise MissingTestData(f"{archive.name} holds other files than the published Ants & Bees set")
    (staging / ANTS_BEES).replace(root / ANTS_BEES)
    staging.rmdir()


class _ArrayUnpickler(pickle.Unpickler):
    """CIFAR-10's batches are pickled dicts of numpy arrays: allow those classes and nothing else."""

    ALLOWED = frozenset({("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                         ("numpy", "ndarray"), ("numpy", "dtype")})  # fmt: skip

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refused {module}.{name} in a CIFAR-10 batch")
        return super().find_class(module, name)


def install_cifar10(archive: Path, root: Path) -> None:
    """CIFAR-10's python batches as `cifar10_jpg/{train,test}/<class>/NNNN.jpg`, in batch order."""
    from PIL import Image  # Pillow comes with torchvision; only this step needs it

    staging = root / f".{CIFAR}.incoming"
    shutil.rmtree(staging, ignore_errors=True)
    batches = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
    with tarfile.open(archive) as tar:
        for split, names in batches.items():
            counts = dict.fromkeys(CIFAR_CLASSES, 0)
            for name in names:
                member = tar.extractfile(f"cifar-10-batches-py/{name}")
                assert member is not None, name
                batch = _ArrayUnpickler(io.BytesIO(member.read()), encoding="bytes").load()
                images = batch[b"data"].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
                for pixels, label in zip(images, batch[b"labels"], strict=True):
                    folder = staging / split / CIFAR_CLASSES[label]
                    folder.mkdir(parents=True, exist_ok=True)
                    Image.fromarray(pixels).save(folder / f"{counts[CIFAR_CLASSES[label]]:04d}.jpg", quality=95)
                    counts[CIFAR_CLASSES[label]] += 1
    staging.replace(root / CIFAR)


def ensure_test_data(folders: Sequence[Path], cache: Path, *, offline: bool,
                     ants_bees: Download = ANTS_BEES_ZIP, cifar: Download = CIFAR_TAR) -> Path:  # fmt: skip
    """The first of `folders` holding the test images, or `cache` filled from the originals."""
    found = find_test_data(folders)
    if found is not None:
        return found
    if offline:
        raise MissingTestData(_where_to_put_them(folders))
    cache.mkdir(parents=True, exist_ok=True)
    try:
        if not (cache / ANTS_BEES).is_dir():
            install_ants_bees(fetch(ants_bees, cache / "downloads"), cache, ants_bees.tree_sha256)
        if not (cache / CIFAR).is_dir():
            install_cifar10(fetch(cifar, cache / "downloads"), cache)
    except OSError as exc:  # no network, a proxy, a full disk
        raise MissingTestData(f"could not fetch the test images ({exc}).\n{_where_to_put_them(folders)}") from exc
    if not is_complete(cache):
        raise MissingTestData(f"{cache} is still incomplete after the download.\n{_where_to_put_them(folders)}")
    return cache


def _where_to_put_them(folders: Sequence[Path]) -> str:
    places = "\n".join(f"  {folder}" for folder in folders)
    return (
        f"The tests need real images in one of these folders (set {ENV_VAR} to use another):\n{places}\n"
        f"holding {ANTS_BEES}/ (unzip {ANTS_BEES_ZIP.url}) and {CIFAR}/{{train,test}}/<class>/*.jpg "
        f"(CIFAR-10 as JPEGs; run this script with network access once to convert {CIFAR_TAR.url})."
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--offline", action="store_true", help="never download; fail naming the folders")
    args = parser.parse_args(argv)
    try:
        folders = candidates(os.environ, Path.home())
        print(ensure_test_data(folders, cache_dir(Path.home()), offline=args.offline))
    except MissingTestData as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
