"""POST /api/datasets: a dataset uploaded as a zip or tar of class folders."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile

from app.api.deps import PrincipalDep, UowDep
from app.schemas.uploads import DatasetUploadRead
from app.services import uploads

router = APIRouter(tags=["catalog"])

# Multipart framing and the `name` field ride along with the archive.
FORM_OVERHEAD_BYTES = 64 * 1024
UPLOAD_PATHS = ("/api/datasets", "/datasets/upload")


@router.post("/datasets", response_model=DatasetUploadRead, status_code=201)
def upload_dataset(
    uow: UowDep, principal: PrincipalDep, name: Annotated[str, Form()], file: Annotated[UploadFile, File()]
) -> DatasetUploadRead:
    """Extract, verify and register an archive of one folder per class as `uploads/<name>`.

    413 over a size limit, 409 for a taken name, 422 for an unsafe or unreadable archive;
    every error names `file` or `name`, and a failed upload leaves nothing behind.
    """
    return uploads.create_upload(uow=uow, principal=principal, name=name, source=file.file)


def body_limits(max_upload_bytes: int) -> dict[str, int]:
    """The body size limit of each path that takes an archive."""
    return {path: max_upload_bytes + FORM_OVERHEAD_BYTES for path in UPLOAD_PATHS}
