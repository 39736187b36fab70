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


def _decode(source: Path | BinaryIO, size: int | None, max_pixels: int | None = None) -> np.ndarray:
    """One file as an H x W x 3 uint8 array (square `size` x `size` unless size is None).

    `max_pixels` refuses larger images from their header, before any pixel is decoded.
    """
    with Image.open(source) as image:
        if max_pixels is not None and image.width * image.height > max_pixels:
            raise ImageTooLarge(f"{image.width}x{image.height} pixels, more than the {max_pixels} allowed")
        if size is not None:
            # JPEG decodes at 1/2, 1/4 or 1/8 scale almost for free; draft keeps both sides >= size.
            image.draft("RGB", (size, size))
        rgb = image.convert("RGB")
    if size is not None:
        rgb = _resize_and_crop(rgb, size)
    return np.array(rgb)  # writable: torch.from_numpy warns on read-only buffers


def decode_one(source: BinaryIO, size: int, *, max_pixels: int) -> torch.Tensor:
    """One image (an upload) as a (3, size, size) uint8 tensor, decoded exactly like a dataset's files.

    Raises:
        ImageTooLarge: the header declares more than `max_pixels` pixels (a decompression bomb).
        BadImage: not an image Pillow can read, or a truncated one.
    """
    try:
        pixels = _decode(source, size, max_pixels)
    except Image.DecompressionBombError as error:  # Pillow's own ceiling, above max_pixels
        raise ImageTooLarge(str(error)) from error
    except _UNREADABLE as error:
        raise BadImage(f"not a readable image ({error})") from error
    return torch.from_numpy(pixels).permute(2, 0, 1).contiguous()


def _read(path: Path, size: int | None, skip: bool) -> np.ndarray | None:
    try:
        return _decode(path, size)
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
    """Decode image files into one uint8 tensor.

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
    if on_bad_image not in ("error", "skip"):
        raise ValueError(f"on_bad_image must be 'error' or 'skip', got {on_bad_image!r}")
    out = torch.empty((len(paths), 3, size, size), dtype=torch.uint8) if size is not None else None
    kept: list[int] = []
    skipped: list[Path] = []
    read = partial(_read, size=size, skip=on_bad_image == "skip")
    with ThreadPoolExecutor(max_workers=num_workers or os.cpu_count() or 1) as pool:
        try:
            for position, pixels in enumerate(pool.map(read, paths)):
                if on_image is not None:
                    on_image()
                if pixels is None:
                    skipped.append(paths[position])
                    continue
                out = _store(out, pixels, len(paths), len(kept), paths[position])
                kept.append(position)
        except BaseException:
            pool.shutdown(cancel_futures=True)  # do not decode thousands of files only to raise
            raise
    if out is None:
        return torch.empty((0, 3, 0, 0), dtype=torch.uint8), kept, skipped
    return (out if len(kept) == len(paths) else out[: len(kept)].clone()), kept, skipped
