"""Datasets as in-memory tensors: find the files, split them, decode the chosen images once.

A dataset is first a *pool*: every image in a documented order, with its label. Runs
record split positions in that order (`LoadedData.indices`), so the order is part of
the contract:

- cifar10: the 50,000 official training images, then the 10,000 test images. From the
  pickled batches (torchvision's `cifar-10-batches-py`): data_batch_1..5 then test_batch,
  rows in file order. From class folders: train/<class>/ then test/<class>/, classes in
  catalog order, files sorted by path within each class.
- hymenoptera, caltech101, imagefolder: every image file, sorted by its path relative
  to the dataset folder. Class folders sit at the top, or inside split folders (train/,
  val/, test/ …) whose classes are pooled by name.
- digits: scikit-learn's order. fake: generation order.

Only the images a split selects are decoded (CIFAR-10-4000 decodes 15,000 files, not
60,000). Folder datasets are stored at round(image_size * 256 / 224) px so that the
eval view is the classic 256 → 224 center crop; fixed-size datasets stay native.
"""

from __future__ import annotations

import codecs
import colorsys
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

from app.schemas.catalog import CIFAR10_CLASSES, DATASETS, DatasetSpec
from app.schemas.train_config import DatasetConfig
from worker.training import decoded_cache
from worker.training.dataset_links import readable_roots
from worker.training.errors import DatasetNotFound, InvalidDataset
from worker.training.images import decode_images, decode_whole_images
from worker.training.splits import (
    SplitIndices,
    balanced_subset,
    split_hash,
    stratified_split,
)

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif"})
SPLIT_FOLDERS = frozenset({"train", "training", "val", "valid", "validation", "test", "testing"})
CIFAR10_BATCHES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch")
EVAL_RESIZE_RATIO = 256 / 224  # stored side per output side: the eval view is a 224/256 center crop
FAKE_SIDE = 32
# Share of the machine's available memory the decoded images may take (the rest: the model,
# batches, the OS). A larger selection is refused with a message instead of an OOM kill.
MEMORY_SHARE = 0.8
OnDecode = Callable[[int, int], None]  # (images decoded so far, images to decode)


@dataclass
class ImageTensors:
    """Images of one split: uint8 (N, 3, H, W) and int64 (N,) labels.

    `sizes`: None when `images` are central squares (the eval view's source). Else each image
    is the whole original squashed to a square and `sizes` (N, 2) int64 on the CPU holds its
    original (width, height): the training split of a random-resized-crop run, whose boxes are
    drawn over the whole image (`transforms.prepare_batch`).
    """

    images: torch.Tensor
    labels: torch.Tensor
    sizes: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def nbytes(self) -> int:
        return self.images.nbytes + self.labels.nbytes + (0 if self.sizes is None else self.sizes.nbytes)


@dataclass
class LoadedData:
    """A dataset split and decoded, ready for `prepare_batch`.

    Attributes:
        train, val, test: the splits (val and test may hold 0 images).
        class_names: label i is class_names[i].
        indices: per split, the images' positions in the dataset's pool order.
        split_hash: fingerprint of `indices`, identical on every machine.
        skipped: unreadable files left out (on_bad_image="skip"), relative to the dataset folder.
        storage_size: the stored images' side length S.
        from_cache: the images were read from the decode cache, not decoded.
    """

    train: ImageTensors
    val: ImageTensors
    test: ImageTensors
    class_names: list[str]
    indices: dict[str, list[int]]
    split_hash: str
    skipped: list[str]
    storage_size: int
    from_cache: bool = False

    def nbytes(self) -> int:
        """Memory held by the three splits' tensors."""
        return self.train.nbytes + self.val.nbytes + self.test.nbytes


