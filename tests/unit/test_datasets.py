"""Datasets from real files: found under the data root, split, decoded once into tensors."""

from __future__ import annotations

import pickle
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from app.schemas.catalog import CIFAR10_CLASSES
from app.schemas.train_config import DatasetConfig
from worker.training.datasets import (
    LoadedData,
    available_memory,
    find_dataset_dir,
    load_data,
    num_classes_for,
    select_files,
)
from worker.training.errors import BadImage, DatasetNotFound, InvalidDataset
from worker.training.splits import SplitIndices, split_hash

SMALL_CIFAR = DatasetConfig(name="cifar10", train_size=40, val_size=20, test_size=50)


def _linked_root(root: Path, shared_datasets: Path, name: str) -> Path:
    """A data root where an admin linked a real dataset stored elsewhere (as conftest's data_root)."""
    root.mkdir(exist_ok=True)
    (root / name).symlink_to(shared_datasets / name, target_is_directory=True)
    return root


@pytest.fixture(scope="module")
def hymenoptera(tmp_path_factory: pytest.TempPathFactory, shared_datasets: Path) -> LoadedData:
    root = _linked_root(tmp_path_factory.mktemp("data"), shared_datasets, "hymenoptera_data")
    return load_data(DatasetConfig(name="hymenoptera"), root, image_size=32)


@pytest.fixture(scope="module")
def small_cifar(tmp_path_factory: pytest.TempPathFactory, shared_datasets: Path) -> LoadedData:
    root = _linked_root(tmp_path_factory.mktemp("data"), shared_datasets, "cifar10_jpg")
    return load_data(SMALL_CIFAR, root, image_size=32)


def _cifar_jpgs(shared_datasets: Path, split: str, per_class: int) -> list[tuple[Path, int]]:
    folder = shared_datasets / "cifar10_jpg" / split
    return [
        (folder / name / f"{i:04d}.jpg", label) for label, name in enumerate(CIFAR10_CLASSES) for i in range(per_class)
    ]


def _imagefolder(root: Path, shared_datasets: Path, per_class: int = 4) -> Path:
    """root/pets/{cat,dog}/ holding real CIFAR-10 JPEGs."""
    for name in ("cat", "dog"):
        (root / "pets" / name).mkdir(parents=True)
        for i in range(per_class):
            shutil.copy(shared_datasets / "cifar10_jpg" / "train" / name / f"{i:04d}.jpg", root / "pets" / name)
    return root / "pets"


def _write_batch(path: Path, images: list[tuple[Path, int]]) -> None:
    """One batch in the official format: rows of 1024 R, 1024 G, 1024 B values, labels a list."""
    rows = [np.asarray(Image.open(file).convert("RGB")).transpose(2, 0, 1).reshape(3072) for file, _ in images]
    batch = {b"batch_label": path.name.encode(), b"labels": [label for _, label in images], b"data": np.stack(rows)}
    path.write_bytes(pickle.dumps(batch, protocol=2))  # the protocol of the published files


def _official_batches(root: Path, shared_datasets: Path) -> list[tuple[Path, int]]:
    """A tiny cifar-10-batches-py (20 train, 10 test images); returns the images in pool order."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    train, test = _cifar_jpgs(shared_datasets, "train", 2), _cifar_jpgs(shared_datasets, "test", 1)
    for number in range(5):
        _write_batch(folder / f"data_batch_{number + 1}", train[number * 4 : number * 4 + 4])
    _write_batch(folder / "test_batch", test)
    return train + test


class _CreatesFile:
    """What an attacker would pickle: unpickling it calls open(path, "w")."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.path), "w"))


def _labels_of(data: LoadedData, split: str) -> Counter[int]:
    return Counter(getattr(data, split).labels.tolist())


def test_hymenoptera_pools_all_398_images_of_train_and_val(hymenoptera: LoadedData) -> None:
    assert sum(len(part) for part in (hymenoptera.train, hymenoptera.val, hymenoptera.test)) == 398


def test_hymenoptera_is_split_10_10_80(hymenoptera: LoadedData) -> None:
    sizes = [len(part) for part in (hymenoptera.train, hymenoptera.val, hymenoptera.test)]
    assert all(abs(size - share * 398) <= 2 for size, share in zip(sizes, (0.1, 0.1, 0.8))), sizes


