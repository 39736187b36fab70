"""Saved studies in the dashboard: "Save as study" on Compare, the study list and a study's page
with its reference-table numbers (mean ± std per configuration) and "Run with overrides".

Plain forms (no JavaScript needed); errors come back beside the field that caused them (422).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from app.api.deps import PrincipalDep, SettingsDep, UowDep
from app.pages.compare_page import compare_page, describe
from app.pages.errors import html_errors
from app.pages.templating import get_templates
from app.schemas.catalog import BACKBONES, DATASETS
from app.schemas.errors import field_message
from app.schemas.saved_studies import SavedStudyCreate, SavedStudyRead, StudyGroup, StudyRerun
from app.services import compare, datasets, saved_studies
from app.services.errors import InvalidInput

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class GroupRow:
    """One configuration as the study page's table shows it."""

    group: StudyGroup
    stage_lrs: str  # e.g. "conv1–3 1e-4, conv4–5 1e-3, classifier 1e-1"

    @property
    def seeds(self) -> str:
        return ", ".join(str(seed) for seed in self.group.seeds)


@dataclass(frozen=True)
class StudyPage:
    """Everything templates/study_detail.html shows."""

    study: SavedStudyRead
    rows: list[GroupRow]
    dataset_options: list[tuple[str, str]]
    backbone_options: list[tuple[str, str]]
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def compare_url(self) -> str:
        return "/compare?" + "&".join(f"ids={run.id}" for run in self.study.members[-20:])


def study_page(
    study: SavedStudyRead, uploads: Sequence[tuple[str, str]], values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
) -> StudyPage:
    """The study page view; `values` and `errors` re-show a refused "Run with overrides"."""
    by_id = {run.id: run for run in study.members}
    rows = [GroupRow(group, describe(by_id[group.run_ids[0]])) for group in study.groups]
    return StudyPage(
        study=study, rows=rows,
        dataset_options=[(s.name, s.name) for s in DATASETS.values()] + list(uploads),
        backbone_options=[(b.name, b.name) for b in BACKBONES.values()],
        values=dict(values or {}), errors=dict(errors or {}),
    )  # fmt: skip


def parse_seeds(text: str) -> list[int]:
    """"0, 1, 2" or "3" (that many seeds: 0, 1, 2) as a list of seeds; InvalidInput at `seeds` otherwise."""
    words = [w for w in text.replace(",", " ").split() if w]
    if not words:
        return [0]
    if not all(w.isascii() and w.lstrip("-").isdigit() for w in words):
        raise InvalidInput.at(("body", "seeds"), f"seeds are whole numbers separated by commas, got {text!r}")
    if len(words) == 1 and not text.strip().endswith(","):
        count = int(words[0])
        if not 1 <= count <= 20:
            raise InvalidInput.at(("body", "seeds"), f"a number of seeds from 1 to 20, or a list of seeds; got {count}")
        return list(range(count))
    return [int(w) for w in words]


def _render(request: Request, template: str, page: Any, status_code: int = 200) -> HTMLResponse:
    return get_templates().TemplateResponse(request, template, {"page": page, "nav": "runs"}, status_code=status_code)


@router.get("/studies", response_class=HTMLResponse)
def studies_list(request: Request, uow: UowDep, principal: PrincipalDep) -> HTMLResponse:
    """Saved studies among your runs."""
    return _render(request, "studies_list.html", saved_studies.list_saved_studies(uow=uow, principal=principal))


@router.get("/studies/{name}", response_class=HTMLResponse)
@html_errors
def study_detail(request: Request, name: str, uow: UowDep, principal: PrincipalDep) -> HTMLResponse:
    """One study: per configuration the runs, seeds and accuracy as mean ± std; "Run with overrides"."""
    study = saved_studies.get_saved_study(uow=uow, principal=principal, name=name)
    return _render(request, "study_detail.html", study_page(study, datasets.upload_choices(uow=uow, principal=principal)))


@router.post("/studies/saved", response_model=None)
@html_errors
def save_study(
    request: Request, uow: UowDep, settings: SettingsDep, principal: PrincipalDep,
    name: Annotated[str, Form(max_length=200)] = "", ids: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Compare's "Save as study": the compared runs become the study `name`; then its page."""
    run_ids = compare.parse_ids(ids, settings=settings)
    try:
        saved_studies.save_study(uow=uow, principal=principal, request=SavedStudyCreate(name=name.strip(), run_ids=run_ids))
    except (ValidationError, InvalidInput) as exc:
        message = field_message(exc.errors()[0]) if isinstance(exc, ValidationError) else exc.errors[0].msg
        result = compare.compare_runs(uow=uow, principal=principal, run_ids=run_ids)
        view = compare_page(result, metric="val_acc", max_compare=settings.max_compare)
        page = replace(view, study_error=message, study_name=name)
        return get_templates().TemplateResponse(request, "compare.html", {"page": page, "nav": ""}, status_code=422)
    return RedirectResponse(f"/studies/{name.strip()}", status_code=303)


@router.post("/studies/{name}/runs", response_model=None)
@html_errors
def rerun_study(
    request: Request, name: str, uow: UowDep, principal: PrincipalDep,
    seeds: Annotated[str, Form(max_length=200)] = "", epochs: Annotated[str, Form(max_length=16)] = "",
    dataset: Annotated[str, Form(max_length=200)] = "", backbone: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """"Run with overrides": every configuration × the seeds, queued; then the study page."""
    values = {"seeds": seeds, "epochs": epochs, "dataset": dataset, "backbone": backbone}
    try:
        body = StudyRerun.model_validate({
            "seeds": parse_seeds(seeds), "epochs": epochs.strip() or None, "dataset": dataset or None,
            "backbone": backbone or None,
        })  # fmt: skip
        saved_studies.rerun_study(uow=uow, principal=principal, name=name, request=body)
    except (ValidationError, InvalidInput) as exc:
        errors = _errors(exc)
        study = saved_studies.get_saved_study(uow=uow, principal=principal, name=name)
        page = study_page(study, datasets.upload_choices(uow=uow, principal=principal), values, errors)
        return _render(request, "study_detail.html", page, status_code=422)
    return RedirectResponse(f"/studies/{name}", status_code=303)


def _errors(exc: ValidationError | InvalidInput) -> dict[str, str]:
    """Errors keyed by the form field they name (`seeds`, `epochs`, `dataset`, `backbone`; else "")."""
    if isinstance(exc, ValidationError):
        records = [(tuple(map(str, e["loc"])), field_message(e)) for e in exc.errors()]
    else:
        records = [(tuple(map(str, e.loc))[1:], e.msg) for e in exc.errors]
    found: dict[str, str] = {}
    for loc, msg in records:
        key = loc[0] if loc and loc[0] in ("seeds", "epochs", "dataset", "backbone") else ""
        found[key] = f"{found[key]}; {msg}" if key in found else msg
    return found