@dataclass(frozen=True)
class _Pool:
    """Every image of a dataset in pool order: files to decode, or pixels already in memory."""

    class_names: list[str]
    labels: list[int]
    root: Path | None = None
    files: list[str] | None = None  # relative to root, "/"-separated
    pixels: torch.Tensor | None = None
    train_count: int = 0  # official splits: the first train_count positions are the training set

    def take(
        self, positions: list[int], size: int, *, num_workers: int, on_bad_image: str, whole: bool = False,
        on_image: Callable[[], None] | None = None,
    ) -> tuple[torch.Tensor, list[int], list[str], torch.Tensor | None]:
        """The images at `positions` as (uint8 tensor, kept positions, skipped file names, original
        sizes): central squares, or with `whole` whole images squashed, with their (width, height).
        `on_image` is called after each file decoded (never for pixels already in memory)."""
        if self.pixels is not None:
            return self.pixels[torch.tensor(positions, dtype=torch.int64)], positions, [], None
        assert self.root is not None and self.files is not None
        paths = [self.root / self.files[p] for p in positions]
        sizes = None
        if whole:
            images, sizes, kept, _ = decode_whole_images(
                paths, size, num_workers=num_workers, on_bad_image=on_bad_image, on_image=on_image
            )
        else:
            images, kept, _ = decode_images(
                paths, size, num_workers=num_workers, on_bad_image=on_bad_image, on_image=on_image
            )
        kept_positions = [positions[k] for k in kept]
        skipped = sorted(set(positions) - set(kept_positions))
        return images, kept_positions, [self.files[p] for p in skipped], sizes


# --- where the files are ----------------------------------------------------------------


def _locate(config: DatasetConfig, data_root: Path) -> tuple[Path, tuple[Path, ...]]:
    spec = DATASETS[config.name]
    candidates = [config.path] if config.path else list(spec.folders)
    for candidate in candidates:
        folder = data_root / candidate
        if folder.is_dir():
            return folder, readable_roots(candidate, data_root)
    if not candidates:
        raise DatasetNotFound(f"dataset {spec.name!r} is built in and has no folder")
    hint = f" Get it from {spec.source}." if spec.source else " Check dataset.path."
    raise DatasetNotFound(
        f"dataset {spec.name!r} not found: tried {', '.join(candidates)} under the data root {data_root}.{hint}"
    )


def find_dataset_dir(config: DatasetConfig, data_root: Path) -> Path:
    """The dataset's folder: `config.path`, else the first catalog folder present under `data_root`.

    Raises:
        DatasetNotFound: no candidate folder exists; names the folders tried, the data
            root and where to get the data.
        InvalidDataset: the folder leads out of the data root other than through a link at
            the top of it under a catalog name (`dataset_links.RULE`).
    """
    return _locate(config, data_root)[0]


def _check_inside(path: Path, roots: tuple[Path, ...]) -> None:
    """A link inside a dataset must stay in it: a user's folder must not read the server's files."""
    real = path.resolve()
    if not any(real.is_relative_to(root) for root in roots):
        raise InvalidDataset(f"{path} links to {real}, outside the data root; remove the link")


def _entries(folder: Path, roots: tuple[Path, ...]) -> list[os.DirEntry[str]]:
    with os.scandir(folder) as scan:
        entries = [entry for entry in scan if not entry.name.startswith(".")]  # .DS_Store, ._x.jpg
    for entry in entries:
        if entry.is_symlink():
            _check_inside(Path(entry.path), roots)
    return entries


def _image_files(folder: Path, roots: tuple[Path, ...], prefix: str = "") -> list[str]:
    """Every image file under `folder` (recursively), as sorted `prefix` + relative paths.

    Strings, not Paths: building 60,000 Path objects costs seconds, scandir names do not.
    """
    found: list[str] = []
    pending, seen = [""], set()
    while pending:
        relative = pending.pop()
        current = folder / relative
        if (real := current.resolve()) in seen:  # a link back up must not loop forever
            continue
        seen.add(real)
        for entry in _entries(current, roots):
            if entry.is_dir():
                pending.append(f"{relative}{entry.name}/")
            elif entry.is_file() and os.path.splitext(entry.name)[1].lower() in IMAGE_EXTENSIONS:
                found.append(f"{prefix}{relative}{entry.name}")
    return sorted(found)