def test_hymenoptera_has_two_classes_split_stratified(hymenoptera: LoadedData) -> None:
    # 194 ants and 204 bees: every split holds them in that proportion, within one image.
    assert hymenoptera.class_names == ["ants", "bees"]
    for split, share in (("train", 0.1), ("val", 0.1), ("test", 0.8)):
        counts = _labels_of(hymenoptera, split)
        assert abs(counts[0] - share * 194) < 1 and abs(counts[1] - share * 204) < 1, (split, counts)


def test_folder_datasets_are_stored_at_image_size_times_256_over_224(hymenoptera: LoadedData) -> None:
    assert hymenoptera.storage_size == 37 and hymenoptera.train.images.shape[1:] == (3, 37, 37)


def test_split_hash_fingerprints_the_recorded_indices(hymenoptera: LoadedData) -> None:
    indices = hymenoptera.indices
    assert hymenoptera.split_hash == split_hash(SplitIndices(indices["train"], indices["val"], indices["test"]))


def test_cifar10_subsets_from_jpgs_are_exactly_class_balanced(small_cifar: LoadedData) -> None:
    assert [set(_labels_of(small_cifar, split).values()) for split in ("train", "val", "test")] == [{4}, {2}, {5}]


def test_cifar10_val_is_carved_from_training_images_not_in_train(small_cifar: LoadedData) -> None:
    train, val = set(small_cifar.indices["train"]), set(small_cifar.indices["val"])
    assert not train & val and max(train | val) < 50_000


def test_cifar10_test_comes_from_the_official_test_images(small_cifar: LoadedData) -> None:
    assert min(small_cifar.indices["test"]) >= 50_000


def test_cifar10_stays_at_its_native_32_px(small_cifar: LoadedData) -> None:
    assert small_cifar.train.images.shape[1:] == (3, 32, 32) and small_cifar.class_names == list(CIFAR10_CLASSES)


def test_cifar10_pickled_batches_load_with_their_pixels_and_labels(tmp_path: Path, shared_datasets: Path) -> None:
    originals = _official_batches(tmp_path, shared_datasets)
    data = load_data(DatasetConfig(name="cifar10", train_size=10, val_size=10), tmp_path, image_size=32)
    for split in ("train", "val", "test"):
        part = getattr(data, split)
        for image, label, position in zip(part.images, part.labels, data.indices[split]):
            file, expected_label = originals[position]
            assert torch.equal(image, torch.from_numpy(np.array(Image.open(file).convert("RGB"))).permute(2, 0, 1))
            assert label == expected_label


def test_a_cifar10_pickle_that_would_run_code_is_refused(tmp_path: Path, shared_datasets: Path) -> None:
    _official_batches(tmp_path, shared_datasets)
    marker = tmp_path / "pwned"
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps(_CreatesFile(marker)))
    with pytest.raises(InvalidDataset, match=r"refusing [\w.]*open"):
        load_data(DatasetConfig(name="cifar10", train_size=10, val_size=10), tmp_path, image_size=32)
    assert not marker.exists()


