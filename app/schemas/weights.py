"""torchvision's official ImageNet weight files per backbone, as data (no torch needed to read it).

The worker resolves the same files through torchvision (`backbones.imagenet_weights_file`);
a unit test keeps the two equal, so adding a backbone to the catalog fails it until its
file is listed here.
"""

from __future__ import annotations

from dataclasses import dataclass

DOWNLOADS = "https://download.pytorch.org/models/"


@dataclass(frozen=True)
class WeightsFile:
    """One weights file: its name (the hash prefix torch hub checks is part of it) and where to get it."""

    file: str

    @property
    def url(self) -> str:
        return DOWNLOADS + self.file


IMAGENET_WEIGHTS: dict[str, WeightsFile] = {
    "resnet18": WeightsFile("resnet18-f37072fd.pth"),
    "resnet34": WeightsFile("resnet34-b627a593.pth"),
    "resnet50": WeightsFile("resnet50-11ad3fa6.pth"),
    "resnet101": WeightsFile("resnet101-cd907fc2.pth"),
    "resnet152": WeightsFile("resnet152-f82ba261.pth"),
    "mobilenet_v3_large": WeightsFile("mobilenet_v3_large-5c1a4163.pth"),
    "efficientnet_b0": WeightsFile("efficientnet_b0_rwightman-7f5810bc.pth"),
    "convnext_tiny": WeightsFile("convnext_tiny-983f1562.pth"),
    "densenet121": WeightsFile("densenet121-a639ec97.pth"),
    "vit_b_16": WeightsFile("vit_b_16-c867db91.pth"),
}