def _class_files(folder: Path, roots: tuple[Path, ...]) -> dict[str, list[str]]:
    """Class name → its image files relative to `folder`, for classes with at least one image."""
    tops = [e.name for e in _entries(folder, roots) if e.is_dir()]
    if tops and all(top.lower() in SPLIT_FOLDERS for top in tops):
        tops = [f"{top}/{e.name}" for top in tops for e in _entries(folder / top, roots) if e.is_dir()]
    classes: dict[str, list[str]] = {}
    for top in tops:
        name = top.rsplit("/", 1)[-1]
        classes.setdefault(name, []).extend(_image_files(folder / top, roots, prefix=f"{top}/"))
    return {name: files for name, files in sorted(classes.items()) if files}


# --- pools --------------------------------------------------------------------------------


def _checked_names(spec: DatasetSpec, found: list[str], folder: Path) -> list[str]:
    """Class names in label order, after checking the folder has the classes the catalog promises."""
    if spec.class_names and sorted(found) != sorted(spec.class_names):
        raise InvalidDataset(f"{folder} has classes {found}, expected {list(spec.class_names)}")
    if spec.num_classes is not None and len(found) != spec.num_classes:
        raise InvalidDataset(f"{folder} has {len(found)} class folders with images, expected {spec.num_classes}")
    if len(found) < 2:
        raise InvalidDataset(
            f"{folder} needs at least 2 class folders holding images ({', '.join(sorted(IMAGE_EXTENSIONS))}); "
            f"found {found}"
        )
    return list(spec.class_names) or found


def _folder_pool(config: DatasetConfig, data_root: Path) -> _Pool:
    folder, roots = _locate(config, data_root)
    classes = _class_files(folder, roots)
    names = _checked_names(DATASETS[config.name], list(classes), folder)
    entries = sorted((file, label) for label, name in enumerate(names) for file in classes[name])
    return _Pool(names, [label for _, label in entries], folder, [file for file, _ in entries])


def _cifar10_folders(folder: Path, roots: tuple[Path, ...]) -> _Pool:
    files: list[str] = []
    labels: list[int] = []
    train_count = 0
    for split in ("train", "test"):
        for label, name in enumerate(CIFAR10_CLASSES):
            class_dir = folder / split / name
            if not class_dir.is_dir():
                raise DatasetNotFound(
                    f"{class_dir} is missing: CIFAR-10 as image folders needs train/<class>/ and "
                    f"test/<class>/ for {', '.join(CIFAR10_CLASSES)}"
                )
            class_files = _image_files(class_dir, roots, prefix=f"{split}/{name}/")
            files.extend(class_files)
            labels.extend([label] * len(class_files))
        train_count = train_count or len(files)
    return _Pool(list(CIFAR10_CLASSES), labels, folder, files, train_count=train_count)


def _latin1(text: str, encoding: str) -> bytes:
    # Python 3 writes bytes at pickle protocol 2 as _codecs.encode(text, "latin1"): allow that codec only.
    if encoding.replace("-", "").lower() != "latin1":
        raise pickle.UnpicklingError(f"refusing codec {encoding!r} in a CIFAR-10 batch")
    return codecs.encode(text, "latin1")


@cache
def _cifar_globals() -> dict[tuple[str, str], Any]:
    """Every global a CIFAR-10 batch may name: NumPy's array rebuilders and plain containers."""
    sample = np.empty(1, dtype=np.uint8)
    allowed: dict[tuple[str, str], Any] = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    for core in ("numpy.core", "numpy._core"):  # NumPy 1 and 2 spell the module differently
        allowed[(f"{core}.multiarray", "_reconstruct")] = sample.__reduce__()[0]
        allowed[(f"{core}.numeric", "_frombuffer")] = sample.__reduce_ex__(5)[0]
    for module in ("builtins", "__builtin__"):
        for container in (dict, list, tuple, set, frozenset, bytearray):
            allowed[(module, container.__name__)] = container
    allowed[("_codecs", "encode")] = _latin1
    return allowed


class _CifarUnpickler(pickle.Unpickler):
    """Reads CIFAR-10's pickled batches, and refuses every other global.

    A pickle may name any importable callable and call it (os.system, open…), so a
    downloaded file is only unpickled with this allow-list, never with pickle.load.
    """

    def find_class(self, module: str, name: str) -> Any:
        allowed = _cifar_globals()
        if (module, name) not in allowed:
            raise pickle.UnpicklingError(f"refusing {module}.{name}: a CIFAR-10 batch holds only arrays and lists")
        return allowed[(module, name)]


