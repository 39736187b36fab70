"""API shapes of the Datasets page: what is on this server's disk, and whether a name is free."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class DatasetClass(BaseModel):
    """One class folder of a dataset: its name and how many images it holds."""

    name: str
    images: int


class DatasetOnDisk(BaseModel):
    """A dataset present on this server: a catalog dataset found under the data root, or an upload.

    `key` names it everywhere else (the New run form's menu, thumbnails, delete):
    the catalog name (`hymenoptera`) or `uploads/<name>`; it is looked up, never used as a path.
    """

    key: str
    title: str
    kind: Literal["builtin", "upload"]
    config: dict[str, str] = Field(description="the `dataset` of a run config that trains on it")
    path: str | None = Field(description="its folder, relative to the data root (none for built-in sets)")
    images: int | None
    classes: list[DatasetClass]
    num_classes: int | None
    size_bytes: int
    uploader: str | None = None
    created_at: datetime | None = None
    fractions: tuple[float, float, float] | None = Field(description="the default train/val/test split")
    thumbnails: bool = Field(description="whether /datasets/thumbnail serves its images")
    can_delete: bool = False


class DatasetNameCheck(BaseModel):
    """Whether an upload may take `name`: before the archive is sent."""

    name: str
    status: Literal["free", "taken", "invalid"]
    message: str
