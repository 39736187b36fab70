"""Shifted copies of a class-per-folder image set, for the domain shift walkthrough (docs/evaluation.md).

    python bench/domain_shift.py SOURCE_DIR OUT_DIR

writes OUT_DIR/<shift>/<class>/<file> for each shift: the original (`plain`), `grayscale`,
`jitter` (colour, brightness and contrast pulled hard, seeded per file), `blur`
(Gaussian, radius 3) and `dark` (brightness × 0.4). Evaluate a run on each with
`stagewise evaluate RUN OUT_DIR/<shift>` or upload them and use the transfer matrix.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageEnhance, ImageFilter, ImageOps

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


def _jitter(image: Image.Image, seed: int) -> Image.Image:
    draw = random.Random(seed)
    for enhance in (ImageEnhance.Color, ImageEnhance.Brightness, ImageEnhance.Contrast):
        image = enhance(image).enhance(draw.choice([draw.uniform(0.3, 0.6), draw.uniform(1.6, 2.2)]))
    return image


SHIFTS: dict[str, Callable[[Image.Image, int], Image.Image]] = {
    "plain": lambda image, _: image,
    "grayscale": lambda image, _: ImageOps.grayscale(image).convert("RGB"),
    "jitter": _jitter,
    "blur": lambda image, _: image.filter(ImageFilter.GaussianBlur(3)),
    "dark": lambda image, _: ImageEnhance.Brightness(image).enhance(0.4),
}


def write_shifts(source: Path, out: Path) -> int:
    """Every shift of every image under `source`; returns the number of images per shift."""
    files = sorted(p for p in source.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    for index, path in enumerate(files):
        image = Image.open(path).convert("RGB")
        for name, shift in SHIFTS.items():
            target = out / name / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shift(image, index).save(target, quality=95)
    return len(files)


if __name__ == "__main__":
    count = write_shifts(Path(sys.argv[1]), Path(sys.argv[2]))
    print(f"{count} images × {len(SHIFTS)} shifts")