def _unpickle_batch(file: BinaryIO) -> tuple[np.ndarray, list[int]]:
    batch = _CifarUnpickler(file, encoding="bytes").load()
    if not isinstance(batch, dict):
        raise TypeError(f"expected a dict, got {type(batch).__name__}")
    batch = {key.decode() if isinstance(key, bytes) else key: value for key, value in batch.items()}
    data, labels = batch.get("data"), batch.get("labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise ValueError("'data' must be a uint8 array of shape (N, 3072)")
    if not isinstance(labels, list) or len(labels) != len(data) or not all(0 <= int(x) < 10 for x in labels):
        raise ValueError("'labels' must be a list of N ints in 0..9")
    return data, [int(x) for x in labels]


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, list[int]]:
    try:
        with path.open("rb") as file:
            return _unpickle_batch(file)
    except Exception as error:  # untrusted bytes can fail in any way; each means "not a CIFAR batch"
        raise InvalidDataset(
            f"{path} is not a valid CIFAR-10 batch ({error}); re-extract cifar-10-python.tar.gz"
        ) from error


def _cifar10_pickled(folder: Path) -> _Pool:
    missing = [name for name in CIFAR10_BATCHES if not (folder / name).is_file()]
    if missing:
        raise DatasetNotFound(f"{folder} lacks {', '.join(missing)}; re-extract cifar-10-python.tar.gz")
    batches = [_read_cifar_batch(folder / name) for name in CIFAR10_BATCHES]
    # Each row is 1024 red, then 1024 green, then 1024 blue values, row-major: already C x H x W.
    pixels = torch.from_numpy(np.concatenate([data for data, _ in batches])).view(-1, 3, 32, 32)
    labels = [label for _, batch_labels in batches for label in batch_labels]
    train_count = sum(len(batch_labels) for _, batch_labels in batches[:-1])
    return _Pool(list(CIFAR10_CLASSES), labels, pixels=pixels, train_count=train_count)


def _cifar10_pool(config: DatasetConfig, data_root: Path) -> _Pool:
    folder, roots = _locate(config, data_root)
    for batches in (folder, folder / "cifar-10-batches-py"):  # torchvision's root holds the latter
        if (batches / "data_batch_1").exists() or (batches / "test_batch").exists():
            return _cifar10_pickled(batches)
    if (folder / "train").is_dir() and (folder / "test").is_dir():
        return _cifar10_folders(folder, roots)
    raise DatasetNotFound(
        f"{folder} holds neither CIFAR-10 layout: cifar-10-batches-py (data_batch_1..5, test_batch) "
        f"or train/<class>/ + test/<class>/ image folders. Get it from {DATASETS['cifar10'].source}"
    )


def _digits_pool(config: DatasetConfig, data_root: Path) -> _Pool:
    # Imported here, not at the top: scikit-learn takes a second to import.
    from sklearn.datasets import load_digits

    digits = load_digits()
    grey = np.rint(digits.images * (255 / 16)).astype(np.uint8)  # 0..16 ink levels → 0..255
    pixels = torch.from_numpy(grey)[:, None].expand(-1, 3, -1, -1).contiguous()
    return _Pool(list(DATASETS["digits"].class_names), [int(t) for t in digits.target], pixels=pixels)


def _fake_pool(config: DatasetConfig, data_root: Path) -> _Pool:
    """Class c is a flat colour (hue c / classes) plus seeded noise: learnable in a few steps."""
    classes, count = config.num_classes or 3, config.num_images or 60
    labels = [i % classes for i in range(count)]
    colours = np.array([colorsys.hsv_to_rgb(c / classes, 0.8, 0.9) for c in range(classes)]) * 255
    noise = np.random.Generator(np.random.PCG64(0)).normal(0.0, 24.0, size=(count, 3, FAKE_SIDE, FAKE_SIDE))
    pixels = np.clip(colours[labels][:, :, None, None] + noise, 0, 255).round().astype(np.uint8)
    return _Pool([f"class_{c}" for c in range(classes)], labels, pixels=torch.from_numpy(pixels))


