"""The training loop: `fit(config, runtime)` trains, evaluates, checkpoints and reports.

`train_one_epoch` and `evaluate` are standalone functions in the manner of torchvision's
`references/classification/train.py`. Every epoch draws its shuffling, augmentation and
dropout randomness from seeds derived from (config.seed, epoch), so a run resumed from a
checkpoint computes the same next epoch as one that never stopped.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from app.schemas.metrics import EpochRecord, EpochVerdict, RunSummary, TestReport
from app.schemas.train_config import TrainConfig
from worker.training import checkpoints
from worker.training.backbones import build_model
from worker.training.datasets import ImageTensors, LoadedData, load_data
from worker.training.errors import DiskFull, DivergedLoss, OutOfMemory, TrainingError
from worker.training.eval_cadence import describe as describe_test_cadence
from worker.training.eval_cadence import interval_for_test_split
from worker.training.frozen_prefix import SplitModel, cached_views, describe, frozen_prefix_stages, split_model
from worker.training.param_groups import apply_freezing, apply_lrs, build_optimizer
from worker.training.progress import OnProgress, Progress, preparing
from worker.training.runtime import Runtime
from worker.training.transforms import flip_mask, iterate_batches, prepare_batch, to_device

OnEpoch = Callable[[EpochRecord], EpochVerdict | None]
ShouldStop = Callable[[], bool]
Forward = Callable[[torch.Tensor], torch.Tensor]

log = logging.getLogger(__name__)

# torch.compile's warm-up on a ResNet-18 is tens of seconds (assumed 60 s until measured on
# a GPU); it saves ~21 µs per training image (12.0k → 16.0k img/s on an H100). It pays off
# from about 60 s / 21 µs ≈ 3M training images (epochs × train size); CIFAR-10-4000 × 100
# epochs is 0.4M, so "auto" leaves short fine-tunes uncompiled.
COMPILE_MIN_IMAGES = 3_000_000
# Default share of the GPU's memory the decoded dataset may hold (the rest: model, activations).
RESIDENT_SHARE = 0.4


@dataclass(frozen=True)
class FitResult:
    """What `fit` returns: the summary, every epoch's record (resumed ones included)."""

    summary: RunSummary
    records: list[EpochRecord]
    out_dir: Path
    test_report: TestReport | None = None
    fast_path: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Decisions:
    """How `fit` decided to train this run; the fast-path report (`fast_path.json`) is written from it."""

    placement: str  # "cpu", "resident" (decoded data on the device) or "streamed" (batches copied per step)
    decoded_from_cache: bool
    fused_optimizer: bool
    bf16: bool  # bf16 autocast and channels_last (CUDA)
    compile: bool  # torch.compile the trainable part
    test_split: str  # when the test split is evaluated ("every epoch", "every 3rd epoch and the last", …)

    def report(self, frozen_prefix: str) -> dict[str, str]:
        """The record the dashboard shows, with how the frozen prefix runs in each phase."""
        return {
            "data": self.placement, "decode": "cache hit" if self.decoded_from_cache else "no cache hit",
            "fused_optimizer": "on" if self.fused_optimizer else "off",
            "precision": "bf16 autocast, channels_last" if self.bf16 else "fp32",
            "compile": "on" if self.compile else "off", "frozen_prefix": frozen_prefix, "test_split": self.test_split,
        }  # fmt: skip


@dataclass
class _Session:
    """The live objects of one run, passed around instead of long argument lists."""

    config: TrainConfig
    model: nn.Module
    optimizer: torch.optim.Optimizer
    data: LoadedData
    device: torch.device
    image_size: int
    progress: Progress
    should_stop: ShouldStop
    runtime: Runtime
    feature_budget: int  # device bytes cached prefix features may take
    test_interval: int = 1  # the test split is evaluated after every k-th epoch and the last
    train_forward: Forward | None = None  # the model, or its trainable suffix; maybe compiled
    parts: SplitModel | None = None  # set while leading stages are frozen (this phase's cut)
    cut: tuple[str, ...] | None = None  # the frozen leading stages the current phase was set up for
    features: dict[str, ImageTensors] = field(default_factory=dict)  # prefix outputs per split
    mirrored: ImageTensors | None = None  # prefix outputs of the mirrored training images (flip augmentation)
    phases: list[tuple[int, str]] = field(default_factory=list)  # (first epoch, how its prefix ran)
    decisions: Decisions | None = None  # set once the data are placed
    records: list[EpochRecord] = field(default_factory=list)
    best_val_acc: float | None = None
    best_epoch: int | None = None
    stopped: bool = False
    pruned_epoch: int | None = None  # set when on_epoch answered PRUNE; kept in the checkpoint


