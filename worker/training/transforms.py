"""Per-batch resizing, augmentation and normalization of stored uint8 images.

Images arrive as the (B, 3, S, S) uint8 tensors of `worker.training.datasets`, on the
CPU or already on the GPU, and leave as float32 (B, 3, image_size, image_size) model
inputs. Everything is batched tensor work on the images' device: no per-image Python
loop and no PIL, so augmentation never becomes the bottleneck the decoder used to be.

Folder datasets are stored at S = round(image_size * 256 / 224), so the eval view is
the classic Resize(256) + CenterCrop(224); fixed-size datasets (CIFAR, digits) stay
native and are resized. For a random resized crop, the training split is stored whole,
squashed to S x S, with each original's size: boxes are drawn over the whole original. Random parameters are drawn from a CPU generator, so one seed
gives the same augmentation on CPU and CUDA.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from functools import lru_cache
from typing import cast

import torch
import torch.nn.functional as F
from torchvision.ops import roi_align

from app.schemas.catalog import NORMALIZATIONS

AUGMENTS = ("none", "flip", "crop_flip", "resized_crop_flip")
EVAL_CROP_RATIO = 224 / 256  # the ImageNet convention: resize to 256, center-crop 224
# RandomResizedCrop's area and aspect ranges, torchvision's defaults (and its reference
# recipe's), in the original image's pixels: over the whole image when the training split is
# stored whole (`ImageTensors.sizes`), else over the stored square.
_CROP_SCALE = (0.08, 1.0)
_CROP_RATIO = (3 / 4, 4 / 3)
_CROP_TRIES = 10  # as torchvision: draw up to 10 boxes, keep the first that fits


def _resize(x: torch.Tensor, size: int) -> torch.Tensor:
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


def eval_view(images: torch.Tensor, image_size: int) -> torch.Tensor:
    """The central view at `image_size`: crop 224/256 of a larger image, or resize a smaller one."""
    side = images.shape[-1]
    if side > image_size:
        crop = max(image_size, round(side * EVAL_CROP_RATIO))
        top = round((side - crop) / 2)
        images = images[..., top : top + crop, top : top + crop]  # crop in uint8: less to convert
    return _resize(images.float(), image_size)


def to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """`t` (on the CPU) on `device` without stalling a GPU: through pinned memory, asynchronously.

    A plain `.to("cuda")` from pageable memory waits for every kernel queued before it, so
    one per batch (indices, random parameters) keeps the CPU from running ahead of the GPU.
    PyTorch's pinned-memory allocator keeps the staging block until the copy has landed.
    """
    if device.type != "cuda" or t.device == device:
        return t.to(device)
    return t.pin_memory().to(device, non_blocking=True)


def flip_mask(batch: int, generator: torch.Generator | None) -> torch.Tensor:
    """Which images of a batch `flip` augmentation mirrors: (B,) bool on the CPU, one draw.

    The loop's cached-features path draws it too, so both paths consume the generator alike.
    """
    return torch.rand(batch, generator=generator) < 0.5


def _flip(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Mirror each image left-right with probability 1/2."""
    flip = flip_mask(x.shape[0], generator)
    return torch.where(to_device(flip, x.device)[:, None, None, None], x.flip(-1), x)