_POOLS: dict[str, Callable[[DatasetConfig, Path], _Pool]] = {
    "cifar10": _cifar10_pool,
    "hymenoptera": _folder_pool,
    "caltech101": _folder_pool,
    "imagefolder": _folder_pool,
    "digits": _digits_pool,
    "fake": _fake_pool,
}


# --- splits -------------------------------------------------------------------------------


def _official_split(pool: _Pool, config: DatasetConfig) -> SplitIndices:
    """CIFAR style: train_size and val_size drawn class-balanced from the training set."""
    labels, seed = pool.labels, config.split_seed
    official_train = range(pool.train_count)
    test_pool = list(range(pool.train_count, len(labels)))
    val_size = config.val_size if config.val_size is not None else (1000 if config.train_size else 5000)
    if config.train_size is None:
        val = balanced_subset(labels, official_train, val_size, seed, field="dataset.val_size")
        train = sorted(set(official_train) - set(val))
    else:
        train = balanced_subset(labels, official_train, config.train_size, seed, field="dataset.train_size")
        rest = sorted(set(official_train) - set(train))
        val = balanced_subset(labels, rest, val_size, seed, field="dataset.val_size")
    test = test_pool
    if config.test_size is not None:
        test = balanced_subset(labels, test_pool, config.test_size, seed, field="dataset.test_size")
    return SplitIndices(train, val, test)


def _fraction_split(pool: _Pool, config: DatasetConfig) -> SplitIndices:
    """Stratified by `fractions`; train_size, val_size, test_size then cap a split class-balanced."""
    fractions = config.resolved_fractions()
    assert fractions is not None  # every "fractions" dataset has catalog defaults
    split = stratified_split(pool.labels, (fractions.train, fractions.val, fractions.test), config.split_seed)
    parts = {"train": split.train, "val": split.val, "test": split.test}
    for name, size in (("train", config.train_size), ("val", config.val_size), ("test", config.test_size)):
        if size is not None:
            parts[name] = balanced_subset(pool.labels, parts[name], size, config.split_seed, field=f"dataset.{name}_size")
    return SplitIndices(parts["train"], parts["val"], parts["test"])


_SPLITS: dict[str, Callable[[_Pool, DatasetConfig], SplitIndices]] = {
    "official": _official_split,
    "fractions": _fraction_split,
}


# --- public -------------------------------------------------------------------------------


def storage_size(config: DatasetConfig, image_size: int) -> int:
    """The stored side S: native for fixed-size datasets, else image_size * 256/224 for the eval crop."""
    return DATASETS[config.name].native_size or round(image_size * EVAL_RESIZE_RATIO)


def num_classes_for(config: DatasetConfig, data_root: Path) -> int:
    """The number of classes, without decoding any image (folder datasets list their files)."""
    if config.name == "fake":
        return config.num_classes or 3
    spec = DATASETS[config.name]
    if spec.num_classes is not None:
        return spec.num_classes
    folder, roots = _locate(config, data_root)
    return len(_class_files(folder, roots))


def select_files(config: DatasetConfig, data_root: Path) -> tuple[Path, dict[str, list[str]]]:
    """The dataset folder and, per split, the selected files relative to it, without decoding.

    Raises:
        InvalidDataset: the dataset is not made of image files (CIFAR pickles, digits, fake).
    """
    pool = _POOLS[config.name](config, data_root)
    if pool.root is None or pool.files is None:
        raise InvalidDataset(f"dataset {config.name!r} is not a folder of image files")
    split = _SPLITS[DATASETS[config.name].split](pool, config)
    parts = {"train": split.train, "val": split.val, "test": split.test}
    return pool.root, {name: [pool.files[p] for p in positions] for name, positions in parts.items()}


