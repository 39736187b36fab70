"""A model cut in two at its first trainable stage: a frozen prefix and the trainable rest.

Stages before the first trainable one need no autograd at all, so the loop runs them
under `no_grad`. When their output is also the same every epoch (no random augmentation
before them, their layers in eval mode), the loop computes it once per phase and trains
the rest from the stored features: a conv1-3-frozen ResNet-18 then skips half its forward.

The cut is made per epoch: with gradual unfreezing (`unfreeze_epoch`) the prefix shrinks
at each unfreeze, and the loop cuts again (a *phase* is a run of epochs with one cut).

Cutting needs the forward's module order, which a stage map (parameter prefixes) does not
give, so each family lists its layout here: the modules (and parameter-free glue such as
torchvision's `torch.flatten` calls) that each stage's part of `forward` runs, in order.
`split_model` checks every layout against the catalog's stage map, so a backbone whose
modules drift from its layout fails loudly instead of training the wrong thing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from app.schemas.catalog import BACKBONES, BackboneSpec
from app.schemas.train_config import TrainConfig
from worker.training.backbones import stage_parameters
from worker.training.schedules import is_frozen

Layout = list[tuple[str, list[nn.Module]]]


class _VitEmbedding(nn.Module):
    """ViT's `forward` up to its first encoder block: patches, class token, position, dropout.

    Shares the model's modules and parameters (registered here too, so that the prefix
    lists the `patch_embed` stage's parameters like every other stage's modules do).
    """

    def __init__(self, vit: nn.Module) -> None:
        super().__init__()
        self.conv_proj = vit.conv_proj
        self.class_token = vit.class_token
        self.pos_embedding = vit.encoder.pos_embedding
        self.dropout = vit.encoder.dropout
        self._patchify = vit._process_input  # bound to the model: not a submodule of this one

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._patchify(x)
        token = self.class_token.expand(x.shape[0], -1, -1)
        return self.dropout(torch.cat([token, x], dim=1) + self.pos_embedding)


class _ClassTokenOutput(nn.Module):
    """ViT reads its prediction off the class token: `x[:, 0]`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, 0]


def _named(model: nn.Module, spec: BackboneSpec, stage: str) -> list[nn.Module]:
    """The modules a stage map names, when it names whole modules in forward order."""
    return [model.get_submodule(prefix.rstrip(".")) for prefix in dict(spec.stages)[stage]]


def _layout(model: nn.Module, spec: BackboneSpec, *, tail: list[nn.Module], first: list[nn.Module] | None = None) -> Layout:
    """First stage (`first`, or the map's modules), the middle stages as mapped, the head `tail`."""
    head, *middle, last = spec.stage_names
    return [(head, first if first is not None else _named(model, spec, head))] + [
        (stage, _named(model, spec, stage)) for stage in middle
    ] + [(last, tail)]


def _resnet(m: nn.Module, spec: BackboneSpec) -> Layout:
    return _layout(m, spec, first=[m.conv1, m.bn1, m.relu, m.maxpool], tail=[m.avgpool, nn.Flatten(1), m.fc])


def _pooled_features(m: nn.Module, spec: BackboneSpec) -> Layout:  # MobileNetV3, EfficientNet
    return _layout(m, spec, tail=[m.avgpool, nn.Flatten(1), m.classifier])


def _convnext(m: nn.Module, spec: BackboneSpec) -> Layout:  # its classifier flattens itself
    return _layout(m, spec, tail=[m.avgpool, m.classifier])


def _densenet(m: nn.Module, spec: BackboneSpec) -> Layout:
    f = m.features
    # forward: F.relu(features, inplace=True), pool, flatten, classifier. Not in place here:
    # the prefix's output may be a cached tensor.
    tail = [nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(1), m.classifier]
    return _layout(m, spec, first=[f.conv0, f.norm0, f.relu0, f.pool0], tail=tail)


