"""`TrainConfig`: one validated, frozen description of a training run.

Used unchanged by `stagewise train`, the REST API, the dashboard and the worker. It
imports no torch: validation checks names against the catalog, so a bad config fails
with the field and the allowed values before any work starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

from app.schemas.bounds import MAX_EPOCH_COUNT, MAX_IMAGES, Seed, Text
from app.schemas.catalog import BACKBONES, DATASETS


def _known(value: str, registry: Mapping[str, object], what: str) -> str:
    """`value` if the registry has it, else an error listing the allowed names."""
    if value not in registry:
        raise ValueError(f"unknown {what} {value!r}; allowed: {', '.join(registry)}")
    return value


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StageSchedule(_Frozen):
    """How one stage learns.

    Exactly one of `lr` (absolute) or `mult` (times the optimizer's base LR) may be
    set; neither means the base LR. An LR of 0 freezes the stage. `unfreeze_epoch`
    keeps the stage frozen before that epoch (0-based), for gradual unfreezing.
    """

    lr: Annotated[float, Field(ge=0, le=1e6)] | None = None  # finite: large enough to make a run diverge
    mult: Annotated[float, Field(ge=0, le=1e6)] | None = None
    unfreeze_epoch: Annotated[int, Field(ge=0, le=MAX_EPOCH_COUNT)] = 0

    @model_validator(mode="before")
    @classmethod
    def _from_number(cls, value: object) -> object:
        # `conv1: 1e-4` is shorthand for `conv1: {lr: 1e-4}`.
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return {"lr": value}
        return value

    @model_validator(mode="after")
    def _one_of_lr_mult(self) -> StageSchedule:
        if self.lr is not None and self.mult is not None:
            raise ValueError("give either lr (absolute) or mult (times optimizer.lr), not both")
        return self

    def base_lr(self, optimizer_lr: float) -> float:
        """The stage's LR before the global schedule multiplies it."""
        if self.lr is not None:
            return self.lr
        return optimizer_lr * (1.0 if self.mult is None else self.mult)


class OptimizerConfig(_Frozen):
    name: Literal["sgd", "adamw"] = "sgd"
    lr: Annotated[float, Field(gt=0, le=10)] = 0.01
    momentum: Annotated[float, Field(ge=0, lt=1)] = 0.9
    nesterov: bool = False
    weight_decay: Annotated[float, Field(ge=0, le=1)] = 5e-4
    betas: tuple[Annotated[float, Field(ge=0, lt=1)], Annotated[float, Field(ge=0, lt=1)]] = (0.9, 0.999)
    # Every parameter decays, as in the lecture's "SGD, wd 5e-4" and torchvision's reference
    # train.py; false gives timm's exclusion of norm weights and biases (ndim <= 1).
    decay_norm_and_bias: bool = True

    @model_validator(mode="after")
    def _nesterov_needs_momentum(self) -> OptimizerConfig:
        if self.nesterov and (self.name != "sgd" or self.momentum == 0):
            raise ValueError("nesterov needs name=sgd and momentum > 0")
        return self


class ScheduleConfig(_Frozen):
    """The global LR multiplier over training; it scales every stage alike.

    `constant`, `step` (×gamma every `step_size` epochs, or at each of `milestones`),
    `cosine` (to `min_factor`), `onecycle` (exactly `torch.optim.lr_scheduler.OneCycleLR`
    with max_lr = `max_factor`, `div_factor`, `final_div_factor` = `final_div`: from
    max/div_factor up to max over `pct_start`, then cosine down to
    max / (div_factor * final_div)); any of them after `warmup_epochs` of linear warm-up
    from `warmup_start` (a fraction of the target, 0.1 by default so that no step trains
    at LR 0).
    """

    name: Literal["constant", "step", "cosine", "onecycle"] = "constant"
    warmup_epochs: Annotated[float, Field(ge=0, le=MAX_EPOCH_COUNT)] = 0
    warmup_start: Annotated[float, Field(ge=0, le=1)] = 0.1
    step_size: Annotated[int, Field(ge=1, le=MAX_EPOCH_COUNT)] | None = None
    milestones: Annotated[tuple[Annotated[int, Field(ge=1, le=MAX_EPOCH_COUNT)], ...], Field(max_length=100)] = ()
    gamma: Annotated[float, Field(gt=0, le=1)] = 0.1
    min_factor: Annotated[float, Field(ge=0, le=1)] = 0.0
    pct_start: Annotated[float, Field(gt=0, lt=1)] = 0.3
    max_factor: Annotated[float, Field(gt=0, le=100)] = 1.0
    div_factor: Annotated[float, Field(ge=1, le=1e6)] = 25.0
    final_div: Annotated[float, Field(ge=1, le=1e12)] = 1e4
    per_step: bool = True

    @model_validator(mode="after")
    def _step_needs_size(self) -> ScheduleConfig:
        if self.name == "step" and self.step_size is None and not self.milestones:
            raise ValueError("schedule 'step' needs step_size or milestones")
        if list(self.milestones) != sorted(set(self.milestones)):
            raise ValueError("milestones must be strictly increasing")
        return self


class Fractions(_Frozen):
    train: Annotated[float, Field(gt=0, le=1)]
    val: Annotated[float, Field(ge=0, le=1)]
    test: Annotated[float, Field(ge=0, le=1)]

    @model_validator(mode="before")
    @classmethod
    def _from_sequence(cls, value: object) -> object:
        if isinstance(value, (list, tuple)) and len(value) == 3:
            return dict(zip(("train", "val", "test"), value))
        return value

    @model_validator(mode="after")
    def _sum_at_most_one(self) -> Fractions:
        total = self.train + self.val + self.test
        if total > 1 + 1e-9:
            raise ValueError(f"train + val + test must be <= 1, got {total:g}")
        return self


class DatasetConfig(_Frozen):
    """Which images, and how they are split.

    `path` is a folder relative to the data root (default: the catalog's folder names).
    For `cifar10`, `train_size` takes a class-balanced subset of the official training
    images ("CIFAR-10-4000"), `val_size` is carved class-balanced from the rest and the
    test split is the official test set (`test_size` subsamples it). Other datasets pool
    all images and split them by `fractions`, stratified. `split_seed` fixes the split.
    """

    name: Text = "digits"
    path: Annotated[Text, Field(max_length=1000)] | None = None
    fractions: Fractions | None = None
    train_size: Annotated[int, Field(ge=1, le=MAX_IMAGES)] | None = None
    val_size: Annotated[int, Field(ge=0, le=MAX_IMAGES)] | None = None
    test_size: Annotated[int, Field(ge=1, le=MAX_IMAGES)] | None = None
    split_seed: Seed = 0
    on_bad_image: Literal["error", "skip"] = "error"
    num_classes: Annotated[int, Field(ge=2, le=10_000)] | None = None
    num_images: Annotated[int, Field(ge=4, le=100_000)] | None = None

    @field_validator("name")
    @classmethod
    def _known_name(cls, value: str) -> str:
        return _known(value, DATASETS, "dataset")

    @field_validator("path")
    @classmethod
    def _relative_path(cls, value: str | None) -> str | None:
        # Requests never name a server path outside the data root.
        if value is None:
            return value
        parts = value.replace("\\", "/").split("/")
        if value.startswith(("/", "~")) or ".." in parts or ":" in parts[0]:
            raise ValueError("must be a folder relative to the data root, without '..'")
        return value

    @model_validator(mode="after")
    def _fits_kind(self) -> DatasetConfig:
        spec = DATASETS[self.name]
        if spec.split == "official" and self.fractions is not None:
            raise ValueError(f"{self.name} has an official split: use train_size/val_size, not fractions")
        if self.name == "imagefolder" and not self.path:
            raise ValueError("imagefolder needs path: a class-per-folder tree under the data root")
        if self.num_classes is not None and self.name != "fake":
            raise ValueError("num_classes is only set for the fake dataset; others know theirs")
        return self

    def resolved_fractions(self) -> Fractions | None:
        spec = DATASETS[self.name]
        if self.fractions is not None or spec.fractions is None:
            return self.fractions
        return Fractions.model_validate(spec.fractions)

    @property
    def label(self) -> str:
        """A short human name, e.g. "cifar10-4000"."""
        return f"{self.name}-{self.train_size}" if self.train_size else self.name


class TrainConfig(_Frozen):
    """Everything that decides what a run computes (not where it runs)."""

    name: Annotated[Text, Field(max_length=200)] | None = None
    backbone: str = "resnet18"
    weights: Annotated[Text, Field(max_length=1000)] = "imagenet"
    # The server's admin decides whether weights may be downloaded (STAGEWISE_ALLOW_DOWNLOAD); a
    # config can only turn downloads off for its run (false), never on where the admin said no.
    allow_download: bool | None = None
    dataset: DatasetConfig = DatasetConfig()
    epochs: Annotated[int, Field(ge=1, le=MAX_EPOCH_COUNT)] = 10
    optimizer: OptimizerConfig = OptimizerConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    # Declared after backbone, epochs and optimizer so that its validator can see them.
    stages: dict[str, StageSchedule] = Field(default_factory=dict)
    train_frozen_bn: bool = False
    batch_size: Annotated[int, Field(ge=1, le=8192)] = 64
    eval_batch_size: Annotated[int, Field(ge=1, le=16384)] | None = None
    image_size: Annotated[int, Field(ge=8, le=1024)] | None = None
    normalization: Literal["auto", "imagenet", "caffe"] = "auto"
    augment: Literal["auto", "none", "flip", "crop_flip", "resized_crop_flip"] = "auto"
    label_smoothing: Annotated[float, Field(ge=0, lt=1)] = 0.0
    grad_clip: Annotated[float, Field(gt=0, le=1e6)] | None = None
    # "auto": every epoch while the test split costs <= 25 % of one, else every k-th
    # (worker/training/eval_cadence.py); always the last epoch and the best-val checkpoint.
    test_every: Literal["auto"] | Annotated[int, Field(ge=1, le=MAX_EPOCH_COUNT)] = "auto"
    seed: Seed = 0

    @field_validator("test_every", mode="wrap")
    @classmethod
    def _one_message_for_test_every(cls, value: object, handler: ValidatorFunctionWrapHandler) -> object:
        # One error at `test_every` itself, not one per member of the union ("literal['auto']", "int").
        try:
            return handler(value)
        except ValidationError:
            raise ValueError(
                f"must be 'auto' or a whole number of epochs from 1 to {MAX_EPOCH_COUNT}, got {value!r}"
            ) from None

    @field_validator("backbone")
    @classmethod
    def _known_backbone(cls, value: str) -> str:
        return _known(value, BACKBONES, "backbone")

    @field_validator("weights")
    @classmethod
    def _weights_kind(cls, value: str) -> str:
        if value in ("imagenet", "none"):
            return value
        DatasetConfig._relative_path(value)  # a checkpoint file under the data root
        if not value.endswith((".pt", ".pth", ".safetensors")):
            raise ValueError("must be 'imagenet', 'none', or a .pt/.pth/.safetensors file under the data root")
        return value

    @field_validator("stages")
    @classmethod
    def _stage_names(cls, value: dict[str, StageSchedule], info: ValidationInfo) -> dict[str, StageSchedule]:
        backbone, epochs, optimizer = (info.data.get(k) for k in ("backbone", "epochs", "optimizer"))
        if backbone is None or epochs is None or optimizer is None:
            return value  # those fields failed and report their own errors
        allowed = BACKBONES[backbone].stage_names
        unknown = [name for name in value if name not in allowed]
        if unknown:
            raise ValueError(f"unknown stage {unknown[0]!r} for {backbone}; allowed: {', '.join(allowed)}")
        late = [name for name, spec in value.items() if spec.unfreeze_epoch >= epochs]
        if late:
            raise ValueError(f"{late[0]}.unfreeze_epoch must be < epochs ({epochs})")
        if all(value.get(name, StageSchedule()).base_lr(optimizer.lr) == 0 for name in allowed):
            raise ValueError("every stage has lr 0, so nothing would train")
        return value

    @property
    def stage_names(self) -> tuple[str, ...]:
        """The backbone's stages, in order."""
        return BACKBONES[self.backbone].stage_names

    def stage(self, name: str) -> StageSchedule:
        """The schedule of a stage, defaulting to the optimizer's base LR."""
        return self.stages.get(name, StageSchedule())

    def resolved_normalization(self) -> str:
        # Every torchvision ImageNet weight set expects ImageNet statistics.
        return "imagenet" if self.normalization == "auto" else self.normalization

    def resolved_image_size(self) -> int:
        if self.image_size is not None:
            return self.image_size
        native = DATASETS[self.dataset.name].native_size
        if self.weights == "imagenet" or native is None:
            return 224
        return max(native, 32)

    def resolved_augment(self) -> str:
        if self.augment != "auto":
            return self.augment
        native = DATASETS[self.dataset.name].native_size
        return "crop_flip" if native is not None and native <= 64 else "resized_crop_flip"