def load_data(
    config: DatasetConfig, data_root: Path, image_size: int, *, num_workers: int = 0, cache_dir: Path | None = None,
    cache_budget_bytes: int | None = None, memory_budget_bytes: int | None = None, on_decode: OnDecode | None = None,
    whole_train: bool = False,
) -> LoadedData:
    """Find, split and decode a dataset into uint8 tensors in memory.

    Args:
        config: which dataset and how to split it.
        data_root: the folder holding the datasets.
        image_size: the model's input side; folder datasets are stored at
            `storage_size(config, image_size)`.
        num_workers: decoding threads (0: one per CPU).
        cache_dir: where decoded folder datasets are kept between runs
            (`decoded_cache`); None decodes every time.
        cache_budget_bytes: the most bytes `cache_dir` may hold (least recently used
            entries go first); None: no limit.
        memory_budget_bytes: the most bytes the decoded images may take in memory;
            None: `MEMORY_SHARE` of the memory this machine has available now.
        on_decode: called with (images decoded, images to decode) before the first file
            and after each one, when files are decoded (not on a cache hit, nor for
            datasets already in memory: CIFAR-10's batches, digits).
        whole_train: store the training split's images whole, squashed to squares, with
            their original sizes (`ImageTensors.sizes`), for crops over the whole image
            (`resized_crop_flip`). Only resized folder datasets: native-size ones are whole
            already. Val and test stay central squares, so evaluation does not change.

    Raises:
        DatasetNotFound: the dataset's folder or files are missing.
        InvalidDataset: too few images for a requested size, a folder outside the data
            root, an unreadable CIFAR-10 batch, decoded images that would not fit in memory.
        BadImage: an image cannot be decoded and `config.on_bad_image` is "error".
    """
    pool = _POOLS[config.name](config, data_root)
    split = _SPLITS[DATASETS[config.name].split](pool, config)
    size = storage_size(config, image_size)
    whole_train = whole_train and pool.files is not None and DATASETS[config.name].native_size is None
    _check_memory(pool, split, size, memory_budget_bytes)
    entry = _cache_entry(pool, split, config, size, cache_dir, whole_train=whole_train)
    stored = decoded_cache.read(entry) if entry is not None else None
    if stored is not None:
        return _assemble(pool, stored, size, from_cache=True)
    stored = _decode_splits(pool, split, size, config, num_workers, on_decode, whole_train=whole_train)
    if entry is not None:
        decoded_cache.write(entry, *stored, budget_bytes=cache_budget_bytes)
    return _assemble(pool, stored, size, from_cache=False)


def available_memory() -> int | None:
    """Bytes of memory this machine can give a new allocation now (Linux's MemAvailable), or None."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024  # reported in kB
    except (OSError, ValueError, IndexError):
        pass
    return None


def _check_memory(pool: _Pool, split: SplitIndices, size: int, budget: int | None) -> None:
    """Refuse before decoding a selection whose uint8 images would not fit in memory.

    Decoding it anyway would end in the kernel's OOM killer: the worker dies without a word,
    the run is retried and killed again. Pools already in memory (CIFAR pickles, digits) are
    small and already there.
    """
    if pool.files is None:
        return
    if budget is None:
        available = available_memory()
        if available is None:
            return
        budget = int(available * MEMORY_SHARE)
    count = len(split.train) + len(split.val) + len(split.test)
    needed = count * 3 * size * size
    if needed > budget:
        raise InvalidDataset(
            f"the {count:,} selected images need {needed / 1e9:.1f} GB of memory at {size} px (decoded once, "
            f"uint8), more than the {budget / 1e9:.1f} GB this worker can spare: lower image_size, or select "
            "fewer images (dataset.train_size / val_size / test_size, or dataset.fractions)"
        )


def _cache_entry(
    pool: _Pool, split: SplitIndices, config: DatasetConfig, size: int, cache_dir: Path | None, *, whole_train: bool
) -> Path | None:
    """The decode cache file of this selection; None for in-memory pools (nothing to decode)."""
    if cache_dir is None or pool.root is None or pool.files is None:
        return None
    selected = [*split.train, *split.val, *split.test]
    spec = config.model_dump(mode="json") | ({"train_view": "whole"} if whole_train else {})
    key = decoded_cache.cache_key(spec, size, pool.root, pool.files, selected)
    return cache_dir / f"{config.name}-{size}px{'-whole' if whole_train else ''}-{key}.safetensors"


def _decode_splits(
    pool: _Pool, split: SplitIndices, size: int, config: DatasetConfig, num_workers: int, on_decode: OnDecode | None,
    *, whole_train: bool,
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Every split's images, labels and kept pool positions as flat tensors (and the training
    split's original sizes with `whole_train`), and skipped files."""
    tensors: dict[str, torch.Tensor] = {}
    skipped: list[str] = []
    on_image = _counter(len(split.train) + len(split.val) + len(split.test), on_decode) if pool.files else None
    for name, positions in (("train", split.train), ("val", split.val), ("test", split.test)):
        images, kept, bad, sizes = pool.take(
            positions, size, num_workers=num_workers, on_bad_image=config.on_bad_image,
            whole=whole_train and name == "train", on_image=on_image,
        )  # fmt: skip
        if sizes is not None:
            tensors[f"{name}.sizes"] = sizes
        tensors[f"{name}.images"] = images
        tensors[f"{name}.labels"] = torch.tensor([pool.labels[p] for p in kept], dtype=torch.int64)
        tensors[f"{name}.indices"] = torch.tensor(kept, dtype=torch.int64)
        skipped.extend(bad)
    return tensors, skipped


