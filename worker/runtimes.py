"""The training core's `Runtime` built from the service's `Settings`: one place for the worker and the CLI."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from app.settings import Settings
from worker.training.runtime import Runtime


def runtime_from_settings(settings: Settings, out_dir: Path, **changes: object) -> Runtime:
    """Where a run reads data and weights and writes its files, and how it loads data.

    `changes` override single fields (the CLI's `--device`, its progress bar).
    """
    runtime = Runtime(
        data_root=settings.data_dir, out_dir=out_dir, device=settings.device, weights_dir=settings.weights_dir,
        allow_download=settings.allow_download, num_workers=settings.num_workers,
        resident_budget_bytes=settings.resident_budget_bytes,
        decode_cache_budget_bytes=settings.decode_cache_budget_bytes, keep_best=settings.keep_checkpoints != "last",
    )  # fmt: skip
    return dataclasses.replace(runtime, **changes) if changes else runtime
