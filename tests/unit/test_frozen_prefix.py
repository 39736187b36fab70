"""Frozen-prefix cuts for every backbone family: the two halves compute the whole model,
in eval and in train mode, and a cut that moves with gradual unfreezing trains exactly like
the uncut model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from tiny_runs import runtime, tiny

from app.schemas.catalog import BACKBONES
from app.schemas.train_config import TrainConfig
from worker.training import frozen_prefix
from worker.training.backbones import build_model
from worker.training.frozen_prefix import split_model
from worker.training.loop import fit
from worker.training.param_groups import apply_freezing


def frozen_up_to(backbone: str, count: int) -> TrainConfig:
    stages = BACKBONES[backbone].stage_names
    return tiny(backbone=backbone, augment="none", stages={stage: 0 for stage in stages[:count]})


def side(backbone: str) -> int:
    return 224 if backbone == "vit_b_16" else 64  # ViT-B/16 takes 224 px only


@pytest.mark.parametrize("backbone", sorted(BACKBONES))
def test_every_cut_of_every_backbone_computes_the_whole_model(backbone: str) -> None:
    torch.manual_seed(0)
    model = build_model(tiny(backbone=backbone), 3, data_root=Path(".")).eval()
    x = torch.randn(2, 3, side(backbone), side(backbone))
    with torch.no_grad():
        whole = model(x)
        for count in range(1, len(BACKBONES[backbone].stages) - 1 + 1):
            parts = split_model(model, frozen_up_to(backbone, count))
            assert parts is not None and len(parts.frozen_stages) == count
            assert torch.allclose(parts.suffix(parts.prefix(x)), whole, atol=1e-4), parts.frozen_stages


@pytest.mark.parametrize("backbone", ["efficientnet_b0", "convnext_tiny", "mobilenet_v3_large", "densenet121"])
def test_in_training_the_cut_model_gives_the_same_logits_and_gradients(backbone: str) -> None:
    """Train mode, with dropout and stochastic depth live in the trainable part (same seed)."""
    config = frozen_up_to(backbone, 3)
    torch.manual_seed(0)
    model = build_model(config, 3, data_root=Path(".")).train()
    apply_freezing(model, config, 0)
    parts = split_model(model, config)
    assert parts is not None
    x, y = torch.randn(4, 3, 64, 64), torch.tensor([0, 1, 2, 0])

    def gradients(forward: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        model.zero_grad(set_to_none=True)
        torch.manual_seed(1)
        logits = forward(x)
        F.cross_entropy(logits, y).backward()
        return logits.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    def cut(inputs: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            inputs = parts.prefix(inputs)
        return parts.suffix(inputs)

    whole_logits, whole_grads = gradients(model)
    cut_logits, cut_grads = gradients(cut)
    assert torch.allclose(cut_logits, whole_logits, atol=1e-5)
    assert whole_grads.keys() == cut_grads.keys() and whole_grads
    for name, grad in whole_grads.items():
        assert torch.allclose(cut_grads[name], grad, atol=1e-5), name


def test_frozen_stages_run_in_eval_mode_so_their_output_is_deterministic() -> None:
    config = frozen_up_to("efficientnet_b0", 4)  # EfficientNet's blocks carry stochastic depth
    model = build_model(config, 3, data_root=Path(".")).train()
    apply_freezing(model, config, 0)
    parts = split_model(model, config)
    assert parts is not None
    assert not any(module.training for module in parts.prefix.modules() if module is not parts.prefix)
    assert any(module.training for module in parts.suffix.modules())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.manual_seed(1)
        first = parts.prefix(x)
        torch.manual_seed(2)
        assert torch.equal(parts.prefix(x), first)


def test_train_frozen_bn_leaves_frozen_stages_in_training_mode() -> None:
    config = frozen_up_to("resnet18", 2).model_copy(update={"train_frozen_bn": True})
    model = build_model(config, 3, data_root=Path(".")).train()
    apply_freezing(model, config, 0)
    assert model.bn1.training and model.layer1[0].bn1.training


def test_a_layout_that_drifts_from_the_stage_map_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    config = frozen_up_to("resnet18", 2)
    model = build_model(config, 3, data_root=Path("."))

    def forgets_layer1(m: Any, spec: Any) -> Any:
        layout = frozen_prefix._resnet(m, spec)
        return [(stage, [] if stage == "conv2" else modules) for stage, modules in layout]

    monkeypatch.setitem(frozen_prefix.LAYOUT_BUILDERS, "resnet", forgets_layer1)
    with pytest.raises(ValueError, match="resnet18 does not match its stage map: conv2"):
        split_model(model, config)


def assert_same_training(mine: list[Any], theirs: list[Any]) -> None:
    for a, b in zip(mine, theirs, strict=True):
        assert a.train_loss == pytest.approx(b.train_loss, rel=1e-4)
        assert a.val_loss == pytest.approx(b.val_loss, rel=1e-4)


def test_gradual_unfreezing_cuts_again_at_each_unfreeze_and_trains_like_the_uncut_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tiny(augment="none", stages={"conv1": 0, "conv2": {"unfreeze_epoch": 1}, "conv3": {"unfreeze_epoch": 2}})
    phased = fit(config, runtime(tmp_path, "phased"))
    assert phased.fast_path["frozen_prefix"] == (
        "epoch 1: cached features (conv1–conv3); epochs 2–3: cached features (conv1)"
    )
    assert json.loads((tmp_path / "phased" / "fast_path.json").read_text()) == phased.fast_path
    monkeypatch.setattr(frozen_prefix, "LAYOUT_BUILDERS", {})  # no family can be cut: the whole model trains
    whole = fit(config, runtime(tmp_path, "whole"))
    assert whole.fast_path["frozen_prefix"] == "none"
    assert_same_training(phased.records, whole.records)


def test_with_flips_the_cache_holds_both_views_and_trains_like_the_uncut_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tiny(augment="flip", stages={"conv1": 0, "conv2": 0, "conv3": 0})
    cached = fit(config, runtime(tmp_path, "cached"))
    assert cached.fast_path["frozen_prefix"] == "cached features, both flips (conv1–conv3)"
    monkeypatch.setattr(frozen_prefix, "LAYOUT_BUILDERS", {})
    assert_same_training(cached.records, fit(config, runtime(tmp_path, "whole")).records)


def test_an_unfreeze_of_every_frozen_stage_ends_the_cut(tmp_path: Path) -> None:
    config = tiny(epochs=2, augment="none", stages={"conv1": {"unfreeze_epoch": 1}})
    result = fit(config, runtime(tmp_path, "out", cache_frozen_features=False))
    assert result.fast_path["frozen_prefix"] == "epoch 1: no_grad (conv1); epoch 2: none"


def test_cached_features_of_a_model_with_stochastic_depth_train_like_the_uncut_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # conv4 and conv5 train with batch statistics, which carry any difference in the frozen
    # blocks' output into the loss (a from-scratch model's pooled features alone are ~1e-14).
    config = frozen_up_to("efficientnet_b0", 3).model_copy(update={"epochs": 2})
    cached = fit(config, runtime(tmp_path, "cached"))
    assert cached.fast_path["frozen_prefix"] == "cached features (conv1–conv3)"
    monkeypatch.setattr(frozen_prefix, "LAYOUT_BUILDERS", {})
    assert_same_training(cached.records, fit(config, runtime(tmp_path, "whole")).records)
