"""LR range test: the cheap step before a sweep (Smith, "Cyclical Learning Rates", 2015, §3.3;
fastai's `lr_find`; Lightning's LR finder).

Train for a few dozen steps while the base LR grows exponentially from `start` to `end`,
every stage at its configured ratio to the base (`optimizer.lr`; stages frozen at epoch 0
stay frozen), and record the loss. The loss first barely moves, then falls, then explodes;
a good base LR lies on the fall. The suggestion is fastai's **valley** (its default since
2021): the point halfway along the longest stretch over which the smoothed loss keeps
decreasing, with the **steepest** descent of the smoothed loss over log LR also given; both
look only at the curve up to its minimum (after it the loss rises, and may fall back once
it has blown up). The model and optimizer are put back as they were afterwards.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from app.schemas.train_config import TrainConfig
from worker.training.backbones import build_model
from worker.training.datasets import ImageTensors, load_data
from worker.training.loop import resolve_device
from worker.training.param_groups import apply_freezing, build_optimizer
from worker.training.runtime import Runtime
from worker.training.schedules import is_frozen
from worker.training.transforms import iterate_batches, prepare_batch

SMOOTHING = 0.98  # fastai's: an exponential moving average over ~50 steps, debiased
DIVERGED = 4.0  # stop once the smoothed loss is this many times its minimum (fastai's rule)

Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class LrFinding:
    """What a range test found.

    Attributes:
        lrs: the base LR of each step taken (stage LRs are these × `ratios`).
        losses: each step's training loss; `smoothed` the debiased moving average.
        ratios: each stage's LR as a multiple of the base LR (0: frozen).
        suggestion: the valley's base LR (None if the loss never fell).
        steepest: the base LR where the smoothed loss falls fastest.
        diverged: the test stopped early because the loss exploded.
    """

    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    ratios: dict[str, float]
    suggestion: float | None
    steepest: float | None
    diverged: bool
    method: str = "valley"

    def stage_lrs(self, base_lr: float) -> dict[str, float]:
        """Each stage's LR when the base LR is `base_lr` (e.g. the suggestion)."""
        return {stage: base_lr * ratio for stage, ratio in self.ratios.items()}


def exponential_lrs(start: float, end: float, steps: int) -> list[float]:
    """`steps` LRs from `start` to `end`, evenly spaced on a log scale."""
    if not 0 < start < end or steps < 2:
        raise ValueError("need 0 < start < end and at least 2 steps")
    return [start * (end / start) ** (i / (steps - 1)) for i in range(steps)]


def smooth(losses: list[float], beta: float = SMOOTHING) -> list[float]:
    """The exponential moving average of `losses`, debiased as Adam's moments are."""
    average, smoothed = 0.0, []
    for i, loss in enumerate(losses, start=1):
        average = beta * average + (1 - beta) * loss
        smoothed.append(average / (1 - beta**i))
    return smoothed


def valley(losses: list[float]) -> int | None:
    """fastai's valley: the index halfway along the longest decreasing run of `losses`
    (a longest decreasing subsequence, so single bumps do not break it); None if too short."""
    longest = [1] * len(losses)  # length of the longest decreasing subsequence ending at i
    start = end = 0
    for i in range(1, len(losses)):
        for j in range(i):
            if losses[i] < losses[j] and longest[i] < longest[j] + 1:
                longest[i] = longest[j] + 1
        if longest[i] > longest[end]:
            end = i
            start = end - longest[end]
    if end - start < 3:
        return None
    third = (end - start) / 3
    return start + int(third) + int(third / 2)


def steepest(lrs: list[float], losses: list[float], skip: int = 0) -> int | None:
    """The index where the loss falls fastest per decade of LR, ignoring the first `skip`
    points (where a moving average is still settling); None if it never falls."""
    slopes = {
        i: (losses[i + 1] - losses[i]) / (math.log10(lrs[i + 1]) - math.log10(lrs[i]))
        for i in range(skip, len(lrs) - 1)
    }
    if not slopes or min(slopes.values()) >= 0:
        return None
    return min(slopes, key=slopes.__getitem__)


