"""What Stagewise can train, as data: backbones with their stage maps, and datasets.

These registries are plain frozen dataclasses so that the config schema, the API, the
form and the docs can read them without importing torch. The training core turns a
`BackboneSpec` into a model (`worker.training.backbones`) and a `DatasetSpec` into
tensors (`worker.training.datasets`). Adding a backbone of a known family is adding
one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

RESNET_STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("conv1", ("conv1", "bn1")),
    ("conv2", ("layer1",)),
    ("conv3", ("layer2",)),
    ("conv4", ("layer3",)),
    ("conv5", ("layer4",)),
    ("classifier", ("fc",)),
)


@dataclass(frozen=True)
class BackboneSpec:
    """One torchvision architecture and how its modules group into stages.

    Attributes:
        name: the torchvision model name (`torchvision.models.get_model(name)`).
        family: the architecture family, for display and docs.
        stages: ordered (stage name, module-name prefixes) pairs; every parameter of
            the model belongs to exactly one stage (a unit test checks it).
        head: dotted path of the final `nn.Linear`, replaced to fit the dataset's classes.
        description: one line for the form and the docs.
    """

    name: str
    family: str
    stages: tuple[tuple[str, tuple[str, ...]], ...]
    head: str
    description: str = ""

    @property
    def stage_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.stages)


def _resnet(name: str, depth: int) -> BackboneSpec:
    return BackboneSpec(name, "resnet", RESNET_STAGES, "fc", f"ResNet-{depth} (He et al., 2015)")


BACKBONES: dict[str, BackboneSpec] = {
    spec.name: spec
    for spec in (
        _resnet("resnet18", 18),
        _resnet("resnet34", 34),
        _resnet("resnet50", 50),
        _resnet("resnet101", 101),
        _resnet("resnet152", 152),
        # CNN families are grouped by output stride like ResNet (conv1 = stride 2 …
        # conv5 = stride 32), so presets and quick fills mean the same thing on each.
        BackboneSpec(
            "mobilenet_v3_large",
            "mobilenet",
            (
                ("conv1", ("features.0.", "features.1.")),
                ("conv2", ("features.2.", "features.3.")),
                ("conv3", ("features.4.", "features.5.", "features.6.")),
                ("conv4", tuple(f"features.{i}." for i in range(7, 13))),
                ("conv5", tuple(f"features.{i}." for i in range(13, 17))),
                ("classifier", ("classifier.",)),
            ),
            "classifier.3",
            "MobileNetV3-Large (Howard et al., 2019)",
        ),
        BackboneSpec(
            "efficientnet_b0",
            "efficientnet",
            (
                ("conv1", ("features.0.", "features.1.")),
                ("conv2", ("features.2.",)),
                ("conv3", ("features.3.",)),
                ("conv4", ("features.4.", "features.5.")),
                ("conv5", ("features.6.", "features.7.", "features.8.")),
                ("classifier", ("classifier.",)),
            ),
            "classifier.1",
            "EfficientNet-B0 (Tan & Le, 2019)",
        ),
        BackboneSpec(
            "convnext_tiny",
            "convnext",
            (
                ("conv1", ("features.0.",)),
                ("conv2", ("features.1.",)),
                ("conv3", ("features.2.", "features.3.")),
                ("conv4", ("features.4.", "features.5.")),
                ("conv5", ("features.6.", "features.7.")),
                ("classifier", ("classifier.",)),
            ),
            "classifier.2",
            "ConvNeXt-Tiny (Liu et al., 2022)",
        ),
        BackboneSpec(
            "densenet121",
            "densenet",
            (
                ("conv1", ("features.conv0", "features.norm0")),
                ("conv2", ("features.denseblock1.", "features.transition1.")),
                ("conv3", ("features.denseblock2.", "features.transition2.")),
                ("conv4", ("features.denseblock3.", "features.transition3.")),
                ("conv5", ("features.denseblock4.", "features.norm5")),
                ("classifier", ("classifier",)),
            ),
            "classifier",
            "DenseNet-121 (Huang et al., 2017)",
        ),
        # A transformer has no resolution stages: its twelve blocks are grouped by depth.
        BackboneSpec(
            "vit_b_16",
            "vit",
            (
                ("patch_embed", ("conv_proj.", "class_token", "encoder.pos_embedding")),
                ("blocks1", tuple(f"encoder.layers.encoder_layer_{i}." for i in range(3))),
                ("blocks2", tuple(f"encoder.layers.encoder_layer_{i}." for i in range(3, 6))),
                ("blocks3", tuple(f"encoder.layers.encoder_layer_{i}." for i in range(6, 9))),
                (
                    "blocks4",
                    tuple(f"encoder.layers.encoder_layer_{i}." for i in range(9, 12))
                    + ("encoder.ln.",),
                ),
                ("classifier", ("heads.",)),
            ),
            "heads.head",
            "ViT-B/16 (Dosovitskiy et al., 2021); needs image_size 224",
        ),
    )
}


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset Stagewise knows how to read.

    Attributes:
        name: registry key used in configs.
        num_classes: class count, or None when it depends on the folder (imagefolder).
        folders: candidate folder names under the data root, tried in order.
        split: "official" (a fixed train/test split; val carved from train) or
            "fractions" (one pool split by train/val/test fractions).
        fractions: default (train, val, test) fractions for "fractions" datasets.
        native_size: the images' natural side length, when fixed.
        source: where users get it, shown in errors and docs.
    """

    name: str
    num_classes: int | None
    folders: tuple[str, ...]
    split: str
    fractions: tuple[float, float, float] | None = None
    native_size: int | None = None
    source: str = ""
    description: str = ""
    class_names: tuple[str, ...] = field(default=())


CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip

DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            "cifar10",
            10,
            ("cifar-10-batches-py", "cifar10_jpg", "cifar10"),
            "official",
            native_size=32,
            source="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz (extract into the data root)",
            description="CIFAR-10: 50,000 train / 10,000 test 32x32 images; train_size picks a class-balanced subset",
            class_names=CIFAR10_CLASSES,
        ),
        DatasetSpec(
            "hymenoptera",
            2,
            ("hymenoptera_data",),
            "fractions",
            fractions=(0.1, 0.1, 0.8),
            source="https://download.pytorch.org/tutorial/hymenoptera_data.zip (unzip into the data root)",
            description="Ants & Bees: 398 photos from ImageNet, all pooled and split by fractions",
            class_names=("ants", "bees"),
        ),
        DatasetSpec(
            "caltech101",
            102,
            ("caltech101/101_ObjectCategories", "101_ObjectCategories"),
            "fractions",
            fractions=(0.01, 0.01, 0.98),
            source="torchvision.datasets.Caltech101 (download=True) or the 101_ObjectCategories archive",
            description="Caltech-101: 101 object categories + BACKGROUND_Google, 102 classes, 9,144 images",
        ),
        DatasetSpec(
            "imagefolder",
            None,
            (),
            "fractions",
            fractions=(0.7, 0.15, 0.15),
            description="Any class-per-folder tree under the data root (dataset.path)",
        ),
        DatasetSpec(
            "digits",
            10,
            (),
            "fractions",
            fractions=(0.6, 0.2, 0.2),
            native_size=8,
            source="ships with scikit-learn: no download",
            description="scikit-learn's 1,797 8x8 handwritten digits, built in and offline",
            class_names=tuple(str(i) for i in range(10)),
        ),
        DatasetSpec(
            "fake",
            None,
            (),
            "fractions",
            fractions=(0.5, 0.25, 0.25),
            native_size=32,
            description="Tiny synthetic images for tests (class = a colour pattern)",
        ),
    )
}

NORMALIZATIONS: dict[str, dict[str, object]] = {
    # torchvision's ImageNet weights: RGB in [0, 1], standardised per channel.
    "imagenet": {"order": "RGB", "scale": 1 / 255, "mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)},
    # Caffe-trained weights (the original ResNet release): BGR, 0-255, mean subtracted, no std.
    "caffe": {"order": "BGR", "scale": 1.0, "mean": (103.939, 116.779, 123.68), "std": (1.0, 1.0, 1.0)},
}
