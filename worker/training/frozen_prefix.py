"""A model cut in two at its first trainable stage: a frozen prefix and the trainable rest.

Stages before the first trainable one need no autograd at all, so the loop runs them
under `no_grad`. When their output is also the same every epoch (no random augmentation
before them, their norm layers in eval mode), the loop computes it once per run and trains
the rest from the stored features: a conv1-3-frozen ResNet-18 then skips half its forward.

Cutting needs the forward's module order, which a stage map (parameter prefixes) does not
give, so each family that supports it lists its layout here. Families without one train
the whole model as before.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from app.schemas.catalog import BACKBONES
from app.schemas.train_config import TrainConfig
from worker.training.schedules import is_frozen

_FLATTEN = "<flatten>"  # torchvision's ResNet.forward calls torch.flatten between avgpool and fc

# torchvision's ResNet.forward in order, grouped by stage (catalog names).
_RESNET_LAYOUT: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("conv1", ("conv1", "bn1", "relu", "maxpool")),
    ("conv2", ("layer1",)),
    ("conv3", ("layer2",)),
    ("conv4", ("layer3",)),
    ("conv5", ("layer4",)),
    ("classifier", ("avgpool", _FLATTEN, "fc")),
)

LAYOUTS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {"resnet": _RESNET_LAYOUT}


@dataclass(frozen=True)
class SplitModel:
    """`suffix(prefix(x)) == model(x)`; both share the model's modules (and parameters).

    Attributes:
        prefix: the stages frozen for the whole run.
        suffix: everything after them, ending in the logits.
        frozen_stages: the prefix's stage names.
    """

    prefix: nn.Sequential
    suffix: nn.Sequential
    frozen_stages: tuple[str, ...]


def frozen_prefix_stages(config: TrainConfig) -> tuple[str, ...]:
    """The leading stages that stay frozen in every epoch of the run."""
    stages: list[str] = []
    for stage in config.stage_names:
        if not all(is_frozen(config, stage, epoch) for epoch in range(config.epochs)):
            break
        stages.append(stage)
    return tuple(stages)


def split_model(model: nn.Module, config: TrainConfig) -> SplitModel | None:
    """Cut `model` after its frozen prefix; None when nothing is frozen up front, every
    stage is, or the family has no layout here."""
    layout = LAYOUTS.get(BACKBONES[config.backbone].family)
    frozen = frozen_prefix_stages(config)
    if layout is None or not frozen or len(frozen) == len(layout):
        return None
    parts: dict[bool, list[nn.Module]] = {True: [], False: []}
    for stage, names in layout:
        parts[stage in frozen] += [nn.Flatten(1) if name == _FLATTEN else model.get_submodule(name) for name in names]
    return SplitModel(nn.Sequential(*parts[True]), nn.Sequential(*parts[False]), frozen)


def features_are_exact(config: TrainConfig) -> bool:
    """Whether the prefix's output is the same every epoch, so caching it changes nothing.

    Random augmentation happens before the prefix, and `train_frozen_bn` would let its
    batch statistics vary with the batch; either makes cached features inexact.
    """
    return config.resolved_augment() == "none" and not config.train_frozen_bn