def _counter(total: int, on_decode: OnDecode | None) -> Callable[[], None] | None:
    """A per-image callback that tells `on_decode` (done, total), starting with (0, total) now."""
    if on_decode is None:
        return None
    done = 0
    on_decode(0, total)

    def one_more() -> None:
        nonlocal done
        done += 1
        on_decode(done, total)

    return one_more


def _assemble(
    pool: _Pool, stored: tuple[dict[str, torch.Tensor], list[str]], size: int, *, from_cache: bool
) -> LoadedData:
    tensors, skipped = stored
    parts = {
        name: ImageTensors(tensors[f"{name}.images"], tensors[f"{name}.labels"], tensors.get(f"{name}.sizes"))
        for name in decoded_cache.SPLITS
    }
    indices = {name: [int(p) for p in tensors[f"{name}.indices"].tolist()] for name in decoded_cache.SPLITS}
    return LoadedData(
        parts["train"], parts["val"], parts["test"], pool.class_names, indices,
        split_hash(SplitIndices(indices["train"], indices["val"], indices["test"])), skipped, size, from_cache,
    )  # fmt: skip


# --- evaluation on another dataset ----------------------------------------------------------

EVAL_SPLITS = ("all", "train", "val", "test")


@dataclass(frozen=True)
class Selection:
    """The images of one split of a dataset, listed but not decoded (an evaluation's input).

    Attributes:
        class_names: label i is class_names[i] (folder names for folder datasets).
        positions: the chosen images' positions in the pool order.
        labels: their labels, in the same order.
        split_hash: `split_hash` of the dataset's split (for "all", of every image as one split).
    """

    class_names: list[str]
    positions: list[int]
    labels: list[int]
    split_hash: str
    _pool: _Pool

    def decode(self, positions: list[int], size: int, *, num_workers: int = 0, on_bad_image: str = "error") -> ImageTensors:
        """The images at `positions` (a subset of `self.positions`) at side `size`, with their labels."""
        images, kept, _, _ = self._pool.take(positions, size, num_workers=num_workers, on_bad_image=on_bad_image)
        if images.shape[-1] != size:  # in-memory pools (CIFAR pickles, digits) are native-sized
            resized = torch.nn.functional.interpolate(images.float(), size=(size, size), mode="bilinear", antialias=True)
            images = resized.round().clamp(0, 255).to(torch.uint8)
        return ImageTensors(images, torch.tensor([self._pool.labels[p] for p in kept], dtype=torch.int64))


def select_split(config: DatasetConfig, data_root: Path, split: str) -> Selection:
    """One split of a dataset ("all": every image), chosen as a run on `config` would choose it.

    Raises:
        DatasetNotFound, InvalidDataset: as `load_data`.
    """
    if split not in EVAL_SPLITS:
        raise ValueError(f"unknown split {split!r}; allowed: {', '.join(EVAL_SPLITS)}")
    pool = _POOLS[config.name](config, data_root)
    if split == "all":
        indices = SplitIndices(list(range(len(pool.labels))), [], [])
        positions = indices.train
    else:
        indices = _SPLITS[DATASETS[config.name].split](pool, config)
        positions = {"train": indices.train, "val": indices.val, "test": indices.test}[split]
    labels = [pool.labels[p] for p in positions]
    return Selection(list(pool.class_names), list(positions), labels, split_hash(indices), pool)
