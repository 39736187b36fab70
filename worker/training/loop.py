"""The training loop: `fit(config, runtime)` trains, evaluates, checkpoints and reports.

`train_one_epoch` and `evaluate` are standalone functions in the manner of torchvision's
`references/classification/train.py`. Every epoch draws its shuffling, augmentation and
dropout randomness from seeds derived from (config.seed, epoch), so a run resumed from a
checkpoint computes the same next epoch as one that never stopped.
"""

from __future__ import annotations

import json
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

from app.schemas.metrics import EpochRecord, RunSummary, TestReport
from app.schemas.train_config import TrainConfig
from worker.training import checkpoints
from worker.training.backbones import build_model
from worker.training.datasets import ImageTensors, LoadedData, load_data
from worker.training.errors import DivergedLoss, OutOfMemory, TrainingError
from worker.training.param_groups import apply_freezing, apply_lrs, build_optimizer
from worker.training.progress import Progress
from worker.training.runtime import Runtime
from worker.training.transforms import iterate_batches, prepare_batch

OnEpoch = Callable[[EpochRecord], None]
ShouldStop = Callable[[], bool]


@dataclass(frozen=True)
class FitResult:
    """What `fit` returns: the summary, every epoch's record (resumed ones included)."""

    summary: RunSummary
    records: list[EpochRecord]
    out_dir: Path
    test_report: TestReport | None = None


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
    records: list[EpochRecord] = field(default_factory=list)
    best_val_acc: float | None = None
    best_epoch: int | None = None
    stopped: bool = False


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


