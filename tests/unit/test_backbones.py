"""Stage maps: every parameter of every registered backbone sits in exactly one stage."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from app.schemas.catalog import BACKBONES
from app.schemas.train_config import TrainConfig
from worker.training.backbones import (
    build_model,
    count_stage_params,
    imagenet_weights_file,
    stage_modules,
    stage_parameters,
)


def _meta_model(backbone: str, num_classes: int, data_root: Path) -> nn.Module:
    # Big backbones build in milliseconds and no memory on the meta device.
    with torch.device("meta"):
        return build_model(TrainConfig(backbone=backbone, weights="none"), num_classes, data_root=data_root)


@pytest.mark.parametrize("backbone", list(BACKBONES))
def test_every_parameter_belongs_to_exactly_one_stage(backbone: str, tmp_path: Path) -> None:
    model = _meta_model(backbone, 7, tmp_path)

    grouped = stage_parameters(model, backbone)

    names = [name for params in grouped.values() for name, _ in params]
    assert sorted(names) == sorted(name for name, _ in model.named_parameters())
    assert list(grouped) == list(BACKBONES[backbone].stage_names)
    assert all(grouped.values()), "a stage without parameters is a typo in the stage map"


@pytest.mark.parametrize("backbone", list(BACKBONES))
def test_the_head_is_replaced_for_the_dataset_classes(backbone: str, tmp_path: Path) -> None:
    model = _meta_model(backbone, 7, tmp_path)

    head = model.get_submodule(BACKBONES[backbone].head)

    assert isinstance(head, nn.Linear) and head.out_features == 7


def test_resnet_stages_are_conv1_bn1_then_the_four_layers_then_fc(tmp_path: Path) -> None:
    model = _meta_model("resnet50", 3, tmp_path)

    top_modules = {
        stage: sorted({name.split(".")[0] for name, _ in params})
        for stage, params in stage_parameters(model, "resnet50").items()
    }

    assert top_modules == {
        "conv1": ["bn1", "conv1"],
        "conv2": ["layer1"],
        "conv3": ["layer2"],
        "conv4": ["layer3"],
        "conv5": ["layer4"],
        "classifier": ["fc"],
    }


@pytest.mark.parametrize("backbone", ["resnet18", "vit_b_16"])
def test_stage_param_counts_sum_to_the_model_parameter_count(backbone: str, tmp_path: Path) -> None:
    model = _meta_model(backbone, 5, tmp_path)

    counts = count_stage_params(backbone, 5)

    assert sum(counts.values()) == sum(p.numel() for p in model.parameters())


def test_a_prefix_does_not_capture_a_longer_module_name() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1, self.conv10 = nn.Conv2d(3, 4, 3), nn.Conv2d(4, 4, 3)
            self.bn1, self.fc = nn.BatchNorm2d(4), nn.Linear(4, 2)

    with pytest.raises(ValueError, match="in no stage 2: conv10.weight, conv10.bias"):
        stage_parameters(Net(), "resnet18")


def test_stage_modules_hold_the_stage_batchnorms(tmp_path: Path) -> None:
    model = _meta_model("resnet18", 3, tmp_path)

    modules = stage_modules(model, "resnet18")

    assert model.bn1 in modules["conv1"]
    assert model.layer4[1].bn2 in modules["conv5"] and model.layer4[1].bn2 not in modules["conv4"]


def test_imagenet_weights_file_is_torchvisions_default_file() -> None:
    name, url = imagenet_weights_file("resnet18")

    assert url == torchvision.models.ResNet18_Weights.DEFAULT.url
    assert name == "resnet18-f37072fd.pth"
