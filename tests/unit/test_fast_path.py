"""The fast path computes what the plain path computes: cached prefix features, the decode
cache, the placement and compile rules; and it learns like a plain PyTorch loop."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tiny_runs
import torch
from PIL import Image
from tiny_runs import runtime
from torch.utils.data import DataLoader
from torchvision import datasets as tv_datasets
from torchvision import transforms as T

from app.schemas.train_config import DatasetConfig, TrainConfig
from worker.training.backbones import build_model
from worker.training.datasets import load_data, storage_size
from worker.training.frozen_prefix import split_model
from worker.training.loop import COMPILE_MIN_IMAGES, fit, should_compile

CONV1_3_FROZEN = {"conv1": 0, "conv2": 0, "conv3": 0}


def tiny(**overrides: Any) -> TrainConfig:
    """The shared tiny run, 2 epochs, without augmentation, conv1-3 frozen unless overridden."""
    return tiny_runs.tiny(**{"epochs": 2, "augment": "none", "stages": CONV1_3_FROZEN, **overrides})


def write_shapes(root: Path, per_class: int = 24) -> None:
    """Two classes of 40x40 PNGs: reddish and bluish, with noise (learnable in a few steps)."""
    noise = np.random.default_rng(0)
    for label, colour in enumerate(((200, 60, 60), (60, 60, 200))):
        folder = root / "shapes" / f"class_{label}"
        folder.mkdir(parents=True)
        for i in range(per_class):
            pixels = np.clip(np.array(colour) + noise.normal(0, 30, (40, 40, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{i:03d}.png")


def test_the_resnet_split_computes_the_whole_model() -> None:
    config = tiny()
    model = build_model(config, 2, data_root=Path(".")).eval()
    parts = split_model(model, config)
    assert parts is not None and parts.frozen_stages == ("conv1", "conv2", "conv3")
    x = torch.randn(2, 3, 32, 32)
    assert torch.allclose(parts.suffix(parts.prefix(x)), model(x), atol=1e-5)


def test_nothing_frozen_up_front_means_no_split() -> None:
    config = tiny(stages={"conv2": 0})  # conv1 trains: no frozen prefix
    assert split_model(build_model(config, 2, data_root=Path(".")), config) is None


def test_cached_features_train_exactly_like_the_uncached_path(tmp_path: Path) -> None:
    cached = fit(tiny(), runtime(tmp_path, "cached"))
    uncached = fit(tiny(), runtime(tmp_path, "uncached", cache_frozen_features=False))
    assert cached.fast_path["frozen_prefix"] == "cached features (conv1–conv3)"
    assert uncached.fast_path["frozen_prefix"] == "no_grad (conv1–conv3)"
    for mine, theirs in zip(cached.records, uncached.records, strict=True):
        assert mine.train_loss == pytest.approx(theirs.train_loss, rel=1e-4)
        assert mine.val_loss == pytest.approx(theirs.val_loss, rel=1e-4)


def test_random_crops_disable_feature_caching(tmp_path: Path) -> None:
    result = fit(tiny(epochs=1, augment="crop_flip"), runtime(tmp_path, "out"))
    assert result.fast_path["frozen_prefix"] == "no_grad (conv1–conv3)"


def test_second_load_reads_the_decode_cache(tmp_path: Path) -> None:
    write_shapes(tmp_path)
    config = DatasetConfig.model_validate({"name": "imagefolder", "path": "shapes"})
    cache = tmp_path / ".cache" / "decoded"
    first = load_data(config, tmp_path, 32, cache_dir=cache)
    second = load_data(config, tmp_path, 32, cache_dir=cache)
    assert not first.from_cache and second.from_cache
    assert torch.equal(first.train.images, second.train.images) and first.indices == second.indices


def test_a_replaced_image_misses_the_decode_cache(tmp_path: Path) -> None:
    write_shapes(tmp_path)
    config = DatasetConfig.model_validate({"name": "imagefolder", "path": "shapes"})
    cache = tmp_path / ".cache" / "decoded"
    load_data(config, tmp_path, 32, cache_dir=cache)
    Image.new("RGB", (50, 50), (255, 255, 255)).save(tmp_path / "shapes" / "class_0" / "000.png")
    assert not load_data(config, tmp_path, 32, cache_dir=cache).from_cache


def test_the_decode_cache_keeps_to_its_budget_dropping_the_least_recently_used(tmp_path: Path) -> None:
    write_shapes(tmp_path)
    config = DatasetConfig.model_validate({"name": "imagefolder", "path": "shapes"})
    cache = tmp_path / ".cache" / "decoded"
    load_data(config, tmp_path, 48, cache_dir=cache)
    load_data(config, tmp_path, 40, cache_dir=cache)
    side = {size: storage_size(config, size) for size in (48, 40, 32)}  # the stored side, in each entry's name
    entries = {int(path.name.split("-")[1].removesuffix("px")): path for path in cache.glob("*")}
    bytes_of = {side_px: path.stat().st_size for side_px, path in entries.items()}
    # Written a minute apart (file clocks can be coarser than two quick writes), 48 px first.
    for age_s, size in ((120, 48), (60, 40)):
        os.utime(entries[side[size]], (time.time() - age_s, time.time() - age_s))
    load_data(config, tmp_path, 48, cache_dir=cache)  # a hit: 48 px is now the most recently used
    budget = bytes_of[side[48]] + bytes_of[side[40]] - 1  # all three entries cannot fit
    load_data(config, tmp_path, 32, cache_dir=cache, cache_budget_bytes=budget)
    kept = sorted(int(path.name.split("-")[1].removesuffix("px")) for path in cache.glob("*.safetensors"))
    assert kept == sorted([side[32], side[48]])


def test_compile_auto_is_on_only_for_long_cuda_runs() -> None:
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert should_compile("auto", cuda, 100, COMPILE_MIN_IMAGES // 100)
    assert not should_compile("auto", cuda, 100, 4000)
    assert not should_compile("auto", cpu, 10_000, 50_000)
    assert should_compile("on", cpu, 1, 1) and not should_compile("off", cuda, 10_000, 50_000)


def plain_accuracies(config: TrainConfig, root: Path, epochs: int) -> list[float]:
    """Val accuracy per epoch of a linear probe as people write it: ImageFolder + PIL + DataLoader,
    fp32, the backbone in eval mode and only the head in the optimizer."""
    data = load_data(config.dataset, root, 32)
    tfm = T.Compose([T.Resize(37), T.CenterCrop(32), T.ToTensor(), T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
    folder = tv_datasets.ImageFolder(str(root / "shapes"), transform=tfm)  # sorted like Stagewise's pool
    train = torch.utils.data.Subset(folder, data.indices["train"])
    val = DataLoader(torch.utils.data.Subset(folder, data.indices["val"]), batch_size=64)
    torch.manual_seed(config.seed)  # as fit: the same initial weights
    model = build_model(config, 2, data_root=root).eval()
    optimizer = torch.optim.SGD(model.fc.parameters(), lr=config.optimizer.lr, momentum=config.optimizer.momentum)
    accuracies = []
    for epoch in range(epochs):
        order = torch.Generator().manual_seed(epoch)
        for x, y in DataLoader(train, batch_size=config.batch_size, shuffle=True, generator=order):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
        with torch.no_grad():
            accuracies.append(sum((model(x).argmax(1) == y).sum().item() for x, y in val) / len(val.dataset))
    return accuracies


def test_fast_path_learns_like_a_plain_pytorch_loop(tmp_path: Path) -> None:
    write_shapes(tmp_path)
    probe = {stage: 0 for stage in ("conv1", "conv2", "conv3", "conv4", "conv5")}
    config = tiny(epochs=4, stages=probe, dataset={"name": "imagefolder", "path": "shapes", "fractions": [0.5, 0.5, 0.0]},
                  optimizer={"lr": 0.05, "weight_decay": 0.0})  # fmt: skip
    fast = fit(config, runtime(tmp_path, "fast"))
    plain = plain_accuracies(config, tmp_path, 4)
    curve = [r.val_acc for r in fast.records]
    assert fast.fast_path["frozen_prefix"] == "cached features (conv1–conv5)"  # the fastest path, against the plainest loop
    assert curve[-1] >= 0.9 and plain[-1] >= 0.9  # both learn the task…
    assert max(abs(a - b) for a, b in zip(curve[1:], plain[1:], strict=True)) <= 0.15  # …along the same curve