def resolve_device(name: str) -> torch.device:
    """"auto" → CUDA when available, else CPU; anything else as given."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise TrainingError(f"device {name!r} asked for, but no CUDA device is available: use --device cpu")
    return device


def _epoch_seed(config: TrainConfig, epoch: int) -> int:
    return (config.seed * 1_000_003 + epoch * 7919 + 17) % (2**63)


def _autocast(device: torch.device) -> Any:
    # bf16 keeps fp32's range, so no loss scaling is needed (unlike fp16).
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def should_compile(mode: str, device: torch.device, epochs: int, train_size: int) -> bool:
    """"on"/"off" as given; "auto": only on CUDA and when epochs × train size repays the warm-up."""
    if mode != "auto":
        return mode == "on"
    return device.type == "cuda" and epochs * train_size >= COMPILE_MIN_IMAGES


def _gather(split: ImageTensors, idx: torch.Tensor, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch's rows on `device`; rows held in CPU memory are streamed over."""
    if split.images.device != idx.device:
        idx = to_device(idx, split.images.device)  # resident rows: the indices go over, asynchronously
    images, labels = split.images[idx], split.labels[idx]
    if images.device != device:
        if device.type == "cuda":
            # From pinned memory the copy is a DMA that does not block the CPU; the caching
            # host allocator reuses these staging blocks, so pinning per batch is cheap.
            images, labels = images.pin_memory(), labels.pin_memory()
        images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
    return images, labels