def _batch(session: _Session, split: ImageTensors, idx: torch.Tensor, *, train: bool,
           generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    images = split.images[idx].to(session.device, non_blocking=True)
    labels = split.labels[idx].to(session.device, non_blocking=True)
    inputs = prepare_batch(
        images,
        train=train,
        image_size=session.image_size,
        augment=session.config.resolved_augment() if train else "none",
        normalization=session.config.resolved_normalization(),
        generator=generator,
    )
    if session.device.type == "cuda":
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    return inputs, labels


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
    for step, idx in enumerate(batches):
        if session.should_stop():
            session.stopped = True
            break
        apply_lrs(optimizer, config, epoch, step, len(batches))
        if step == 0:
            first_lrs = _optimizer_lrs(session)
        inputs, labels = _batch(session, session.data.train, idx, train=True, generator=generator)
        with _autocast(session.device):
            logits = model(inputs)
            loss = F.cross_entropy(logits.float(), labels, label_smoothing=config.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        loss_sum += loss.detach() * len(idx)
        correct += (logits.argmax(1) == labels).sum()
        seen += len(idx)
        _check_finite(loss_sum, epoch, step, session)
        session.progress.step(epoch, loss=loss_sum.item() / seen)
    return loss_sum.item() / max(seen, 1), correct.item() / max(seen, 1), seen, first_lrs


def _optimizer_lrs(session: _Session) -> dict[str, float]:
    """The LR of every stage as the optimizer actually holds it (0 for stages left out)."""
    lrs = {name: 0.0 for name in session.config.stage_names}
    for group in session.optimizer.param_groups:
        lrs[group["stage"]] = group["lr"] if any(p.requires_grad for p in group["params"]) else 0.0
    return lrs


def _check_finite(loss_sum: torch.Tensor, epoch: int, step: int, session: _Session) -> None:
    # Reading the loss forces a device sync, so on a GPU look only every 20 steps.
    if session.device.type == "cuda" and step % 20:
        return
    if not math.isfinite(loss_sum.item()):
        raise DivergedLoss(
            f"the training loss became NaN/inf at epoch {epoch + 1}, step {step + 1}: "
            "lower the learning rates (the largest stage LR first) or add warm-up or grad_clip"
        )


@torch.inference_mode()
def evaluate(
    session: _Session, split: ImageTensors, *, confusion: torch.Tensor | None = None
) -> tuple[float | None, float | None]:
    """Mean loss and accuracy on a split, or (None, None) if it is empty.

    When `confusion` (classes × classes, int64) is given, counts are added to it:
    rows are true classes, columns predictions.
    """
    if len(split) == 0:
        return None, None
    session.model.eval()
    batch_size = session.config.eval_batch_size or session.config.batch_size * 2
    loss_sum, correct = 0.0, 0
    for idx in iterate_batches(len(split), batch_size, shuffle=False, generator=None):
        inputs, labels = _batch(session, split, idx, train=False, generator=None)
        with _autocast(session.device):
            logits = session.model(inputs).float()
        loss_sum += F.cross_entropy(logits, labels, reduction="sum").item()
        predicted = logits.argmax(1)
        correct += (predicted == labels).sum().item()
        if confusion is not None:
            pairs = (labels * confusion.shape[1] + predicted).cpu()
            confusion += torch.bincount(pairs, minlength=confusion.numel()).view_as(confusion)
    return loss_sum / len(split), correct / len(split)


def _run_epoch(session: _Session, epoch: int) -> EpochRecord | None:
    """Train and evaluate one epoch; None if a stop request cut the epoch short.

    A cut-short epoch is not reported: its numbers would describe part of an epoch.
    """
    started = time.perf_counter()
    train_loss, train_acc, seen, lrs = train_one_epoch(session, epoch)
    if session.stopped:
        return None
    train_seconds = time.perf_counter() - started
    val_loss, val_acc = evaluate(session, session.data.val)
    due = (epoch + 1) % session.config.test_every == 0 or epoch == session.config.epochs - 1
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
) -> FitResult:
    """Train `config` to the end (or until `should_stop()`), resuming from `out_dir` if it holds a checkpoint.

    Args:
        config: what to compute.
        runtime: where (device, folders) and how (progress bar, decode threads).
        on_epoch: called after each newly finished epoch, before its checkpoint is
            written: after a crash in between, that epoch runs again and is reported
            again with the same number, so receivers should upsert by epoch.
        should_stop: polled before every training step; True ends the run early
            (its summary says `stopped`). Callers that query a database should throttle.

    Raises:
        TrainingError: a subclass whose message says what to change.
    """
    session = _start_session(config, runtime, should_stop or (lambda: False))
    out = runtime.out_dir
    try:
        for epoch in range(len(session.records), config.epochs):
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
    return FitResult(summary=summary, records=list(session.records), out_dir=out, test_report=report)


def _start_session(config: TrainConfig, runtime: Runtime, should_stop: ShouldStop) -> _Session:
    device = resolve_device(runtime.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input sizes: let cuDNN pick the fastest kernels
    image_size = config.resolved_image_size()
    torch.manual_seed(config.seed)  # the new head's (and a scratch model's) initial weights
    data = load_data(config.dataset, runtime.data_root, image_size, num_workers=runtime.num_workers)
    model = build_model(
        config, len(data.class_names), data_root=runtime.data_root,
        weights_dir=runtime.weights_dir, allow_download=runtime.allow_download,
    )  # fmt: skip
    model = model.to(device, memory_format=torch.channels_last if device.type == "cuda" else torch.preserve_format)
    session = _Session(
        config=config, model=model, optimizer=build_optimizer(model, config), data=_to_device(data, device),
        device=device, image_size=image_size, should_stop=should_stop,
        progress=Progress(config.epochs, _steps_per_epoch(config, data), enabled=runtime.progress),
    )  # fmt: skip
    runtime.out_dir.mkdir(parents=True, exist_ok=True)
    _resume(session, runtime.out_dir)
    return session


def _steps_per_epoch(config: TrainConfig, data: LoadedData) -> int:
    return max(math.ceil(len(data.train) / config.batch_size), 1)


def _to_device(data: LoadedData, device: torch.device) -> LoadedData:
    """Small decoded datasets live on the training device, so batches never cross PCIe."""
    if device.type == "cpu":
        return data

    def move(split: ImageTensors) -> ImageTensors:
        return ImageTensors(images=split.images.to(device), labels=split.labels.to(device))

    return LoadedData(
        train=move(data.train), val=move(data.val), test=move(data.test), class_names=data.class_names,
        indices=data.indices, split_hash=data.split_hash, skipped=data.skipped, storage_size=data.storage_size,
    )  # fmt: skip


def _finish_epoch(session: _Session, record: EpochRecord, out: Path, on_epoch: OnEpoch | None) -> None:
    session.records.append(record)
    if record.val_acc is not None and (session.best_val_acc is None or record.val_acc > session.best_val_acc):
        session.best_val_acc, session.best_epoch = record.val_acc, record.epoch
        checkpoints.save_atomic(_payload(session, with_optimizer=False), out / "best.pt")
    with (out / "metrics.jsonl").open("a") as fh:
        fh.write(record.model_dump_json() + "\n")
    if on_epoch is not None:
        on_epoch(record)
    checkpoints.save_atomic(_payload(session, with_optimizer=True), out / "checkpoint.pt")
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
    which = "best" if session.best_epoch is not None else "last"
    if which == "best":
        session.model.load_state_dict(checkpoints.load_trusted_format(out / "best.pt")["model"])
    classes = len(session.data.class_names)
    confusion = torch.zeros(classes, classes, dtype=torch.long)
    _, accuracy = evaluate(session, session.data.test, confusion=confusion)
    report = TestReport(
        model=which, epoch=session.best_epoch if which == "best" else session.records[-1].epoch,
        accuracy=accuracy or 0.0, class_names=list(session.data.class_names), confusion=confusion.tolist(),
    )  # fmt: skip
    (out / "test_report.json").write_text(report.model_dump_json(indent=2) + "\n")
    return report


def _summarize(session: _Session, test_acc_at_best: float | None) -> RunSummary:
    records = session.records
    steady = records[1:] or records  # the first epoch pays for warm-up and caches
    finished = len(records) == session.config.epochs
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
        stop_reason="cancelled" if session.stopped else None,
    )