def _vit(m: nn.Module, spec: BackboneSpec) -> Layout:
    return _layout(m, spec, first=[_VitEmbedding(m)], tail=[_ClassTokenOutput(), m.heads])


LAYOUT_BUILDERS: dict[str, Callable[[nn.Module, BackboneSpec], Layout]] = {
    "resnet": _resnet,
    "mobilenet": _pooled_features,
    "efficientnet": _pooled_features,
    "convnext": _convnext,
    "densenet": _densenet,
    "vit": _vit,
}


@dataclass(frozen=True)
class SplitModel:
    """`suffix(prefix(x)) == model(x)`; both share the model's modules (and parameters).

    Attributes:
        prefix: the stages frozen in this phase.
        suffix: everything after them, ending in the logits.
        frozen_stages: the prefix's stage names.
    """

    prefix: nn.Sequential
    suffix: nn.Sequential
    frozen_stages: tuple[str, ...]


def frozen_prefix_stages(config: TrainConfig, epoch: int) -> tuple[str, ...]:
    """The leading stages frozen during `epoch`."""
    stages: list[str] = []
    for stage in config.stage_names:
        if not is_frozen(config, stage, epoch):
            break
        stages.append(stage)
    return tuple(stages)


def layout_of(model: nn.Module, backbone: str) -> Layout | None:
    """The model's forward as (stage, modules) in order; None for families without a layout.

    Raises:
        ValueError: the layout's modules do not hold exactly each stage's parameters.
    """
    spec = BACKBONES[backbone]
    build = LAYOUT_BUILDERS.get(spec.family)
    if build is None:
        return None
    layout = build(model, spec)
    _check_layout(layout, model, backbone)
    return layout


def _check_layout(layout: Layout, model: nn.Module, backbone: str) -> None:
    expected = {stage: {id(p) for _, p in named} for stage, named in stage_parameters(model, backbone).items()}
    found = {stage: {id(p) for module in modules for p in module.parameters()} for stage, modules in layout}
    if list(found) != list(expected) or found != expected:
        wrong = [stage for stage in expected if found.get(stage) != expected[stage]]
        raise ValueError(f"frozen-prefix layout of {backbone} does not match its stage map: {', '.join(wrong)}")


def split_model(model: nn.Module, config: TrainConfig, epoch: int = 0) -> SplitModel | None:
    """Cut `model` after the stages frozen during `epoch`; None when nothing is frozen up
    front, every stage is, or the family has no layout here."""
    frozen = frozen_prefix_stages(config, epoch)
    if not frozen or len(frozen) == len(config.stage_names):
        return None
    layout = layout_of(model, config.backbone)
    if layout is None:
        return None
    prefix: list[nn.Module] = []
    suffix: list[nn.Module] = []
    for stage, modules in layout:
        (prefix if stage in frozen else suffix).extend(modules)
    return SplitModel(nn.Sequential(*prefix), nn.Sequential(*suffix), frozen)


def cached_views(config: TrainConfig) -> tuple[str, ...]:
    """The views of each training image whose prefix outputs, computed once per phase, make
    training from a cache exact; () when none do.

    Frozen stages run in eval mode (no dropout, no stochastic depth, held norm statistics),
    so the prefix's output depends on its input alone, unless `train_frozen_bn` makes it
    vary with the batch. Its input is random only through augmentation: without any, one
    view per image ("plain"); with flips alone, two ("plain" and "mirrored": the loop draws
    each image's flip as `prepare_batch` would and picks that view's features). Crops are
    continuous: nothing to cache.
    """
    if config.train_frozen_bn:
        return ()
    return {"none": ("plain",), "flip": ("plain", "mirrored")}.get(config.resolved_augment(), ())


def describe(stages: Sequence[str]) -> str:
    """"conv1–conv3" for a run of stages, "conv1" for one."""
    return stages[0] if len(stages) == 1 else f"{stages[0]}–{stages[-1]}"
