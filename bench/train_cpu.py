"""CPU training throughput: Stagewise's loop against a plain PyTorch loop, same data, same model.

    python bench/train_cpu.py [--data-dir ../shared/datasets] [--image-size 112] [--epochs 3]

Both sides train ResNet-18 from scratch on the real Ants & Bees JPEGs (the same training
images: Stagewise's seeded split, here 50/10/40 so an epoch has ~200 images), SGD, batch 32.
(a) baseline as people write it: torchvision ImageFolder + PIL transforms + DataLoader + fp32.
(b) Stagewise's `fit`: images decoded once, batched tensor augmentation. Also (b) with
conv1–conv3 frozen and as a linear probe. Prints a table of train images/s per epoch and
the ratio b/a over the epochs after the first (the machines are shared: read ratios).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
import torchvision
from torch import nn
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms as T

from app.presets import apply_overrides
from app.schemas.train_config import TrainConfig
from worker.training.datasets import IMAGE_EXTENSIONS, load_data
from worker.training.loop import fit
from worker.training.runtime import Runtime

REPO = Path(__file__).resolve().parents[1]
BASE = {
    "backbone": "resnet18",
    "weights": "none",
    "dataset": {"name": "hymenoptera", "fractions": [0.5, 0.1, 0.4]},
    "batch_size": 32,
    "augment": "resized_crop_flip",
    "optimizer": {"name": "sgd", "lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4},
    "test_every": 1000,
}
VARIANTS = {
    "full fine-tune": {},
    "conv1-3 frozen": {"stages": {"conv1": 0, "conv2": 0, "conv3": 0}},
    "linear probe": {"stages": {"conv1": 0, "conv2": 0, "conv3": 0, "conv4": 0, "conv5": 0}},
}


class FileDataset(Dataset):
    """ImageFolder-style: open, decode and transform one JPEG per item with PIL."""

    def __init__(self, files: list[tuple[Path, int]], transform: T.Compose) -> None:
        self.files, self.transform = files, transform

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.files[index]
        with Image.open(path) as image:
            return self.transform(image.convert("RGB")), label


def baseline_epochs(config: TrainConfig, data_dir: Path, epochs: int, workers: int) -> list[float]:
    """Train images/s per epoch of the plain loop on the same training images."""
    size = config.resolved_image_size()
    tfm = T.Compose([
        T.RandomResizedCrop(size, scale=(0.25, 1.0)), T.RandomHorizontalFlip(), T.ToTensor(),
        T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    ])  # fmt: skip
    root = data_dir / "hymenoptera_data"
    # The pool in Stagewise's documented order (sorted relative paths), labelled by class folder.
    paths = sorted((p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS), key=lambda p: p.relative_to(root).as_posix())
    train_idx = load_data(config.dataset, data_dir, size).indices["train"]
    files = [(paths[i], int(paths[i].parent.name == "bees")) for i in train_idx]
    loader = DataLoader(FileDataset(files, tfm), batch_size=config.batch_size, shuffle=True,
                        num_workers=workers, persistent_workers=workers > 0)  # fmt: skip
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=2)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    rates = []
    for _ in range(epochs):
        model.train()
        started, seen = time.perf_counter(), 0
        for inputs, labels in loader:
            loss = nn.functional.cross_entropy(model(inputs), labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
            seen += len(labels)
        rates.append(seen / (time.perf_counter() - started))
    return rates


def stagewise_epochs(config: TrainConfig, data_dir: Path) -> tuple[list[float], float]:
    """Train images/s per epoch of `fit`, and the one-time setup (decode) seconds."""
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        records = fit(config, Runtime(data_root=data_dir, out_dir=Path(out), device="cpu")).records
        total = time.perf_counter() - started
    return [r.images_per_s for r in records], total - sum(r.seconds for r in records)


def _steady(rates: list[float]) -> float:
    later = rates[1:] or rates
    return sum(later) / len(later)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--image-size", type=int, default=112)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers of the baseline")
    args = parser.parse_args()
    base = apply_overrides(BASE, {"image_size": args.image_size, "epochs": args.epochs})
    config = TrainConfig.model_validate(base)
    print(f"ResNet-18 scratch, Ants & Bees 50/10/40, {args.image_size} px, batch 32, CPU threads {torch.get_num_threads()}")
    base_rates = baseline_epochs(config, args.data_dir, args.epochs, args.workers)
    base_steady = _steady(base_rates)
    print(f"{'variant':<34} {'img/s per epoch':<28} {'steady img/s':>12} {'vs (a)':>7} {'setup s':>8}")
    print(f"{'(a) plain DataLoader+PIL, full':<34} {' '.join(f'{r:7.1f}' for r in base_rates):<28} {base_steady:12.1f} {1.0:7.2f} {'-':>8}")
    full_ratio = None
    for label, change in VARIANTS.items():
        rates, setup = stagewise_epochs(TrainConfig.model_validate(apply_overrides(base, change)), args.data_dir)
        ratio = _steady(rates) / base_steady
        full_ratio = ratio if full_ratio is None else full_ratio
        print(f"{'(b) stagewise, ' + label:<34} {' '.join(f'{r:7.1f}' for r in rates):<28} {_steady(rates):12.1f} {ratio:7.2f} {setup:8.1f}")
    print(f"speedup_vs_baseline: {full_ratio:.2f}")


if __name__ == "__main__":
    main()
