"""Training throughput: a plain PyTorch loop against Stagewise's `fit`, same process, same device.

    python bench/train_throughput.py [--device cpu|cuda] [--data-dir ../shared/datasets] [--json out.json]

For ResNet-18 (random init, so no weight files are needed) on the real Ants & Bees JPEGs
(default 224 px; Stagewise's seeded 50/10/40 split) and on the real CIFAR-10 JPEGs at 32 px
(a class-balanced CIFAR-10-N subset), and for: full fine-tune, conv1-3 frozen, linear probe,
and conv1-3 frozen without augmentation (where Stagewise caches the frozen prefix's output):
  (a) the plain loop (`plain_loop.py`: PIL + torchvision transforms + DataLoader workers, fp32);
  (b) `fit` (decode once, or read the decode cache; batched augmentation on the device; on
      CUDA bf16 + channels_last + fused optimizer);
  ceiling: Stagewise's train step on random tensors already on the device (no data path).
Images/s are train-only and averaged over the epochs after the first. The last line is
`speedup_vs_baseline: X.XX` (b/a, full fine-tune, Ants & Bees). On CPU use small sizes
(`--ants-size 64 --cifar-train 200 --epochs 3`): a few minutes on two cores.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: plain_loop sits beside it
from plain_loop import plain_epochs

from app.presets import apply_overrides
from app.schemas.train_config import TrainConfig
from worker.training.backbones import build_model
from worker.training.datasets import load_data
from worker.training.frozen_prefix import split_model
from worker.training.loop import fit
from worker.training.param_groups import apply_freezing, build_optimizer
from worker.training.runtime import Runtime

REPO = Path(__file__).resolve().parents[1]
FROZEN_1_3 = {"conv1": 0, "conv2": 0, "conv3": 0}
VARIANTS: dict[str, dict[str, Any]] = {
    "full fine-tune": {},
    "conv1-3 frozen": {"stages": FROZEN_1_3},
    "linear probe": {"stages": {**FROZEN_1_3, "conv4": 0, "conv5": 0}},
    "conv1-3 frozen, no aug": {"stages": FROZEN_1_3, "augment": "none"},
}
ANTS = "Ants & Bees"


def dataset_configs(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Per benchmark dataset, the base config (before a variant's changes)."""
    common = {"backbone": "resnet18", "weights": "none", "epochs": args.epochs, "batch_size": args.batch_size,
              "test_every": 1000, "optimizer": {"name": "sgd", "lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4}}  # fmt: skip
    cifar = {"name": "cifar10", "path": "cifar10_jpg", "train_size": args.cifar_train,
             "val_size": args.cifar_val, "test_size": args.cifar_test}  # fmt: skip
    return {
        ANTS: common | {"dataset": {"name": "hymenoptera", "fractions": [0.5, 0.1, 0.4]},
                        "image_size": args.ants_size, "augment": "resized_crop_flip"},
        "CIFAR-10": common | {"dataset": cifar, "image_size": 32, "augment": "crop_flip"},
    }  # fmt: skip


def linked_root(data_dir: Path, into: Path) -> Path:
    """A scratch data root linking to the datasets: the decode cache is written there, not in data_dir."""
    for name in ("hymenoptera_data", "cifar10_jpg"):
        (into / name).symlink_to((data_dir / name).resolve(), target_is_directory=True)
    return into


def stagewise_epochs(config: TrainConfig, root: Path, runtime: dict[str, Any]) -> tuple[list[float], float, dict[str, str]]:
    """Train images/s per epoch of `fit`, its setup seconds (decode or cache read, model), its fast path."""
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        result = fit(config, Runtime(data_root=root, out_dir=Path(out), **runtime))
        total = time.perf_counter() - started
    return [r.images_per_s for r in result.records], total - sum(r.seconds for r in result.records), result.fast_path


def decode_seconds(config: TrainConfig, root: Path, threads: int) -> tuple[float, float]:
    """Seconds to load the dataset by decoding (a first run), then from the decode cache (a second run)."""
    with tempfile.TemporaryDirectory() as cache:
        times = []
        for _ in range(2):
            started = time.perf_counter()
            load_data(config.dataset, root, config.resolved_image_size(), num_workers=threads, cache_dir=Path(cache))
            times.append(time.perf_counter() - started)
    return times[0], times[1]


def synthetic_rate(config: TrainConfig, device: torch.device, num_classes: int, steps: int) -> float:
    """Images/s of Stagewise's train step on random tensors already on the device."""
    torch.manual_seed(0)
    layout = torch.channels_last if device.type == "cuda" else torch.preserve_format
    model = build_model(config, num_classes, data_root=REPO).to(device, memory_format=layout).train()
    apply_freezing(model, config, 0)
    optimizer = build_optimizer(model, config, fused=device.type == "cuda")
    parts = split_model(model, config)
    size = config.resolved_image_size()
    x = torch.randn(config.batch_size, 3, size, size, device=device).contiguous(memory_format=layout)
    y = torch.randint(0, num_classes, (config.batch_size,), device=device)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()

    def step() -> None:
        with autocast:
            if parts is not None:
                with torch.no_grad():  # as fit: the frozen prefix records nothing for autograd
                    features = parts.prefix(x)
                logits = parts.suffix(features)
            else:
                logits = model(x)
            loss = F.cross_entropy(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return steps * config.batch_size / _timed(step, device, steps)


def _timed(step: Any, device: torch.device, steps: int) -> float:
    """Seconds for `steps` calls of `step` after 3 warm-up calls (cuDNN autotuning, allocator)."""
    for _ in range(3):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started


def steady(rates: list[float]) -> float:
    """Mean over the epochs after the first (which pays for warm-up and caches)."""
    later = rates[1:] or rates
    return sum(later) / len(later)


def bench_variant(base: dict[str, Any], change: dict[str, Any], root: Path, args: argparse.Namespace) -> dict[str, Any]:
    """(a), (b) and the ceiling of one variant on one dataset."""
    config = TrainConfig.model_validate(apply_overrides(base, change))
    device = torch.device(args.device)
    plain = plain_epochs(config, root, epochs=args.epochs, workers=args.workers, device=device)
    runtime = {"device": args.device, "compile": args.compile, "num_workers": args.decode_threads}
    fast, setup, fast_path = stagewise_epochs(config, root, runtime)
    classes = 2 if config.dataset.name == "hymenoptera" else 10
    ceiling = synthetic_rate(config, device, classes, args.ceiling_steps)
    return {"plain": plain, "stagewise": fast, "setup_s": setup, "fast_path": fast_path, "ceiling": ceiling,
            "ratio": steady(fast) / steady(plain), "of_ceiling": steady(fast) / ceiling}  # fmt: skip


def print_row(label: str, row: dict[str, Any]) -> None:
    per_epoch = " ".join(f"{r:.0f}" for r in row["stagewise"])
    print(f"  {label:<24} {steady(row['plain']):9.1f} {steady(row['stagewise']):9.1f} {row['ratio']:6.2f} "
          f"{row['ceiling']:9.1f} {row['of_ceiling']:6.2f} {row['setup_s']:7.1f}  [{per_epoch}] "
          f"{row['fast_path']['data']}, {row['fast_path']['decode']}, prefix {row['fast_path']['frozen_prefix']}")  # fmt: skip


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--ants-size", type=int, default=224, help="Ants & Bees image size (CPU: 64)")
    parser.add_argument("--cifar-train", type=int, default=4000, help="CIFAR-10 training images (CPU: 200)")
    parser.add_argument("--cifar-val", type=int, default=1000)
    parser.add_argument("--cifar-test", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers of the baseline (GPU host: 16)")
    parser.add_argument("--decode-threads", type=int, default=0, help="Stagewise's decode threads (0: one per CPU)")
    parser.add_argument("--ceiling-steps", type=int, default=10)
    parser.add_argument("--compile", choices=("auto", "on", "off"), default="auto")
    parser.add_argument("--datasets", nargs="+", default=[ANTS, "CIFAR-10"])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument("--json", type=Path, help="also write every number here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    name = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"ResNet-18 (random init), {name}, batch {args.batch_size}, {args.epochs} epochs, torch {torch.__version__}")
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        root = linked_root(args.data_dir, Path(scratch))
        for label, base in dataset_configs(args).items():
            if label not in args.datasets:
                continue
            first, second = decode_seconds(TrainConfig.model_validate(base), root, args.decode_threads)
            results[f"{label} / load_data"] = {"first_run_s": first, "second_run_s": second}
            print(f"{label}: load_data {first:.2f} s decoding (first run), {second:.2f} s from the decode cache (second run)")
            print(f"{label}: {'variant':<24} {'(a) img/s':>9} {'(b) img/s':>9} {'b/a':>6} {'ceiling':>9} {'b/ceil':>6} {'setup s':>7}")
            for variant in args.variants:
                results[f"{label} / {variant}"] = row = bench_variant(base, VARIANTS[variant], root, args)
                print_row(variant, row)
    if args.json:
        args.json.write_text(json.dumps({"device": name, "args": vars(args) | {"data_dir": str(args.data_dir), "json": str(args.json)},
                                         "results": results}, indent=2) + "\n")  # fmt: skip
    headline = results.get(f"{ANTS} / full fine-tune")
    print(f"speedup_vs_baseline: {headline['ratio']:.2f}" if headline else "speedup_vs_baseline: n/a")


if __name__ == "__main__":
    main()
