"""Organising runs from pages: the Runs list's bulk bar and the Run page's name / notes / tags form.

Both are plain form posts (they work without JavaScript) and call the same services as
`PATCH /api/runs/{id}` and `POST /api/runs/bulk`.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from app.api.deps import PrincipalDep, UowDep
from app.pages.errors import html_errors, safe_next
from app.pages.templating import get_templates
from app.schemas.errors import field_message
from app.schemas.runs import MAX_ID, MAX_NAME, MAX_NOTES, RunUpdate
from app.services import organisation
from app.services.errors import InvalidInput

router = APIRouter(include_in_schema=False)


def parse_ids(values: list[str]) -> list[int]:
    """The ticked run ids of a form; InvalidInput naming `ids` for anything but ids."""
    ids = []
    for value in values:
        if not value.strip().isdigit() or not 0 < int(value) <= MAX_ID:
            raise InvalidInput.at(("body", "ids"), f"not a run id: {value[:20]!r}")
        ids.append(int(value))
    if not ids:
        raise InvalidInput.at(("body", "ids"), "select at least one run")
    return ids


@router.post("/runs/bulk", response_model=None)
@html_errors
def bulk(
    request: Request, uow: UowDep, principal: PrincipalDep,
    ids: Annotated[list[str], Form(max_length=500)] = [],  # noqa: B006
    action: Annotated[str, Form(max_length=16)] = "", tags: Annotated[str, Form(max_length=1000)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """One POST with the ticked ids and the button pressed: compare opens Compare; the others act,
    then go back to the list (or show which runs were skipped and why)."""
    run_ids = parse_ids(ids)
    back = safe_next(next, "/")
    if action == "compare":
        return RedirectResponse("/compare?" + urlencode([("ids", i) for i in run_ids]), status_code=303)
    tag_list = organisation.parse_tags(tags) if action in ("tag", "untag") else []
    result = organisation.bulk_action(uow=uow, principal=principal, run_ids=run_ids, action=action, tags=tag_list)
    if not result.skipped:
        return RedirectResponse(back, status_code=303)
    page = {"result": result, "back": back}
    return get_templates().TemplateResponse(request, "bulk_result.html", {"page": page, "nav": "runs"})


@router.post("/runs/{run_id}/organise", response_model=None)
@html_errors
def organise(
    request: Request, run_id: int, uow: UowDep, principal: PrincipalDep,
    name: Annotated[str, Form(max_length=MAX_NAME * 2)] = "",
    notes: Annotated[str, Form(max_length=MAX_NOTES * 2)] = "",
    tags: Annotated[str, Form(max_length=2000)] = "",
) -> HTMLResponse | RedirectResponse:
    """The Run page's form: name, notes and tags (the box replaces them all)."""
    try:
        update = RunUpdate(name=name if name.strip() else None, notes=notes, tags=organisation.parse_tags(tags))
    except ValidationError as exc:
        error = exc.errors()[0]
        raise InvalidInput.at(("body", *error["loc"]), field_message(error)) from exc
    organisation.update_run(uow=uow, principal=principal, run_id=run_id, request=update)
    return RedirectResponse(f"/runs/{run_id}", status_code=303)
