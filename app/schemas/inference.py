"""What predict and export answer: classes with probabilities, a heat map, a model card."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ExportFormat = Literal["onnx", "torchscript", "safetensors"]
CheckpointKind = Literal["best", "last"]


class ClassProbability(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str = Field(description="a class name of the run's dataset")
    index: int = Field(description="its output index (the order of the run's classes)")
    probability: float


class ImagePrediction(BaseModel):
    """One uploaded image: its top classes, most probable first, and optionally a Grad-CAM heat map."""

    model_config = ConfigDict(frozen=True)

    file: str = Field(description="the uploaded file's name")
    top: list[ClassProbability]
    heatmap_png: str | None = Field(
        default=None, description="base64 PNG: the model's view of the image with Grad-CAM of the top class laid over it"
    )


class PredictionRead(BaseModel):
    """Predictions of one run's checkpoint for the uploaded images, in upload order."""

    model_config = ConfigDict(frozen=True)

    run_id: int
    checkpoint: CheckpointKind
    epoch: int = Field(description="epochs the checkpoint's model had trained")
    image_size: int
    normalization: str
    predictions: list[ImagePrediction]
