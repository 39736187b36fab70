"""The plain PyTorch training loop people write, as the baseline of the training benchmarks.

torchvision-style file dataset + PIL decode + torchvision transforms in a DataLoader with
worker processes, fp32, frozen stages by `requires_grad=False`. Shared by
`train_throughput.py` and `train_cpu.py` so that both measure the same baseline.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import torch
import torchvision
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms as T

from app.schemas.catalog import BACKBONES, DATASETS
from app.schemas.train_config import TrainConfig
from worker.training.datasets import select_files
from worker.training.schedules import is_trainable_ever

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class FileDataset(Dataset):
    """ImageFolder-style: open, decode and transform one image file per item with PIL."""

    def __init__(self, files: Sequence[tuple[Path, int]], transform: T.Compose) -> None:
        self.files, self.transform = list(files), transform

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.files[index]
        with Image.open(path) as image:
            return self.transform(image.convert("RGB")), label


def train_files(config: TrainConfig, data_root: Path) -> list[tuple[Path, int]]:
    """The training split's files (Stagewise's own split), labelled by their class folder."""
    folder, splits = select_files(config.dataset, data_root)
    names = list(DATASETS[config.dataset.name].class_names)
    return [(folder / file, names.index(file.split("/")[-2])) for file in splits["train"]]


def plain_transform(config: TrainConfig) -> T.Compose:
    """torchvision transforms matching the config's augment, as a tutorial would write them."""
    size, augment = config.resolved_image_size(), config.resolved_augment()
    if augment == "resized_crop_flip":
        steps: list[object] = [T.RandomResizedCrop(size, scale=(0.08, 1.0)), T.RandomHorizontalFlip()]
    elif augment == "crop_flip":
        steps = [T.Resize(size), T.RandomCrop(size, padding=size // 8), T.RandomHorizontalFlip()]
    else:
        steps = [T.Resize(round(size * 256 / 224)), T.CenterCrop(size)]
    return T.Compose([*steps, T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])


def plain_model(config: TrainConfig, num_classes: int) -> nn.Module:
    """The torchvision model (random init) with never-trained stages set to requires_grad=False."""
    spec = BACKBONES[config.backbone]
    model = torchvision.models.get_model(spec.name, weights=None, num_classes=num_classes)
    frozen = [p for stage, prefixes in spec.stages if not is_trainable_ever(config, stage) for p in prefixes]
    for name, param in model.named_parameters():
        param.requires_grad_(not any(name == p or name.startswith(p + ".") for p in frozen))
    return model


def plain_epochs(
    config: TrainConfig, data_root: Path, *, epochs: int, workers: int, device: torch.device
) -> list[float]:
    """Train images/s per epoch of the plain loop on Stagewise's training split."""
    files = train_files(config, data_root)
    loader = DataLoader(FileDataset(files, plain_transform(config)), batch_size=config.batch_size, shuffle=True,
                        num_workers=workers, persistent_workers=workers > 0, pin_memory=device.type == "cuda")  # fmt: skip
    torch.manual_seed(0)
    model = plain_model(config, len(DATASETS[config.dataset.name].class_names)).to(device)
    opt = config.optimizer
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=opt.lr,
                                momentum=opt.momentum, weight_decay=opt.weight_decay)  # fmt: skip
    rates = []
    for _ in range(epochs):
        model.train()
        started, seen = time.perf_counter(), 0
        for inputs, labels in loader:
            inputs, labels = inputs.to(device, non_blocking=True), labels.to(device, non_blocking=True)
            loss = nn.functional.cross_entropy(model(inputs), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            seen += len(labels)
        if device.type == "cuda":
            torch.cuda.synchronize()
        rates.append(seen / (time.perf_counter() - started))
    return rates
