"""Parameters per stage of every registered backbone with its ImageNet head (1,000 classes).

Data, not a computation: `GET /api/backbones` answers from it without importing torch (the
first request used to wait for torch and ten meta-device models: 10-24 s on a busy 2-core
server). `tests/unit/test_backbone_sizes.py` recounts every entry with the training core.
"""

from __future__ import annotations

IMAGENET_STAGE_PARAMS: dict[str, dict[str, int]] = {
    "resnet18": {"conv1": 9_536, "conv2": 147_968, "conv3": 525_568, "conv4": 2_099_712, "conv5": 8_393_728, "classifier": 513_000},
    "resnet34": {"conv1": 9_536, "conv2": 221_952, "conv3": 1_116_416, "conv4": 6_822_400, "conv5": 13_114_368, "classifier": 513_000},
    "resnet50": {"conv1": 9_536, "conv2": 215_808, "conv3": 1_219_584, "conv4": 7_098_368, "conv5": 14_964_736, "classifier": 2_049_000},
    "resnet101": {"conv1": 9_536, "conv2": 215_808, "conv3": 1_219_584, "conv4": 26_090_496, "conv5": 14_964_736, "classifier": 2_049_000},
    "resnet152": {"conv1": 9_536, "conv2": 215_808, "conv3": 2_339_840, "conv4": 40_613_888, "conv5": 14_964_736, "classifier": 2_049_000},
    "mobilenet_v3_large": {"conv1": 928, "conv2": 7_880, "conv3": 52_312, "conv4": 731_368, "conv5": 2_179_464, "classifier": 2_511_080},
    "efficientnet_b0": {"conv1": 2_376, "conv2": 16_714, "conv3": 46_640, "conv4": 786_078, "conv5": 3_155_740, "classifier": 1_281_000},
    "convnext_tiny": {"conv1": 4_896, "conv2": 237_888, "conv3": 992_256, "conv4": 11_112_960, "conv5": 15_470_592, "classifier": 770_536},
    "densenet121": {"conv1": 9_536, "conv2": 368_320, "conv3": 1_051_776, "conv4": 3_364_096, "conv5": 2_160_128, "classifier": 1_025_000},
    "vit_b_16": {"patch_embed": 742_656, "blocks1": 21_263_616, "blocks2": 21_263_616, "blocks3": 21_263_616, "blocks4": 21_265_152, "classifier": 769_000},
}