def test_a_corrupt_image_raises_bad_image_naming_the_file(tmp_path: Path, shared_datasets: Path) -> None:
    (_imagefolder(tmp_path, shared_datasets) / "cat" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut short")
    with pytest.raises(BadImage, match="broken.jpg"):
        load_data(DatasetConfig(name="imagefolder", path="pets"), tmp_path, image_size=32)


def test_a_corrupt_image_is_skipped_and_counted_when_asked(tmp_path: Path, shared_datasets: Path) -> None:
    (_imagefolder(tmp_path, shared_datasets) / "cat" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut short")
    config = DatasetConfig(name="imagefolder", path="pets", on_bad_image="skip")
    data = load_data(config, tmp_path, image_size=32)
    assert data.skipped == ["cat/broken.jpg"] and len(data.train) + len(data.val) + len(data.test) == 8


def test_imagefolder_accepts_any_case_of_the_image_extensions(tmp_path: Path, shared_datasets: Path) -> None:
    folder = _imagefolder(tmp_path, shared_datasets)
    Image.open(folder / "dog" / "0000.jpg").save(folder / "dog" / "extra.PNG")
    (folder / "dog" / "notes.txt").write_text("not an image")
    data = load_data(DatasetConfig(name="imagefolder", path="pets"), tmp_path, image_size=32)
    assert len(data.train) + len(data.val) + len(data.test) == 9


def test_a_selection_too_big_for_memory_is_refused_before_decoding(tmp_path: Path, shared_datasets: Path) -> None:
    _imagefolder(tmp_path, shared_datasets)
    config = DatasetConfig(name="imagefolder", path="pets")
    need = 8 * 3 * 37 * 37  # 8 images stored at round(32 × 256 / 224) = 37 px
    with pytest.raises(InvalidDataset, match=r"the 8 selected images need 0\.0 GB .* lower image_size, or select fewer"):
        load_data(config, tmp_path, image_size=32, memory_budget_bytes=need - 1)
    assert len(load_data(config, tmp_path, image_size=32, memory_budget_bytes=need).train) > 0


def test_the_memory_check_reads_this_machines_available_memory() -> None:
    available = available_memory()
    assert available is not None and 2**20 < available < 2**50  # Linux: MemAvailable, in bytes


def test_a_missing_folder_raises_dataset_not_found_naming_it(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFound, match="hymenoptera_data.*download.pytorch.org"):
        load_data(DatasetConfig(name="hymenoptera"), tmp_path, image_size=32)


def test_a_train_size_larger_than_available_is_invalid_naming_the_field() -> None:
    config = DatasetConfig(name="fake", num_images=60, train_size=40)  # the train split holds 30
    with pytest.raises(InvalidDataset, match=r"dataset\.train_size = 40 .*30 images in all"):
        load_data(config, Path("/nonexistent"), image_size=32)


def test_a_dataset_linked_in_by_an_admin_at_its_catalog_name_is_found(data_root: Path) -> None:
    assert find_dataset_dir(DatasetConfig(name="hymenoptera"), data_root) == data_root / "hymenoptera_data"


def test_a_path_leading_out_of_the_data_root_is_refused(tmp_path: Path, shared_datasets: Path) -> None:
    outside = _imagefolder(tmp_path / "elsewhere", shared_datasets)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "mine").symlink_to(outside, target_is_directory=True)
    with pytest.raises(InvalidDataset, match="outside the data root"):
        find_dataset_dir(DatasetConfig(name="imagefolder", path="mine"), tmp_path / "data")


def test_a_link_inside_a_dataset_leading_out_of_the_data_root_is_refused(tmp_path: Path, shared_datasets: Path) -> None:
    secret = _imagefolder(tmp_path / "elsewhere", shared_datasets) / "cat" / "0000.jpg"
    folder = _imagefolder(tmp_path / "data", shared_datasets)
    (folder / "dog" / "stolen.jpg").symlink_to(secret)
    with pytest.raises(InvalidDataset, match="stolen.jpg"):
        load_data(DatasetConfig(name="imagefolder", path="pets"), tmp_path / "data", image_size=32)


def test_digits_load_offline_as_8_px_rgb() -> None:
    data = load_data(DatasetConfig(name="digits"), Path("/nonexistent"), image_size=32)
    assert len(data.train) + len(data.val) + len(data.test) == 1797 and data.train.images.shape[1:] == (3, 8, 8)


def test_fake_classes_differ_in_mean_colour() -> None:
    data = load_data(DatasetConfig(name="fake"), Path("/nonexistent"), image_size=32)
    means = [data.train.images[data.train.labels == c].float().mean(dim=(0, 2, 3)) for c in range(3)]
    assert all((means[a] - means[b]).abs().max() > 40 for a, b in ((0, 1), (0, 2), (1, 2)))


def test_a_split_with_no_images_is_an_empty_tensor_of_the_stored_size() -> None:
    data = load_data(DatasetConfig(name="fake", fractions=(0.5, 0.0, 0.5)), Path("/nonexistent"), image_size=32)
    assert (data.val.images.shape, len(data.val)) == ((0, 3, 32, 32), 0)


def test_num_classes_comes_from_the_catalog_or_the_class_folders(tmp_path: Path, shared_datasets: Path) -> None:
    _imagefolder(tmp_path, shared_datasets)
    counts = [num_classes_for(DatasetConfig(name=name, path=path), tmp_path) for name, path in
              (("cifar10", None), ("imagefolder", "pets"))]  # fmt: skip
    assert counts == [10, 2]


def test_caltech101_keeps_the_background_class_as_the_lectures_102_classes(tmp_path: Path) -> None:
    # The lecture's Caltech-101 has 102 classes (9,144 images): BACKGROUND_Google is one of them.
    folder = tmp_path / "caltech101" / "101_ObjectCategories"
    names = ["BACKGROUND_Google"] + [f"category_{i:03d}" for i in range(101)]
    for name in names:
        (folder / name).mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (12, 10), (i * 90, 40, 200)).save(folder / name / f"image_{i:04d}.jpg")
    config = DatasetConfig(name="caltech101", fractions=(0.5, 0.0, 0.5))

    data = load_data(config, tmp_path, image_size=8, num_workers=1)

    assert num_classes_for(config, tmp_path) == 102
    assert "BACKGROUND_Google" in data.class_names and len(data.class_names) == 102


