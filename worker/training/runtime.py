"""Where and how a run executes: things that do not change what it computes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

CompileMode = Literal["auto", "on", "off"]


@dataclass(frozen=True)
class Runtime:
    """Execution settings for `fit`, separate from the `TrainConfig`.

    Attributes:
        data_root: datasets and checkpoint files named in configs live under it.
        out_dir: where metrics.jsonl, summary.json and checkpoints are written.
        device: "auto" (CUDA when available), "cpu", "cuda" or "cuda:N".
        weights_dir: folder of pretrained .pth files (default: torch hub's checkpoints/).
        allow_download: let torchvision fetch missing ImageNet weights.
        num_workers: threads decoding images.
        progress: show a progress bar with ETA on stderr.
        resident_budget_bytes: on a GPU, the decoded train+val+test tensors live in GPU
            memory when they fit this budget; larger ones stay in CPU memory and each
            batch is streamed over. None: 40 % of the GPU's memory.
        decode_cache: keep decoded images of folder datasets under
            data_root/.cache/decoded/, so the next run with the same split and size
            skips decoding.
        decode_cache_budget_bytes: the most that folder may hold; the least recently
            used entries are removed first. None: no limit.
        cache_frozen_features: when leading stages are frozen and their input is not
            randomly cropped (augment "none", or "flip": both views are cached) and they
            run in eval mode (not `train_frozen_bn`), compute their outputs once per phase
            and train the rest from them. Exact, so on by default; never where inexact.
        keep_best: write `best.pt` (the best-val model) beside `checkpoint.pt`; off, only
            the last epoch is kept (half the disk of a run) and the test report is the last model's.
        compile: torch.compile the training forward: "on", "off", or "auto" (only on
            CUDA and for runs long enough to repay the warm-up; see `loop.should_compile`).
    """

    data_root: Path
    out_dir: Path
    device: str = "auto"
    weights_dir: Path | None = None
    allow_download: bool = False
    num_workers: int = 0
    progress: bool = False
    resident_budget_bytes: int | None = None
    decode_cache: bool = True
    decode_cache_budget_bytes: int | None = None
    cache_frozen_features: bool = True
    compile: CompileMode = "auto"
    keep_best: bool = True
