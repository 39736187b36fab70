"""Image files decoded once, in parallel, into one uint8 tensor kept in memory.

Decoding is the slow part of a naive data pipeline (about 280 JPEGs/s per core at
500x375), so a run pays it once: files become an (N, 3, S, S) uint8 tensor and every
epoch after that augments tensors (`worker.training.transforms`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from PIL import Image

from worker.training.errors import BadImage, ImageTooLarge, InvalidDataset

# What Pillow raises for a truncated, corrupt or foreign file (UnidentifiedImageError is an OSError).
_UNREADABLE = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


def _resize_and_crop(image: Image.Image, size: int) -> Image.Image:
    """Shorter side to `size`, then the central square: torchvision's Resize + CenterCrop."""
    width, height = image.size
    if width == height == size:
        return image
    if min(width, height) != size:
        short, long = sorted((width, height))
        long = int(size * long / short)
        image = image.resize((size, long) if width <= height else (long, size), Image.Resampling.BILINEAR)
    width, height = image.size
    left, top = round((width - size) / 2), round((height - size) / 2)
    return image.crop((left, top, left + size, top + size))


def _squash(image: Image.Image, size: int) -> Image.Image:
    """The whole image resized to `size` x `size`, each side on its own (the aspect is recorded apart)."""
    if image.size == (size, size):
        return image
    return image.resize((size, size), Image.Resampling.BILINEAR)


def _decode(
    source: Path | BinaryIO, size: int | None, max_pixels: int | None = None, *, whole: bool = False
) -> tuple[np.ndarray, tuple[int, int]]:
    """One file as an H x W x 3 uint8 array, and its original (width, height).

    The array is square `size` x `size` unless size is None: the central square, or with
    `whole` the whole image squashed. `max_pixels` refuses larger images from their header,
    before any pixel is decoded.
    """
    with Image.open(source) as image:
        original = image.size
        if max_pixels is not None and image.width * image.height > max_pixels:
            raise ImageTooLarge(f"{image.width}x{image.height} pixels, more than the {max_pixels} allowed")
        if size is not None:
            # JPEG decodes at 1/2, 1/4 or 1/8 scale almost for free; draft keeps both sides >= size.
            image.draft("RGB", (size, size))
        rgb = image.convert("RGB")
    if size is not None:
        rgb = _squash(rgb, size) if whole else _resize_and_crop(rgb, size)
    return np.array(rgb), original  # writable: torch.from_numpy warns on read-only buffers


def decode_one(source: BinaryIO, size: int, *, max_pixels: int) -> torch.Tensor:
    """One image (an upload) as a (3, size, size) uint8 tensor, decoded exactly like a dataset's files.

    Raises:
        ImageTooLarge: the header declares more than `max_pixels` pixels (a decompression bomb).
        BadImage: not an image Pillow can read, or a truncated one.
    """
    try:
        pixels, _ = _decode(source, size, max_pixels)
    except Image.DecompressionBombError as error:  # Pillow's own ceiling, above max_pixels
        raise ImageTooLarge(str(error)) from error
    except _UNREADABLE as error:
        raise BadImage(f"not a readable image ({error})") from error
    return torch.from_numpy(pixels).permute(2, 0, 1).contiguous()


def _read(path: Path, size: int | None, skip: bool, whole: bool) -> tuple[np.ndarray, tuple[int, int]] | None:
    try:
        return _decode(path, size, whole=whole)
    except _UNREADABLE as error:
        if skip:
            return None
        raise BadImage(
            f"cannot decode image {path}: {error}. Replace or delete the file, "
            "or set dataset.on_bad_image: skip to leave such files out"
        ) from error