def _batch(session: _Session, split: ImageTensors, idx: torch.Tensor, *, train: bool,
           generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    sizes = None if split.sizes is None else split.sizes[idx.cpu()]  # idx: drawn on the CPU, no wait
    images, labels = _gather(split, idx, session.device)
    inputs = prepare_batch(
        images,
        train=train,
        image_size=session.image_size,
        augment=session.config.resolved_augment() if train else "none",
        normalization=session.config.resolved_normalization(),
        generator=generator,
        sizes=sizes,
    )
    if session.device.type == "cuda":
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    return inputs, labels


def _cached_features(session: _Session, split: ImageTensors) -> ImageTensors | None:
    for name, features in session.features.items():
        if getattr(session.data, name) is split:
            return features
    return None


def _inputs(session: _Session, split: ImageTensors, idx: torch.Tensor, *, train: bool,
            generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """A batch of model inputs and labels, and whether the inputs are cached prefix features."""
    cached = _cached_features(session, split)
    if cached is not None:
        features, labels = _gather(cached, idx, session.device)
        if train and session.mirrored is not None:
            # As prepare_batch's flip: one draw from the same generator, the mirrored view where it says so.
            flip = to_device(flip_mask(len(idx), generator), features.device)
            mirrored, _ = _gather(session.mirrored, idx, session.device)
            features = torch.where(flip.view(-1, *[1] * (features.dim() - 1)), mirrored, features)
        return features, labels, True
    return *_batch(session, split, idx, train=train, generator=generator), False


def _train_logits(session: _Session, inputs: torch.Tensor, *, is_features: bool) -> torch.Tensor:
    """Logits for a training step; the frozen prefix (if any) runs without autograd."""
    assert session.train_forward is not None
    if session.parts is not None and not is_features:
        with torch.no_grad():
            inputs = session.parts.prefix(inputs)
    return session.train_forward(inputs)


def _eval_logits(session: _Session, inputs: torch.Tensor, *, is_features: bool) -> torch.Tensor:
    if is_features:
        assert session.parts is not None
        return session.parts.suffix(inputs)
    return session.model(inputs)


def train_one_epoch(session: _Session, epoch: int) -> tuple[float, float, int, dict[str, float]]:
    """One pass over the training split. Returns (mean loss, accuracy, images seen, LRs at step 0)."""
    config, model, optimizer = session.config, session.model, session.optimizer
    generator = torch.Generator().manual_seed(_epoch_seed(config, epoch))
    torch.manual_seed(_epoch_seed(config, epoch))  # dropout and other in-model randomness
    model.train()
    apply_freezing(model, config, epoch)
    batches = list(iterate_batches(len(session.data.train), config.batch_size, shuffle=True, generator=generator))
    loss_sum = torch.zeros((), device=session.device)
    correct = torch.zeros((), device=session.device, dtype=torch.long)
    seen, first_lrs = 0, {}
    watch = _LossWatch(session.device)
    session.progress.epoch_started(epoch)
    for step, idx in enumerate(batches):
        if session.should_stop():
            session.stopped = True
            break
        apply_lrs(optimizer, config, epoch, step, len(batches))
        if step == 0:
            first_lrs = _optimizer_lrs(session)
        inputs, labels, is_features = _inputs(session, session.data.train, idx, train=True, generator=generator)
        with _autocast(session.device):
            logits = _train_logits(session, inputs, is_features=is_features)
            loss = F.cross_entropy(logits.float(), labels, label_smoothing=config.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        loss_sum += loss.detach() * len(idx)
        correct += (logits.argmax(1) == labels).sum()
        seen += len(idx)
        landed = watch.offer(loss_sum, step, seen)
        if landed is not None:
            _check_finite(landed[1], epoch, landed[0])
        session.progress.step(epoch, loss=watch.mean, images=len(idx))
    mean_loss = loss_sum.item() / max(seen, 1)  # the epoch's one wait for the GPU
    if seen and not session.stopped:  # a cancelled epoch is not reported, diverged or not
        _check_finite(mean_loss, epoch, len(batches) - 1)
    return mean_loss, correct.item() / max(seen, 1), seen, first_lrs


def _optimizer_lrs(session: _Session) -> dict[str, float]:
    """The LR of every stage as the optimizer actually holds it (0 for stages left out)."""
    lrs = {name: 0.0 for name in session.config.stage_names}
    for group in session.optimizer.param_groups:
        lrs[group["stage"]] = group["lr"] if any(p.requires_grad for p in group["params"]) else 0.0
    return lrs


class _LossWatch:
    """The running training loss, read without making the CPU wait for the GPU.

    Reading a device scalar (`.item()`) waits for every queued kernel, which would stop the
    CPU from preparing the next batches while the GPU works. Instead a snapshot of the sum is
    copied into pinned memory behind the queued work, and read once a CUDA event says it has
    landed, typically a step or two later. A NaN/inf loss is therefore noticed within a few
    steps on a GPU, at once on the CPU (where reading costs nothing).
    """

    def __init__(self, device: torch.device) -> None:
        self.mean: float | None = None  # the latest mean loss read
        self._cuda = device.type == "cuda"
        if self._cuda:
            self._host = torch.zeros((), pin_memory=True)
            self._event = torch.cuda.Event()
        self._pending: tuple[int, int] | None = None  # (step, images seen) of the snapshot in flight

    def offer(self, loss_sum: torch.Tensor, step: int, seen: int) -> tuple[int, float] | None:
        """Snapshot `loss_sum` unless one is in flight; (step, mean loss) of a snapshot that landed."""
        if not self._cuda:
            self.mean = loss_sum.item() / seen
            return step, self.mean
        landed = None
        if self._pending is not None and self._event.query():
            (at, count), self._pending = self._pending, None
            self.mean = self._host.item() / count  # a CPU tensor: no wait
            landed = at, self.mean
        if self._pending is None:
            self._host.copy_(loss_sum.detach(), non_blocking=True)
            self._event.record()
            self._pending = step, seen
        return landed


def _check_finite(mean_loss: float, epoch: int, step: int) -> None:
    if not math.isfinite(mean_loss):
        raise DivergedLoss(
            f"the training loss became NaN/inf by epoch {epoch + 1}, step {step + 1}: "
            "lower the learning rates (the largest stage LR first) or add warm-up or grad_clip"
        )


@torch.inference_mode()
def evaluate(
    session: _Session, split: ImageTensors, *, confusion: torch.Tensor | None = None,
    predictions: list[torch.Tensor] | None = None,
) -> tuple[float | None, float | None]:  # fmt: skip
    """Mean loss and accuracy on a split, or (None, None) if it is empty.

    When `confusion` (classes × classes, int64) is given, counts are added to it:
    rows are true classes, columns predictions. `predictions` receives each batch's
    predicted classes (on the device), in the split's order.
    """
    if len(split) == 0:
        return None, None
    session.model.eval()
    batch_size = session.config.eval_batch_size or session.config.batch_size * 2
    # Summed on the device and read once at the end: no wait for the GPU per batch.
    loss_sum = torch.zeros((), device=session.device, dtype=torch.float64)
    correct = torch.zeros((), device=session.device, dtype=torch.long)
    counts = torch.zeros(confusion.numel() if confusion is not None else 0, device=session.device, dtype=torch.long)
    for idx in iterate_batches(len(split), batch_size, shuffle=False, generator=None):
        inputs, labels, is_features = _inputs(session, split, idx, train=False, generator=None)
        with _autocast(session.device):
            logits = _eval_logits(session, inputs, is_features=is_features).float()
        loss_sum += F.cross_entropy(logits, labels, reduction="sum")
        predicted = logits.argmax(1)
        correct += (predicted == labels).sum()
        if predictions is not None:
            predictions.append(predicted)
        if confusion is not None:
            counts += torch.bincount(labels * confusion.shape[1] + predicted, minlength=counts.numel())
    if confusion is not None:
        confusion += counts.cpu().view_as(confusion)
    return loss_sum.item() / len(split), correct.item() / len(split)


def _run_epoch(session: _Session, epoch: int) -> EpochRecord | None:
    """Train and evaluate one epoch; None if a stop request cut the epoch short.

    A cut-short epoch is not reported: its numbers would describe part of an epoch.
    """
    started = time.perf_counter()
    _enter_phase(session, epoch)
    train_loss, train_acc, seen, lrs = train_one_epoch(session, epoch)
    if session.stopped:
        return None
    train_seconds = time.perf_counter() - started
    val_loss, val_acc = evaluate(session, session.data.val)
    due = (epoch + 1) % session.test_interval == 0 or epoch == session.config.epochs - 1
    test_loss, test_acc = evaluate(session, session.data.test) if due else (None, None)
    return EpochRecord(
        epoch=epoch, train_loss=train_loss, train_acc=train_acc, val_loss=val_loss, val_acc=val_acc,
        test_loss=test_loss, test_acc=test_acc, lr=lrs,
        images_per_s=seen / max(train_seconds, 1e-9), seconds=time.perf_counter() - started,
    )  # fmt: skip


def fit(
    config: TrainConfig,
    runtime: Runtime,
    *,
    on_epoch: OnEpoch | None = None,
    should_stop: ShouldStop | None = None,
    on_progress: OnProgress | None = None,
) -> FitResult:
    """Train `config` to the end (or until `should_stop()`), resuming from `out_dir` if it holds a checkpoint.

    Args:
        config: what to compute.
        runtime: where (device, folders) and how (progress bar, decode threads).
        on_epoch: called after each newly finished epoch, before its checkpoint is
            written: after a crash in between, that epoch runs again and is reported
            again with the same number, so receivers should upsert by epoch. Answering
            `EpochVerdict.PRUNE` ends the run after that epoch's checkpoint (a sweep's
            pruner): the summary says `stop_reason="pruned"` and `pruned_epoch`, and a
            resumed run trains no further.
        should_stop: polled before every training step; True ends the run early
            (its summary says `stopped`). Callers that query a database should throttle.
        on_progress: called at each epoch's start and after every training step with
            the step, the pace and the time left; it must be cheap (keep the latest).

    Raises:
        TrainingError: a subclass whose message says what to change; `DiskFull` for any write
            that found no space, naming the file relative to the data root.
    """
    try:
        return _fit(config, runtime, on_epoch, should_stop, on_progress)
    except Exception as error:
        if not checkpoints.is_disk_full(error):
            raise
        raise DiskFull(_relative_to_data_root(_unwritten_path(error, runtime), runtime)) from error


def _unwritten_path(error: BaseException, runtime: Runtime) -> Path:
    """The file a disk-full error was writing, else the run's folder (a write's OSError names no file)."""
    if isinstance(error, DiskFull):
        return error.path
    if isinstance(error, OSError) and error.filename:
        return Path(error.filename)
    return runtime.out_dir


def _relative_to_data_root(path: Path, runtime: Runtime) -> Path:
    root = runtime.data_root.resolve()
    path = path if path.is_absolute() else Path.cwd() / path
    return path.resolve().relative_to(root) if path.resolve().is_relative_to(root) else Path(path.name)


def _fit(
    config: TrainConfig, runtime: Runtime, on_epoch: OnEpoch | None, should_stop: ShouldStop | None,
    on_progress: OnProgress | None,
) -> FitResult:
    session = _start_session(config, runtime, should_stop or (lambda: False), on_progress)
    out = runtime.out_dir
    try:
        for epoch in range(len(session.records), config.epochs):
            if session.pruned_epoch is not None:
                break
            record = _run_epoch(session, epoch)
            if record is None:
                break
            _finish_epoch(session, record, out, on_epoch)
    except torch.OutOfMemoryError as exc:
        raise OutOfMemory(
            f"out of memory at batch size {config.batch_size}, image size {session.image_size} "
            f"on {session.device}: lower batch_size or image_size"
        ) from exc
    finally:
        session.progress.close()
    report = _test_report(session, out)
    summary = _summarize(session, report.accuracy if report and report.model == "best" else None)
    (out / "summary.json").write_text(json.dumps(summary.model_dump(), indent=2) + "\n")
    fast_path = _write_fast_path(session)
    return FitResult(summary=summary, records=list(session.records), out_dir=out, test_report=report, fast_path=fast_path)


def _start_session(
    config: TrainConfig, runtime: Runtime, should_stop: ShouldStop, on_progress: OnProgress | None
) -> _Session:
    device = resolve_device(runtime.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input sizes: let cuDNN pick the fastest kernels
    image_size = config.resolved_image_size()
    torch.manual_seed(config.seed)  # the new head's (and a scratch model's) initial weights
    cache_dir = runtime.data_root / ".cache" / "decoded" if runtime.decode_cache else None
    with preparing(f"preparing {config.dataset.label}: reading, decoding or caching images, building {config.backbone}",
                   enabled=runtime.progress) as prepared:  # fmt: skip
        data = load_data(
            config.dataset, runtime.data_root, image_size, num_workers=runtime.num_workers, cache_dir=cache_dir,
            cache_budget_bytes=runtime.decode_cache_budget_bytes, on_decode=prepared.images,
            whole_train=config.resolved_augment() == "resized_crop_flip",  # crops over the whole image
        )
        model = build_model(
            config, len(data.class_names), data_root=runtime.data_root,
            weights_dir=runtime.weights_dir, allow_download=runtime.allow_download,
        )  # fmt: skip
    model = model.to(device, memory_format=torch.channels_last if device.type == "cuda" else torch.preserve_format)
    budget = _resident_budget(runtime, device)
    placed, placement = _place(data, device, budget)
    fused = device.type == "cuda"  # one kernel per step for all parameters instead of one per tensor
    session = _Session(
        config=config, model=model, optimizer=build_optimizer(model, config, fused=fused), data=placed,
        device=device, image_size=image_size, should_stop=should_stop, runtime=runtime,
        feature_budget=budget - (placed.nbytes() if placement == "resident" else 0),
        progress=Progress(config.epochs, _steps_per_epoch(config, data), enabled=runtime.progress, listener=on_progress),
        test_interval=interval_for_test_split(
            config.test_every, train=len(data.train), val=len(data.val), test=len(data.test)),
    )  # fmt: skip
    runtime.out_dir.mkdir(parents=True, exist_ok=True)
    _resume(session, runtime.out_dir)
    session.decisions = Decisions(
        placement=placement, decoded_from_cache=data.from_cache, fused_optimizer=fused, bf16=device.type == "cuda",
        compile=should_compile(runtime.compile, device, config.epochs, len(data.train)),
        test_split=describe_test_cadence(session.test_interval, config.test_every),
    )  # fmt: skip
    report = _write_fast_path(session)
    log.info("fast path: %s", ", ".join(f"{key}={value}" for key, value in report.items()))
    return session


def _resident_budget(runtime: Runtime, device: torch.device) -> int:
    """Bytes the decoded dataset (and cached features) may occupy on the device."""
    if runtime.resident_budget_bytes is not None:
        return runtime.resident_budget_bytes
    if device.type == "cuda":
        return int(torch.cuda.get_device_properties(device).total_memory * RESIDENT_SHARE)
    return 2**62  # CPU: the data are in RAM already; no budget to enforce


def _place(data: LoadedData, device: torch.device, budget: int) -> tuple[LoadedData, str]:
    """The dataset on the device when it fits the budget ("resident"), else left in CPU memory
    and streamed per batch ("streamed"); "cpu" when training on the CPU."""
    if device.type == "cpu":
        return data, "cpu"
    if data.nbytes() > budget:
        log.info("decoded dataset (%.1f GB) exceeds the resident budget (%.1f GB): streaming batches",
                 data.nbytes() / 1e9, budget / 1e9)  # fmt: skip
        return data, "streamed"
    return _to_device(data, device), "resident"


def _enter_phase(session: _Session, epoch: int) -> None:
    """Cut the model after the stages frozen in `epoch` (again when an unfreeze moved the cut),
    cache the prefix's outputs where exact, and compile the trainable part if chosen."""
    config = session.config
    cut = frozen_prefix_stages(config, epoch)
    if cut == session.cut:
        return
    session.cut, session.features, session.mirrored = cut, {}, None  # stale now: free them first
    session.parts = split_model(session.model, config, epoch)
    how = "none"
    if session.parts is not None:
        how = "no_grad"
        views = cached_views(config)
        if session.runtime.cache_frozen_features and views:
            session.features, session.mirrored = _prefix_features(session, session.feature_budget, views)
            how = ("cached features" if views == ("plain",) else "cached features, both flips") if session.features else how
    trainable: nn.Module = session.parts.suffix if session.parts is not None else session.model
    assert session.decisions is not None
    session.train_forward = torch.compile(trainable) if session.decisions.compile else trainable
    stages = f" ({describe(session.parts.frozen_stages)})" if session.parts is not None else ""
    if session.phases and session.phases[-1][1] == how + stages:
        return  # e.g. a family without a layout: still no cut
    session.phases.append((epoch, how + stages))
    _write_fast_path(session)
    if epoch > 0 or session.parts is not None:
        log.info("from epoch %d the frozen prefix runs as: %s%s", epoch + 1, how, stages)


def _write_fast_path(session: _Session) -> dict[str, str]:
    """`fast_path.json` in the run's folder, from the decisions, replaced atomically (the dashboard reads it live)."""
    assert session.decisions is not None
    report = session.decisions.report(_phases_text(session) if session.phases else "none")
    path = session.runtime.out_dir / "fast_path.json"
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(report, indent=2) + "\n")
    temporary.replace(path)
    return report


def _phases_text(session: _Session) -> str:
    """"cached features (conv1–conv3)", "none", … for a one-phase run, else each phase with its
    epochs: "epochs 1–4: cached features (conv1–conv3); epochs 5–10: no_grad (conv1)"."""
    if len(session.phases) == 1 and session.phases[0][0] == 0:
        return session.phases[0][1]
    starts = [first for first, _ in session.phases] + [session.config.epochs]
    parts = []
    for (first, how), end in zip(session.phases, starts[1:], strict=False):
        span = f"epoch {first + 1}" if end == first + 1 else f"epochs {first + 1}–{end}"
        parts.append(f"{span}: {how}")
    return "; ".join(parts)


@torch.no_grad()  # not inference_mode: the suffix's backward must be able to save these as inputs
def _prefix_features(
    session: _Session, budget: int, views: tuple[str, ...]
) -> tuple[dict[str, ImageTensors], ImageTensors | None]:
    """The frozen prefix's output for every train and val image, and for the mirrored training
    images when `views` has "mirrored"; ({}, None) if they exceed `budget`."""
    assert session.parts is not None
    session.model.eval()  # frozen stages are in eval mode all phase (cached_views)
    wanted = [("train", False), ("val", False)] + ([("train", True)] if "mirrored" in views else [])
    computed: list[ImageTensors] = []
    used = 0
    for name, mirror in wanted:
        split: ImageTensors = getattr(session.data, name)
        chunks = []
        for idx in iterate_batches(len(split), session.config.eval_batch_size or session.config.batch_size * 2,
                                   shuffle=False, generator=None):  # fmt: skip
            inputs, _ = _batch(session, split, idx, train=False, generator=None)
            # Mirroring commutes with the per-channel normalization: this is the flipped image's input.
            inputs = inputs.flip(-1) if mirror else inputs
            with _autocast(session.device):
                chunks.append(session.parts.prefix(inputs))
            used += chunks[-1].nbytes
            if used > budget:
                log.info("frozen-prefix features exceed the memory budget: computing them every step")
                return {}, None
        computed.append(ImageTensors(images=torch.cat(chunks) if chunks else torch.empty(0),
                                     labels=split.labels.to(session.device)))  # fmt: skip
    features = {name: tensors for (name, mirror), tensors in zip(wanted, computed, strict=True) if not mirror}
    return {name: f for name, f in features.items() if len(f)}, (computed[2] if len(computed) == 3 else None)


def _steps_per_epoch(config: TrainConfig, data: LoadedData) -> int:
    return max(math.ceil(len(data.train) / config.batch_size), 1)


def _to_device(data: LoadedData, device: torch.device) -> LoadedData:
    """Small decoded datasets live on the training device, so batches never cross PCIe."""

    def move(split: ImageTensors) -> ImageTensors:
        return ImageTensors(images=split.images.to(device), labels=split.labels.to(device), sizes=split.sizes)

    return LoadedData(
        train=move(data.train), val=move(data.val), test=move(data.test), class_names=data.class_names,
        indices=data.indices, split_hash=data.split_hash, skipped=data.skipped, storage_size=data.storage_size,
        from_cache=data.from_cache,
    )  # fmt: skip


def _finish_epoch(session: _Session, record: EpochRecord, out: Path, on_epoch: OnEpoch | None) -> None:
    # Before each file replaces the last one, `should_stop` gets a chance to raise: a caller
    # that can lose the run (a worker frozen past its lease) must not overwrite its new owner's files.
    still_ours = session.should_stop
    session.records.append(record)
    if record.val_acc is not None and (session.best_val_acc is None or record.val_acc > session.best_val_acc):
        session.best_val_acc, session.best_epoch = record.val_acc, record.epoch
        if session.runtime.keep_best:
            checkpoints.save_atomic(_payload(session, with_optimizer=False), out / "best.pt", before_replace=still_ours)
    still_ours()
    with (out / "metrics.jsonl").open("a") as fh:
        fh.write(record.model_dump_json() + "\n")
    if on_epoch is not None and on_epoch(record) == EpochVerdict.PRUNE:
        session.pruned_epoch = record.epoch  # in the checkpoint below, so a resumed run stays stopped
    checkpoints.save_atomic(_payload(session, with_optimizer=True), out / "checkpoint.pt", before_replace=still_ours)
    session.progress.epoch_done(record)


def _payload(session: _Session, *, with_optimizer: bool) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "format": checkpoints.FORMAT_VERSION,
        "model": checkpoints.model_state(session.model),
        "epoch": len(session.records),
        "config": session.config.model_dump(mode="json"),
        "class_names": list(session.data.class_names),
        "split_hash": session.data.split_hash,
        "best_val_acc": session.best_val_acc,
        "best_epoch": session.best_epoch,
        "pruned_epoch": session.pruned_epoch,
        "records": [r.model_dump(mode="json") for r in session.records],
    }
    if with_optimizer:
        payload["optimizer"] = session.optimizer.state_dict()
    return payload


def _resume(session: _Session, out: Path) -> None:
    """Continue from `out/checkpoint.pt` if present; refuse one written for another config."""
    path = out / "checkpoint.pt"
    if not path.exists():
        (out / "metrics.jsonl").unlink(missing_ok=True)
        return
    saved = checkpoints.load_trusted_format(path)
    if _comparable(saved.get("config", {})) != _comparable(session.config.model_dump(mode="json")):
        raise TrainingError(f"{out} holds a checkpoint of a different config: choose another output folder")
    session.model.load_state_dict(saved["model"])
    session.optimizer.load_state_dict(saved["optimizer"])
    session.records = [EpochRecord.model_validate(r) for r in saved["records"]]
    session.best_val_acc, session.best_epoch = saved["best_val_acc"], saved["best_epoch"]
    session.pruned_epoch = saved.get("pruned_epoch")  # absent from checkpoints older than pruning
    # metrics.jsonl may hold an epoch reported after the checkpoint was written: drop it.
    lines = "".join(r.model_dump_json() + "\n" for r in session.records)
    (out / "metrics.jsonl").write_text(lines)
    session.progress.skip(len(session.records))


def _comparable(config: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in config.items() if key != "name"}


def _test_report(session: _Session, out: Path) -> TestReport | None:
    """Per-class results on the test split of the best-validation model (the last one
    when there is no validation split), also written to `out/test_report.json`."""
    if not session.records or len(session.data.test) == 0:
        return None
    which = "best" if session.best_epoch is not None and session.runtime.keep_best else "last"
    if which == "best":
        session.model.load_state_dict(checkpoints.load_trusted_format(out / "best.pt")["model"])
    classes = len(session.data.class_names)
    confusion = torch.zeros(classes, classes, dtype=torch.long)
    predicted: list[torch.Tensor] = []
    _, accuracy = evaluate(session, session.data.test, confusion=confusion, predictions=predicted)
    report = TestReport(
        model=which, epoch=session.best_epoch if which == "best" else session.records[-1].epoch,
        accuracy=accuracy or 0.0, class_names=list(session.data.class_names), confusion=confusion.tolist(),
        predictions=torch.cat(predicted).tolist(),
    )  # fmt: skip
    (out / "test_report.json").write_text(report.model_dump_json(indent=2) + "\n")
    return report


def _summarize(session: _Session, test_acc_at_best: float | None) -> RunSummary:
    records = session.records
    steady = records[1:] or records  # the first epoch pays for warm-up and caches
    finished = len(records) == session.config.epochs and session.pruned_epoch is None
    return RunSummary(
        epochs_done=len(records),
        best_val_acc=session.best_val_acc,
        best_epoch=session.best_epoch,
        test_acc_at_best_val=test_acc_at_best,
        final_train_acc=records[-1].train_acc if records else None,
        final_test_acc=records[-1].test_acc if records else None,
        images_per_s=sum(r.images_per_s for r in steady) / len(steady) if steady else None,
        split_hash=session.data.split_hash,
        stopped=not finished,
        stop_reason="cancelled" if session.stopped else "pruned" if session.pruned_epoch is not None else None,
        pruned_epoch=session.pruned_epoch,
    )