def _pad_crop(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Zero-pad by size // 8 and crop each image back at its own random offset (CIFAR style)."""
    batch, _, size, _ = x.shape
    pad = size // 8
    if pad == 0:
        return x
    padded = F.pad(x, (pad, pad, pad, pad))
    offsets = to_device(torch.randint(0, 2 * pad + 1, (2, batch), generator=generator), x.device)
    steps = torch.arange(size, device=x.device)
    rows = (offsets[0, :, None] + steps)[:, :, None]  # (B, size, 1)
    cols = (offsets[1, :, None] + steps)[:, None, :]  # (B, 1, size)
    picked = padded[torch.arange(batch, device=x.device)[:, None, None], :, rows, cols]  # (B, size, size, C)
    return picked.permute(0, 3, 1, 2).contiguous()


def _random_boxes(sizes: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """(B, 4) boxes x0, y0, x1, y1 in each image's own pixels, drawn as torchvision's
    `RandomResizedCrop.get_params` draws them, for the whole batch at once.

    Args:
        sizes: (B, 2) (width, height) of each image.

    Up to 10 tries of an area in `_CROP_SCALE` of the image's and a log-uniform aspect in
    `_CROP_RATIO`, sides rounded to whole pixels, the first that fits is kept at a random
    position; if none fits, the central box of the image clamped to the aspect range.
    """
    batch = sizes.shape[0]
    width, height = sizes[:, :1].double(), sizes[:, 1:].double()
    shape = (batch, _CROP_TRIES)
    scale = torch.empty(shape, dtype=torch.float64).uniform_(*_CROP_SCALE, generator=generator)
    log_ratio = torch.empty(shape, dtype=torch.float64).uniform_(*map(math.log, _CROP_RATIO), generator=generator)
    area, ratio = width * height * scale, log_ratio.exp()
    widths, heights = (area * ratio).sqrt().round(), (area / ratio).sqrt().round()
    fits = (widths >= 1) & (heights >= 1) & (widths <= width) & (heights <= height)
    first = fits.to(torch.int64).argmax(dim=1, keepdim=True)  # argmax returns the first maximum
    found = fits.any(dim=1)
    fallback_w, fallback_h = _central_fallback(width.squeeze(1), height.squeeze(1))
    w = torch.where(found, widths.gather(1, first).squeeze(1), fallback_w)
    h = torch.where(found, heights.gather(1, first).squeeze(1), fallback_h)
    width, height = width.squeeze(1), height.squeeze(1)
    x0 = torch.where(found, (torch.rand(batch, generator=generator) * (width - w + 1)).floor(), ((width - w) / 2).floor())
    y0 = torch.where(found, (torch.rand(batch, generator=generator) * (height - h + 1)).floor(), ((height - h) / 2).floor())
    return torch.stack([x0, y0, x0 + w, y0 + h], dim=1).float()


def _central_fallback(width: torch.Tensor, height: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """torchvision's box when no try fits: the whole image, cut to the nearest allowed aspect."""
    aspect, low, high = width / height, *_CROP_RATIO
    w = torch.where(aspect > high, (height * high).round(), width)
    h = torch.where(aspect < low, (width / low).round(), height)
    return w, h


def _random_resized_crop(
    images: torch.Tensor, image_size: int, generator: torch.Generator | None, sizes: torch.Tensor | None
) -> torch.Tensor:
    """A random box of each image, resampled to `image_size` in one batched call.

    Boxes are drawn in the original's pixels (`sizes`; None: the stored square is the image)
    and mapped into the stored square, which holds the whole image squashed: x by S / width,
    y by S / height. roi_align with adaptive sampling averages several bilinear samples per
    output pixel when a box is larger than the output, so shrinking does not alias.
    """
    batch, side = images.shape[0], images.shape[-1]
    if sizes is None:
        sizes = torch.tensor([[side, side]]).expand(batch, 2)
    boxes = _random_boxes(sizes, generator)
    boxes = boxes * (side / sizes.float()).repeat(1, 2)  # original pixels → stored pixels
    rois = torch.cat([torch.arange(batch, dtype=boxes.dtype)[:, None], boxes], dim=1)
    x = images.float()
    return roi_align(x, to_device(rois, x.device), output_size=image_size, sampling_ratio=-1, aligned=True)


@lru_cache(maxsize=16)
def _mean_std(normalization: str, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The normalization's (1, 3, 1, 1) mean and std on `device`, made once (not copied per batch)."""
    spec = NORMALIZATIONS[normalization]
    mean = torch.tensor(cast(tuple[float, ...], spec["mean"]), device=device).view(1, 3, 1, 1)
    std = torch.tensor(cast(tuple[float, ...], spec["std"]), device=device).view(1, 3, 1, 1)
    return mean, std


def _normalize(x: torch.Tensor, normalization: str) -> torch.Tensor:
    spec = NORMALIZATIONS[normalization]
    if spec["order"] == "BGR":
        x = x.flip(1)  # Caffe weights were trained on OpenCV's BGR images
    mean, std = _mean_std(normalization, x.device)
    return (x * cast(float, spec["scale"]) - mean) / std


def prepare_batch(
    images: torch.Tensor,
    *,
    train: bool,
    image_size: int,
    augment: str,
    normalization: str,
    generator: torch.Generator | None = None,
    sizes: torch.Tensor | None = None,
) -> torch.Tensor:
    """Turn stored uint8 images into normalized model inputs, augmented when training.

    Args:
        images: (B, 3, S, S) uint8 on any device; the result stays on that device.
        train: apply `augment`; otherwise the deterministic eval view.
        image_size: the output side length.
        augment: "none", "flip" (random horizontal flip), "crop_flip" (pad by
            image_size // 8 at output size, random crop back, flip) or
            "resized_crop_flip" (random resized crop, area 8-100 %, aspect 3/4-4/3, flip).
        normalization: a key of `NORMALIZATIONS`: "imagenet" (RGB / 255, standardised)
            or "caffe" (BGR, 0-255, mean subtracted).
        generator: CPU generator for the random parameters (None: torch's global one).
        sizes: (B, 2) original (width, height) on the CPU when `images` are whole images
            squashed to squares (`datasets.ImageTensors.sizes`): "resized_crop_flip" then
            draws its boxes over the whole original, as torchvision's RandomResizedCrop.
            Only for training with "resized_crop_flip"; None: the images are the squares.

    Returns:
        (B, 3, image_size, image_size) float32.
    """
    if augment not in AUGMENTS:
        raise ValueError(f"unknown augment {augment!r}; allowed: {', '.join(AUGMENTS)}")
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"unknown normalization {normalization!r}; allowed: {', '.join(NORMALIZATIONS)}")
    if images.dtype != torch.uint8 or images.dim() != 4:
        raise ValueError(f"expected (B, 3, S, S) uint8 images, got {images.dtype} {tuple(images.shape)}")
    if sizes is not None and not (train and augment == "resized_crop_flip"):
        raise ValueError("whole squashed images (sizes) are only for training with resized_crop_flip")
    if train and augment == "resized_crop_flip":
        x = _flip(_random_resized_crop(images, image_size, generator, sizes), generator)
    else:
        x = eval_view(images, image_size)
        if train and augment == "crop_flip":
            x = _flip(_pad_crop(x, generator), generator)
        elif train and augment == "flip":
            x = _flip(x, generator)
    return _normalize(x, normalization)


def iterate_batches(
    n: int, batch_size: int, *, shuffle: bool, generator: torch.Generator | None
) -> Iterator[torch.Tensor]:
    """Index batches over range(n), shuffled from `generator` or in order; the last may be short."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    yield from order.split(batch_size)
