"""Pack the benchmark's images into one file for the GPU machine, and unpack them there.

    python bench/pack_data.py pack   [--data-dir ../shared/datasets] [--out .gpu-data/images.npz]
    python bench/pack_data.py unpack .gpu-data/images.npz DEST   # DEST becomes a data root

The GPU machine gets a copy of the working tree (64 MiB at most) and nothing else, so the
real JPEGs travel as one .npz in the ignored `.gpu-data/`: every Ants & Bees photo and the
CIFAR-10-4000 selection (4,000 train + 1,000 val, class-balanced, Stagewise's seeded
split) plus 2,000 test images. Arrays: `data` (all file bytes, uint8), `offsets` (N+1),
`labels`, `paths` (relative to the data root); no pickles, so it loads with
allow_pickle=False. To stay under ~40 MB the Ants & Bees photos are re-encoded at JPEG
quality 90 at their own size (the originals are ~115 KB at 500x375); the few larger than
600 px (8 of 397) are shrunk to 500 px first. Decoding cost follows the pixel count, so the
baseline's decode work is that of the originals. CIFAR-10 JPEGs travel as they are. Unpacked, `cifar10_jpg` holds only the selection: a config with
train_size 4000, val_size 1000, test_size 2000 selects all of them there (the test split
exactly; train and val are a seeded class-balanced 4,000/1,000 division of the same 5,000).
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from app.schemas.catalog import DATASETS
from app.schemas.train_config import DatasetConfig
from worker.training.datasets import IMAGE_EXTENSIONS, select_files

REPO = Path(__file__).resolve().parents[1]
MAX_SIDE = 600  # larger photos are shrunk to SHRUNK_SIDE: the benchmark stores Ants & Bees at 256 px
SHRUNK_SIDE = 500
QUALITY = 90  # the originals are ~q95+ at 500x375 (115 KB each); q90 halves them, same pixel count


def _bytes(path: Path) -> bytes:
    """The file's bytes, or a smaller re-encoding of an Ants & Bees photo (same pixels size
    unless over MAX_SIDE; JPEG quality QUALITY), whichever is smaller."""
    original = path.read_bytes()
    if "hymenoptera_data" not in path.parts:
        return original  # CIFAR-10 JPEGs are ~1 KB already
    with Image.open(path) as image:
        if max(image.size) > MAX_SIDE:
            image.thumbnail((SHRUNK_SIDE, SHRUNK_SIDE), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        image.convert("RGB").save(out, format="JPEG", quality=QUALITY)
    return min(original, out.getvalue(), key=len)


def _selection(data_dir: Path, cifar: dict[str, int]) -> list[str]:
    """Relative paths under `data_dir` of every image to pack."""
    ants = data_dir / "hymenoptera_data"
    files = sorted(
        p.relative_to(data_dir).as_posix() for p in ants.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS
    )
    config = DatasetConfig.model_validate({"name": "cifar10", "path": "cifar10_jpg", **cifar})
    folder, splits = select_files(config, data_dir)
    prefix = folder.relative_to(data_dir).as_posix()
    return files + [f"{prefix}/{file}" for split in splits.values() for file in split]


def pack(data_dir: Path, out: Path, cifar: dict[str, int]) -> None:
    """Write the selected images' bytes, offsets, labels and paths to `out`."""
    paths = _selection(data_dir, cifar)
    blobs = [_bytes(data_dir / path) for path in paths]
    offsets = np.cumsum([0] + [len(blob) for blob in blobs], dtype=np.int64)
    names = {
        "hymenoptera_data": list(DATASETS["hymenoptera"].class_names),
        "cifar10_jpg": list(DATASETS["cifar10"].class_names),
    }
    labels = [names[path.split("/")[0]].index(path.split("/")[-2]) for path in paths]
    out.parent.mkdir(parents=True, exist_ok=True)
    data = np.frombuffer(b"".join(blobs), dtype=np.uint8)
    np.savez(out, data=data, offsets=offsets, labels=np.array(labels), paths=np.array(paths))
    print(f"{out}: {len(paths)} images, {out.stat().st_size / 1e6:.1f} MB")


def unpack(packed: Path, dest: Path) -> None:
    """Write every packed file under `dest` (skipping files already there with the same size)."""
    with np.load(packed, allow_pickle=False) as arrays:
        data, offsets, paths = arrays["data"], arrays["offsets"], arrays["paths"]
        for i, relative in enumerate(paths.tolist()):
            parts = PurePosixPath(relative).parts
            if PurePosixPath(relative).is_absolute() or ".." in parts:
                raise ValueError(f"refusing path {relative!r} outside the destination")
            target = dest.joinpath(*parts)
            blob = data[offsets[i] : offsets[i + 1]].tobytes()
            if target.is_file() and target.stat().st_size == len(blob):
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(blob)
    print(f"{dest}: {len(paths)} images")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    packing = commands.add_parser("pack")
    packing.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "datasets")
    packing.add_argument("--out", type=Path, default=REPO / ".gpu-data" / "images.npz")
    packing.add_argument("--cifar-train", type=int, default=4000)
    packing.add_argument("--cifar-val", type=int, default=1000)
    packing.add_argument("--cifar-test", type=int, default=2000)
    unpacking = commands.add_parser("unpack")
    unpacking.add_argument("packed", type=Path)
    unpacking.add_argument("dest", type=Path)
    args = parser.parse_args()
    if args.command == "pack":
        sizes = {"train_size": args.cifar_train, "val_size": args.cifar_val, "test_size": args.cifar_test}
        pack(args.data_dir, args.out, sizes)
    else:
        unpack(args.packed, args.dest)


if __name__ == "__main__":
    main()
