"""The dataset upload page: a form for `name` and `file`, then the report of what was kept.

The same service as POST /api/datasets; errors are shown beside the field they name, with
the status the API would answer.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse

from app.api.deps import PrincipalDep, SettingsDep, UowDep
from app.pages.errors import status_of
from app.pages.templating import get_templates
from app.schemas.uploads import DatasetUploadRead
from app.services import uploads
from app.services.errors import InvalidInput

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class UploadPage:
    """What the template shows: the form (with errors by field), or the upload's report."""

    max_upload_bytes: int
    name: str = ""
    errors: dict[str, str] = field(default_factory=dict)
    result: DatasetUploadRead | None = None


def _render(request: Request, page: UploadPage, status_code: int = 200) -> HTMLResponse:
    return get_templates().TemplateResponse(
        request, "dataset_upload.html", {"page": page, "nav": "upload"}, status_code=status_code
    )


@router.get("/datasets/upload", response_class=HTMLResponse)
def upload_form(request: Request, settings: SettingsDep) -> HTMLResponse:
    """The empty form."""
    return _render(request, UploadPage(max_upload_bytes=settings.max_upload_bytes))


@router.post("/datasets/upload", response_class=HTMLResponse)
def upload(
    request: Request, uow: UowDep, settings: SettingsDep, principal: PrincipalDep, name: Annotated[str, Form()] = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> HTMLResponse:
    """The no-JavaScript submit; a missing file reads as an empty one, which the service refuses."""
    source = file.file if file is not None else io.BytesIO()
    try:
        result = uploads.create_upload(uow=uow, principal=principal, name=name, source=source)
    except InvalidInput as exc:
        errors = {str(e.loc[-1]): e.msg for e in exc.errors}
        page = UploadPage(max_upload_bytes=settings.max_upload_bytes, name=name, errors=errors)
        return _render(request, page, status_of(exc))
    return _render(request, UploadPage(max_upload_bytes=settings.max_upload_bytes, result=result), 201)
