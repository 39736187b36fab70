"""The dataset upload page: a form for `name` and `file`, then the report of what was kept.

The same service as POST /api/datasets; errors are shown beside the field they name, with
the status the API would answer. The body is read as it arrives (`upload_form`), so a bad
name is refused before the archive is sent, as the JavaScript path does by asking first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from app.api.deps import PrincipalDep, SettingsDep, UowDep
from app.pages.errors import status_of
from app.pages.templating import get_templates
from app.pages.upload_form import read_upload_form
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
async def upload(request: Request, uow: UowDep, settings: SettingsDep, principal: PrincipalDep) -> HTMLResponse:
    """The no-JavaScript submit. The name is checked as soon as its field arrives (the form sends
    it before the file): a bad or taken name is answered at once, the archive left unread."""
    name = ""

    async def check(sent: str) -> None:
        nonlocal name
        name = sent
        await run_in_threadpool(uploads.check_free_name, uow=uow, name=sent)

    try:
        form = await read_upload_form(request, on_name=check)
        with form.file:  # a missing file reads as an empty one, which the service refuses
            result = await run_in_threadpool(
                uploads.create_upload, uow=uow, principal=principal, name=form.fields.get("name", ""), source=form.file
            )
    except InvalidInput as exc:
        errors = {str(e.loc[-1]): e.msg for e in exc.errors}
        page = UploadPage(max_upload_bytes=settings.max_upload_bytes, name=name, errors=errors)
        return _render(request, page, status_of(exc))
    return _render(request, UploadPage(max_upload_bytes=settings.max_upload_bytes, result=result), 201)
