"""Frozen-prefix cuts per backbone family: training with the frozen stages cut off against the
whole model with those stages frozen (`requires_grad=False`), same process, same device.

    python bench/frozen_prefix.py [--device cpu|cuda] [--size 64] [--backbones resnet18 efficientnet_b0 …]

For each backbone (random init; ViT-B/16 only at 224 px) on the real Ants & Bees JPEGs
(Stagewise's seeded 50/10/40 split), two variants:
  first 3 stages frozen, no augmentation: the cut run trains from cached prefix features;
  linear probe (all but the classifier frozen), with flips: the prefix runs under no_grad.
(a) is `fit` with no family layout (the whole model runs each step, as before the layouts
existed), (b) `fit` with it. Train images/s over the epochs after the first, and b/a.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: train_throughput sits beside it
from train_throughput import linked_root, stagewise_epochs, steady

from app.schemas.catalog import BACKBONES
from app.schemas.train_config import TrainConfig
from worker.training import frozen_prefix

REPO = Path(__file__).resolve().parents[1]
CNNS = ["resnet18", "mobilenet_v3_large", "efficientnet_b0", "convnext_tiny", "densenet121"]


def variants(backbone: str) -> dict[str, dict[str, Any]]:
    stages = BACKBONES[backbone].stage_names
    return {
        "first 3 frozen, no aug": {"stages": {s: 0 for s in stages[:3]}, "augment": "none"},
        "linear probe, flips": {"stages": {s: 0 for s in stages[:-1]}, "augment": "flip"},
    }


def config_for(backbone: str, change: dict[str, Any], args: argparse.Namespace) -> TrainConfig:
    size = 224 if backbone == "vit_b_16" else args.size
    return TrainConfig.model_validate({
        "backbone": backbone, "weights": "none", "epochs": args.epochs, "batch_size": args.batch_size,
        "image_size": size, "test_every": 1000, "dataset": {"name": "hymenoptera", "fractions": [0.5, 0.1, 0.4]},
        "optimizer": {"name": "sgd", "lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4},
    } | change)  # fmt: skip


def rates(config: TrainConfig, root: Path, runtime: dict[str, Any], *, cut: bool) -> tuple[float, str]:
    saved = frozen_prefix.LAYOUT_BUILDERS
    frozen_prefix.LAYOUT_BUILDERS = saved if cut else {}
    try:
        per_epoch, _, fast_path = stagewise_epochs(config, root, runtime)
    finally:
        frozen_prefix.LAYOUT_BUILDERS = saved
    return steady(per_epoch), fast_path["frozen_prefix"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--size", type=int, default=224, help="image size of the CNNs (CPU: 64)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--backbones", nargs="+", default=CNNS, choices=sorted(BACKBONES))
    args = parser.parse_args(argv)
    name = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"Frozen-prefix cut vs whole model, {name}, Ants & Bees {args.size} px, batch {args.batch_size}, "
          f"{args.epochs} epochs, torch {torch.__version__}")  # fmt: skip
    print(f"{'backbone':<20} {'variant':<24} {'(a) whole':>9} {'(b) cut':>9} {'b/a':>6}  fast path of (b)")
    runtime = {"device": args.device, "compile": "off"}
    with tempfile.TemporaryDirectory() as scratch:
        root = linked_root(args.data_dir, Path(scratch))
        for backbone in args.backbones:
            for label, change in variants(backbone).items():
                config = config_for(backbone, change, args)
                whole, _ = rates(config, root, runtime, cut=False)
                cut, how = rates(config, root, runtime, cut=True)
                print(f"{backbone:<20} {label:<24} {whole:9.1f} {cut:9.1f} {cut / whole:6.2f}  {how}")


if __name__ == "__main__":
    main()
