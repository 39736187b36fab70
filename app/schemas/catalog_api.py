"""API shapes of the catalog: backbones with stages, datasets, presets."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class StageRead(BaseModel):
    name: str
    modules: list[str]
    params: int


class BackboneRead(BaseModel):
    """A backbone; parameter counts are with the 1000-class ImageNet head."""

    name: str
    family: str
    description: str
    head: str
    stages: list[StageRead]
    params: int


class ScannedFolder(BaseModel):
    path: str
    num_classes: int | None
    num_images: int | None


class DatasetRead(BaseModel):
    """A catalog dataset and whether this server has its files."""

    name: str
    description: str
    source: str
    num_classes: int | None
    split: str
    fractions: list[float] | None
    native_size: int | None
    available: bool  # a run could read it now (built in, or a folder present that follows the link rule)
    folder: str | None
    problem: str | None = None  # a folder is there but a run could not read it, and why
    scanned: list[ScannedFolder]


class PresetRead(BaseModel):
    name: str
    config: dict[str, Any]
