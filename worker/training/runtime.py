"""Where and how a run executes: things that do not change what it computes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


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
    """

    data_root: Path
    out_dir: Path
    device: str = "auto"
    weights_dir: Path | None = None
    allow_download: bool = False
    num_workers: int = 0
    progress: bool = False