# --- the training split stored whole, for crops over the whole image -------------------------


@pytest.fixture(scope="module")
def hymenoptera_whole(tmp_path_factory: pytest.TempPathFactory, shared_datasets: Path) -> tuple[Path, LoadedData]:
    root = _linked_root(tmp_path_factory.mktemp("data"), shared_datasets, "hymenoptera_data")
    return root, load_data(DatasetConfig(name="hymenoptera"), root, image_size=32, whole_train=True)


def test_whole_training_images_record_each_originals_width_and_height(
    hymenoptera_whole: tuple[Path, LoadedData],
) -> None:
    root, whole = hymenoptera_whole
    folder, files = select_files(DatasetConfig(name="hymenoptera"), root)
    originals = []
    for file in files["train"]:
        with Image.open(folder / file) as image:
            originals.append(list(image.size))
    assert whole.train.sizes is not None and whole.train.sizes.tolist() == originals
    assert sum(w != h for w, h in originals) > 0.9 * len(originals)  # real photos are oblong


def test_whole_training_images_are_the_whole_photo_squashed_not_its_central_square(
    hymenoptera: LoadedData, hymenoptera_whole: tuple[Path, LoadedData]
) -> None:
    root, whole = hymenoptera_whole
    folder, files = select_files(DatasetConfig(name="hymenoptera"), root)
    side = whole.storage_size
    for i in range(5):
        with Image.open(folder / files["train"][i]) as image:
            squashed = torch.from_numpy(np.array(image.convert("RGB").resize((side, side), Image.Resampling.BILINEAR)))
        difference = {
            name: (data.train.images[i].permute(1, 2, 0).float() - squashed.float()).abs().mean().item()
            for name, data in (("whole", whole), ("central", hymenoptera))
        }
        # JPEG draft decoding aside, the same picture; the central square is another one.
        assert difference["whole"] < 8 and difference["central"] > 2 * difference["whole"], difference


def test_whole_training_images_leave_val_and_test_central_as_evaluation_sees_them(
    hymenoptera: LoadedData, hymenoptera_whole: tuple[Path, LoadedData]
) -> None:
    _, whole = hymenoptera_whole
    assert torch.equal(whole.val.images, hymenoptera.val.images) and torch.equal(whole.test.images, hymenoptera.test.images)
    assert (whole.val.sizes, whole.test.sizes, hymenoptera.train.sizes) == (None, None, None)
    assert whole.indices == hymenoptera.indices


def test_whole_training_images_have_their_own_decode_cache_entry(tmp_path: Path, shared_datasets: Path) -> None:
    root = _linked_root(tmp_path / "data", shared_datasets, "hymenoptera_data")
    config, cache = DatasetConfig(name="hymenoptera", train_size=20, val_size=4, test_size=4), tmp_path / "cache"
    first = load_data(config, root, 32, cache_dir=cache, whole_train=True)
    again = load_data(config, root, 32, cache_dir=cache, whole_train=True)
    central = load_data(config, root, 32, cache_dir=cache)
    assert (first.from_cache, again.from_cache, central.from_cache) == (False, True, False)
    assert again.train.sizes is not None and torch.equal(again.train.sizes, first.train.sizes)
    assert torch.equal(again.train.images, first.train.images) and central.train.sizes is None


def test_native_size_datasets_are_whole_already_and_record_no_sizes() -> None:
    data = load_data(DatasetConfig(name="fake", num_images=12), Path("/nonexistent"), 32, whole_train=True)
    assert data.train.sizes is None