def _store(out: torch.Tensor | None, pixels: np.ndarray, count: int, slot: int, path: Path) -> torch.Tensor:
    """Write one decoded image into slot `slot` of the output, allocating it on first use."""
    if out is None:
        out = torch.empty((count, 3, *pixels.shape[:2]), dtype=torch.uint8)
    elif tuple(pixels.shape[:2]) != tuple(out.shape[2:]):
        raise InvalidDataset(
            f"image {path} is {pixels.shape[1]}x{pixels.shape[0]} but earlier ones are "
            f"{out.shape[3]}x{out.shape[2]}: images kept at native size must all share one size"
        )
    out[slot] = torch.from_numpy(pixels).permute(2, 0, 1)
    return out


def decode_images(
    paths: Sequence[Path], size: int | None, *, num_workers: int = 0, on_bad_image: str = "error",
    on_image: Callable[[], None] | None = None,
) -> tuple[torch.Tensor, list[int], list[Path]]:
    """Decode image files into one uint8 tensor of central squares.

    Args:
        paths: image files, any format Pillow reads; converted to RGB.
        size: shorter side resized to `size`, then center-cropped square; None keeps
            the native size, which must then be the same for every image.
        num_workers: decoding threads (Pillow releases the GIL); 0 means one per CPU.
        on_bad_image: "error" raises on an unreadable file, "skip" leaves it out.
        on_image: called (in this thread) after each file is decoded or skipped, for progress.

    Returns:
        (images, kept, skipped): an (N, 3, S, S) uint8 tensor of the decoded images,
        their positions in `paths`, and the paths that were skipped.

    Raises:
        BadImage: a file cannot be decoded and on_bad_image is "error".
        InvalidDataset: size is None and the images differ in size.
    """
    images, _, kept, skipped = _decode_all(paths, size, False, num_workers, on_bad_image, on_image)
    return images, kept, skipped


def decode_whole_images(
    paths: Sequence[Path], size: int, *, num_workers: int = 0, on_bad_image: str = "error",
    on_image: Callable[[], None] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, list[int], list[Path]]:
    """Decode image files whole, each squashed to `size` x `size`, with their original sizes.

    What a random resized crop over the whole image needs (`transforms.prepare_batch` with
    `sizes`): a box drawn in the original's pixels maps into the square by `size / width`
    across and `size / height` down. Arguments as `decode_images`.

    Returns:
        (images, sizes, kept, skipped): (N, 3, size, size) uint8, (N, 2) int64 original
        (width, height), the kept positions in `paths`, the skipped paths.
    """
    return _decode_all(paths, size, True, num_workers, on_bad_image, on_image)


def _decode_all(
    paths: Sequence[Path], size: int | None, whole: bool, num_workers: int, on_bad_image: str,
    on_image: Callable[[], None] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, list[int], list[Path]]:
    if on_bad_image not in ("error", "skip"):
        raise ValueError(f"on_bad_image must be 'error' or 'skip', got {on_bad_image!r}")
    out = torch.empty((len(paths), 3, size, size), dtype=torch.uint8) if size is not None else None
    originals = torch.empty((len(paths), 2), dtype=torch.int64)
    kept: list[int] = []
    skipped: list[Path] = []
    read = partial(_read, size=size, skip=on_bad_image == "skip", whole=whole)
    with ThreadPoolExecutor(max_workers=num_workers or os.cpu_count() or 1) as pool:
        try:
            for position, decoded in enumerate(pool.map(read, paths)):
                if on_image is not None:
                    on_image()
                if decoded is None:
                    skipped.append(paths[position])
                    continue
                out = _store(out, decoded[0], len(paths), len(kept), paths[position])
                originals[len(kept)] = torch.tensor(decoded[1])
                kept.append(position)
        except BaseException:
            pool.shutdown(cancel_futures=True)  # do not decode thousands of files only to raise
            raise
    if out is None:
        return torch.empty((0, 3, 0, 0), dtype=torch.uint8), originals[:0], kept, skipped
    if len(kept) < len(paths):
        return out[: len(kept)].clone(), originals[: len(kept)].clone(), kept, skipped
    return out, originals, kept, skipped
