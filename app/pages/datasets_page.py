"""The Datasets page (`/datasets`): what is on this server's disk, a few images per class, delete an upload.

Thumbnails are served by dataset key, class name and index only; the service looks the
folder up, so no request names a path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.api.deps import PrincipalDep, UowDep
from app.pages.errors import html_errors
from app.pages.templating import get_templates
from app.schemas.datasets import DatasetOnDisk
from app.services import datasets

router = APIRouter(include_in_schema=False)
CLASSES_WITH_THUMBNAILS = 8  # Caltech-101 has 101 classes: the page shows the first few, and counts the rest


@dataclass(frozen=True)
class DatasetsPage:
    """Everything templates/datasets.html shows."""

    entries: list[DatasetOnDisk]
    thumbnails_per_class: int = datasets.THUMBNAILS_PER_CLASS
    classes_with_thumbnails: int = CLASSES_WITH_THUMBNAILS


@router.get("/datasets", response_class=HTMLResponse)
def datasets_list(request: Request, uow: UowDep, principal: PrincipalDep) -> HTMLResponse:
    """Every dataset a run can use now, with its classes and a few images of each."""
    page = DatasetsPage(datasets.list_on_disk(uow=uow, principal=principal))
    return get_templates().TemplateResponse(request, "datasets.html", {"page": page, "nav": "datasets"})


@router.get("/datasets/thumbnail", response_model=None)
@html_errors
def thumbnail(
    request: Request, uow: UowDep, principal: PrincipalDep, dataset: Annotated[str, Query(max_length=200)],
    cls: Annotated[str, Query(max_length=255)], index: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    """A small JPEG of one image of a class (`?dataset=hymenoptera&cls=ants&index=0`)."""
    body = datasets.thumbnail(uow=uow, principal=principal, key=dataset, class_name=cls, index=index)
    return Response(body, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})


@router.post("/datasets/delete", response_model=None)
@html_errors
def delete(
    request: Request, uow: UowDep, principal: PrincipalDep, name: Annotated[str, Form(max_length=63)] = ""
) -> Response:
    """Delete an upload from its card (the page asks first); 409 naming the runs that still use it."""
    datasets.delete_upload(uow=uow, principal=principal, name=name)
    return RedirectResponse("/datasets", status_code=303)
