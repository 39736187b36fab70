"""The fast path on a GPU computes what the CPU path computes (run by bench/gpu_check.sh)."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch

from app.presets import apply_overrides
from app.schemas.catalog import BACKBONES
from app.schemas.train_config import TrainConfig
from worker.training.loop import fit
from worker.training.runtime import Runtime

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

TINY: dict[str, Any] = {
    "backbone": "resnet18",
    "weights": "none",
    "dataset": {"name": "fake", "num_images": 96, "num_classes": 3},
    "epochs": 4,
    "batch_size": 16,
    "image_size": 32,
    "augment": "none",
    "optimizer": {"lr": 0.02},
}
PROBE = {stage: 0 for stage in ("conv1", "conv2", "conv3", "conv4", "conv5")}


def tiny(**overrides: Any) -> TrainConfig:
    return TrainConfig.model_validate(apply_overrides(TINY, overrides))


def run(tmp_path: Path, out: str, config: TrainConfig, **options: Any) -> Any:
    return fit(config, Runtime(data_root=tmp_path, out_dir=tmp_path / out, **options))


def test_cuda_run_holds_the_data_on_the_gpu_with_a_fused_optimizer(tmp_path: Path) -> None:
    result = run(tmp_path, "out", tiny(epochs=1), device="cuda")
    assert result.fast_path["data"] == "resident" and result.fast_path["fused_optimizer"] == "on"


def test_streamed_batches_train_like_resident_data(tmp_path: Path) -> None:
    resident = run(tmp_path, "resident", tiny(), device="cuda")
    streamed = run(tmp_path, "streamed", tiny(), device="cuda", resident_budget_bytes=1)
    assert streamed.fast_path["data"] == "streamed"
    for mine, theirs in zip(streamed.records, resident.records, strict=True):
        assert mine.train_loss == pytest.approx(theirs.train_loss, rel=2e-2, abs=1e-3)


def test_cached_features_on_cuda_train_like_the_uncached_path(tmp_path: Path) -> None:
    config = tiny(stages={"conv1": 0, "conv2": 0, "conv3": 0})
    cached = run(tmp_path, "cached", config, device="cuda")
    uncached = run(tmp_path, "uncached", config, device="cuda", cache_frozen_features=False)
    assert cached.fast_path["frozen_prefix"] == "cached features (conv1–conv3)"
    for mine, theirs in zip(cached.records, uncached.records, strict=True):
        assert mine.train_loss == pytest.approx(theirs.train_loss, rel=2e-2, abs=1e-3)


def test_cuda_fast_path_learns_along_the_cpu_curve(tmp_path: Path) -> None:
    """bf16 + channels_last + cached features on the GPU vs fp32 on the CPU, same seed:
    a linear probe (deterministic features) so that the curves differ only by precision."""
    config = tiny(stages=PROBE)
    gpu = [r.val_acc for r in run(tmp_path, "gpu", config, device="cuda").records]
    cpu = [r.val_acc for r in run(tmp_path, "cpu", config, device="cpu").records]
    assert gpu[-1] >= 0.9 and cpu[-1] >= 0.9
    assert max(abs(a - b) for a, b in zip(gpu[1:], cpu[1:], strict=True)) <= 0.1  # after the first epoch


def test_compiled_training_matches_eager(tmp_path: Path) -> None:
    config = tiny(epochs=2)
    eager = run(tmp_path, "eager", config, device="cuda", compile="off")
    compiled = run(tmp_path, "compiled", config, device="cuda", compile="on")
    assert compiled.fast_path["compile"] == "on"
    for mine, theirs in zip(compiled.records, eager.records, strict=True):
        assert mine.train_loss == pytest.approx(theirs.train_loss, rel=5e-2, abs=1e-2)


def test_flip_cached_features_on_cuda_train_like_the_per_step_prefix(tmp_path: Path) -> None:
    config = tiny(stages=PROBE, augment="flip")
    cached = run(tmp_path, "cached", config, device="cuda")
    per_step = run(tmp_path, "per_step", config, device="cuda", cache_frozen_features=False)
    assert (cached.fast_path["frozen_prefix"], per_step.fast_path["frozen_prefix"]) == (
        "cached features, both flips (conv1–conv5)", "no_grad (conv1–conv5)",
    )  # fmt: skip
    for mine, theirs in zip(cached.records, per_step.records, strict=True):
        assert mine.train_loss == pytest.approx(theirs.train_loss, rel=2e-2, abs=1e-3)


def test_every_family_cuts_on_cuda_in_bf16(tmp_path: Path) -> None:
    """Each family's layout under autocast and channels_last: two epochs with cached features."""
    for backbone in sorted(BACKBONES):
        stages = dict.fromkeys(BACKBONES[backbone].stage_names[:3], 0)
        size = 224 if backbone == "vit_b_16" else 64
        config = tiny(backbone=backbone, stages=stages, image_size=size, epochs=2,
                      dataset={"name": "fake", "num_images": 32, "num_classes": 3})  # fmt: skip
        result = run(tmp_path, backbone, config, device="cuda")
        assert result.fast_path["frozen_prefix"].startswith("cached features ("), backbone
        assert all(math.isfinite(r.train_loss) for r in result.records), backbone


@pytest.mark.parametrize(("augment", "stages"), [("resized_crop_flip", {}), ("crop_flip", {}), ("flip", PROBE)])
def test_training_steps_never_wait_for_the_gpu(tmp_path: Path, augment: str, stages: dict[str, int]) -> None:
    """The CPU must run ahead of the GPU: the waits a run makes (torch.cuda.set_sync_debug_mode
    reports each) may not grow with its number of steps."""

    def waits(num_images: int) -> int:
        config = tiny(epochs=2, augment=augment, stages=stages, image_size=48, batch_size=8,
                      dataset={"name": "fake", "num_images": num_images, "num_classes": 3})  # fmt: skip
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                run(tmp_path, f"{augment}-{num_images}", config, device="cuda")
            finally:
                torch.cuda.set_sync_debug_mode("default")
        return sum("synchronizing" in str(w.message) for w in caught)

    few, many = waits(48), waits(192)  # 3 and 12 training steps per epoch
    assert few == many, f"{few} waits with 3 steps per epoch, {many} with 12"
