"""Decoding image files once into an (N, 3, S, S) uint8 tensor."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from worker.training.errors import BadImage, InvalidDataset
from worker.training.images import decode_images


@pytest.fixture
def ant_photos(shared_datasets: Path) -> list[Path]:
    """A few real Ants & Bees photos, of varied sizes and aspect ratios."""
    return sorted((shared_datasets / "hymenoptera_data" / "train" / "ants").glob("*.jpg"))[:6]


@pytest.fixture
def cifar_files(tmp_path: Path, shared_datasets: Path) -> list[Path]:
    """Four real 32x32 CIFAR-10 JPEGs copied into a scratch folder (so a bad one can join them)."""
    files = sorted((shared_datasets / "cifar10_jpg" / "test" / "ship").glob("*.jpg"))[:4]
    return [Path(shutil.copy(file, tmp_path / file.name)) for file in files]


def _truncated_copy(source: Path, target: Path) -> Path:
    target.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    return target


def test_real_jpegs_decode_to_the_requested_square_size(ant_photos: list[Path]) -> None:
    images, _, _ = decode_images(ant_photos, 40, num_workers=2)
    assert (images.shape, images.dtype) == ((6, 3, 40, 40), torch.uint8)


def test_every_readable_file_is_kept_in_order(ant_photos: list[Path]) -> None:
    _, kept, skipped = decode_images(ant_photos, 16)
    assert (kept, skipped) == (list(range(6)), [])


def test_native_size_keeps_the_pixels_exactly(tmp_path: Path) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "lossless.png")
    images, _, _ = decode_images([tmp_path / "lossless.png"], None)
    assert torch.equal(images[0], torch.from_numpy(pixels).permute(2, 0, 1))


def test_a_wide_image_is_cropped_to_its_center(tmp_path: Path) -> None:
    # Left third red, middle third green, right third blue: the center square is green.
    pixels = np.zeros((10, 30, 3), dtype=np.uint8)
    pixels[:, :10, 0], pixels[:, 10:20, 1], pixels[:, 20:, 2] = 255, 255, 255
    Image.fromarray(pixels).save(tmp_path / "wide.png")
    images, _, _ = decode_images([tmp_path / "wide.png"], 10)
    assert images[0, :, 5, 5].tolist() == [0, 255, 0]


def test_grey_images_become_three_equal_channels(tmp_path: Path) -> None:
    Image.new("L", (8, 8), color=77).save(tmp_path / "grey.png")
    images, _, _ = decode_images([tmp_path / "grey.png"], 8)
    assert images[0, :, 0, 0].tolist() == [77, 77, 77]


def test_a_corrupt_file_raises_bad_image_naming_it(cifar_files: list[Path], tmp_path: Path) -> None:
    broken = _truncated_copy(cifar_files[0], tmp_path / "broken.jpg")
    with pytest.raises(BadImage, match="broken.jpg"):
        decode_images([*cifar_files, broken], 32)


def test_a_corrupt_file_is_skipped_and_reported_when_asked(cifar_files: list[Path], tmp_path: Path) -> None:
    broken = _truncated_copy(cifar_files[0], tmp_path / "broken.jpg")
    images, kept, skipped = decode_images([cifar_files[0], broken, cifar_files[1]], 32, on_bad_image="skip")
    assert (len(images), kept, skipped) == (2, [0, 2], [broken])


def test_native_images_of_different_sizes_are_refused(cifar_files: list[Path], ant_photos: list[Path]) -> None:
    with pytest.raises(InvalidDataset, match="share one size"):
        decode_images([cifar_files[0], ant_photos[0]], None)


def test_no_files_give_an_empty_batch_of_the_requested_size() -> None:
    images, kept, skipped = decode_images([], 24)
    assert (images.shape, kept, skipped) == ((0, 3, 24, 24), [], [])
