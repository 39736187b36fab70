"""API shapes of dataset uploads: what was kept, what was skipped and why."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, computed_field


class SkippedFile(BaseModel):
    """A file of the archive left out of the dataset; `file` is its path inside the archive."""

    file: str
    reason: str


class DatasetUploadRead(BaseModel):
    """An uploaded dataset, registered and ready for runs."""

    name: str
    path: str  # relative to the data root
    num_classes: int
    num_images: int
    skipped: list[SkippedFile]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def dataset(self) -> dict[str, Any]:
        """The `dataset` of a run config that trains on this upload."""
        return {"name": "imagefolder", "path": self.path}
