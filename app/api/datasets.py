"""/api/datasets/on-disk, /api/datasets/name-check, DELETE /api/datasets/uploads/{name}: the datasets on this server."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from app.api.deps import PrincipalDep, UowDep
from app.schemas.datasets import DatasetNameCheck, DatasetOnDisk
from app.services import datasets

router = APIRouter(prefix="/datasets", tags=["catalog"])
UploadName = Annotated[str, Path(max_length=63, description="the upload's name, as in uploads/<name>")]


@router.get("/on-disk", response_model=list[DatasetOnDisk])
def list_on_disk(uow: UowDep, principal: PrincipalDep) -> list[DatasetOnDisk]:
    """Every dataset a run can use now: catalog datasets found under the data root, digits, and uploads,
    with classes, images, size on disk, uploader and date."""
    return datasets.list_on_disk(uow=uow, principal=principal)


@router.get("/name-check", response_model=DatasetNameCheck)
def check_name(uow: UowDep, principal: PrincipalDep, name: Annotated[str, Query(max_length=200)]) -> DatasetNameCheck:
    """Whether an upload may take `name` (`free`, `taken` or `invalid`, with why): ask before sending the archive."""
    return datasets.check_upload_name(uow=uow, principal=principal, name=name)


@router.delete("/uploads/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_upload(name: UploadName, uow: UowDep, principal: PrincipalDep) -> Response:
    """Delete an uploaded dataset and its files: its uploader or an admin (403 otherwise); 409 naming the
    queued or running runs that use it."""
    datasets.delete_upload(uow=uow, principal=principal, name=name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