def stage_ratios(config: TrainConfig) -> dict[str, float]:
    """Each stage's LR at epoch 0 as a multiple of `optimizer.lr`; stages frozen then are 0."""
    base = config.optimizer.lr
    return {
        stage: 0.0 if is_frozen(config, stage, 0) else config.stage(stage).base_lr(base) / base
        for stage in config.stage_names
    }


def range_test(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Iterator[Batch],
    lrs: list[float],
    ratios: Mapping[str, float],
) -> tuple[list[float], list[float], bool]:
    """Train one step per LR in `lrs` on the next batch, each param group (tagged with its
    "stage", as `build_param_groups` makes them) at LR × its stage's ratio; stop early when the
    loss explodes. The model's weights and buffers and the optimizer's state are restored.

    Returns:
        (the LRs taken, their losses, whether the loss exploded).
    """
    saved_model, saved_optimizer = copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict())
    taken: list[float] = []
    losses: list[float] = []
    try:
        for lr in lrs:
            inputs, labels = next(batches)
            for group in optimizer.param_groups:
                group["lr"] = lr * ratios[group["stage"]]
            loss = F.cross_entropy(model(inputs), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            taken.append(lr)
            losses.append(loss.item())  # a wait per step is fine here: the test is a few dozen steps
            smoothed = smooth(losses)
            if not math.isfinite(losses[-1]) or smoothed[-1] > DIVERGED * min(smoothed):
                return taken, losses, True
        return taken, losses, False
    finally:
        model.load_state_dict(saved_model)
        optimizer.load_state_dict(saved_optimizer)


def training_batches(
    config: TrainConfig, train: ImageTensors, image_size: int, device: torch.device
) -> Iterator[Batch]:
    """Augmented training batches on `device`, epoch after epoch, as the loop draws them."""
    generator = torch.Generator().manual_seed(config.seed)
    while True:
        for idx in iterate_batches(len(train), config.batch_size, shuffle=True, generator=generator):
            inputs = prepare_batch(
                train.images[idx], train=True, image_size=image_size, augment=config.resolved_augment(),
                normalization=config.resolved_normalization(), generator=generator,
                sizes=None if train.sizes is None else train.sizes[idx],
            )  # fmt: skip
            yield inputs.to(device), train.labels[idx].to(device)


def find_lr(config: TrainConfig, runtime: Runtime, *, start: float = 1e-7, end: float = 10.0, steps: int = 100) -> LrFinding:
    """Run the LR range test on `config`'s model and training split; nothing is written.

    Raises:
        TrainingError: the data or weights cannot be loaded (as `fit` would).
    """
    device = resolve_device(runtime.device)
    image_size = config.resolved_image_size()
    data = load_data(
        config.dataset, runtime.data_root, image_size, num_workers=runtime.num_workers,
        whole_train=config.resolved_augment() == "resized_crop_flip",
    )  # fmt: skip
    torch.manual_seed(config.seed)
    model = build_model(
        config, len(data.class_names), data_root=runtime.data_root, weights_dir=runtime.weights_dir,
        allow_download=runtime.allow_download,
    ).to(device)  # fmt: skip
    model.train()
    apply_freezing(model, config, 0)
    ratios = stage_ratios(config)
    lrs, losses, diverged = range_test(
        model, build_optimizer(model, config), training_batches(config, data.train, image_size, device),
        exponential_lrs(start, end, steps), ratios,
    )  # fmt: skip
    return finding(lrs, losses, ratios, diverged=diverged)


def finding(lrs: list[float], losses: list[float], ratios: Mapping[str, float], *, diverged: bool) -> LrFinding:
    """The suggestions for a recorded test, from the smoothed curve up to its minimum."""
    smoothed = smooth(losses)
    usable = min(range(len(smoothed)), key=smoothed.__getitem__) + 1
    # Lightning's LR finder skips the first tenth of the curve for the steepest descent too.
    at_valley, at_steepest = valley(smoothed[:usable]), steepest(lrs[:usable], smoothed[:usable], len(lrs) // 10)
    return LrFinding(
        lrs=lrs, losses=losses, smoothed=smoothed, ratios=dict(ratios), diverged=diverged,
        suggestion=lrs[at_valley] if at_valley is not None else None,
        steepest=lrs[at_steepest] if at_steepest is not None else None,
    )  # fmt: skip
