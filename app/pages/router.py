"""Dashboard page routes. Thin: parse, call a service, build the page view, render a template.

Pages call the same services as the JSON API; the browser's live parts (LR preview,
run polling, submit) talk to the API directly.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from app.api.deps import PrincipalDep, SettingsDep, UowDep
from app.pages import assets, datasets_page, organise, studies_page
from app.pages.compare_page import ComparePage, compare_page, curves_csv, summary_csv
from app.pages.errors import html_errors, safe_next, status_of
from app.pages.run_form import (
    base_from_run,
    config_from_form,
    errors_by_field,
    run_form_page,
)
from app.pages.run_page import run_page
from app.pages.runs_page import parse_filter, runs_page
from app.pages.sweep_form import SweepFormError, spec_errors, spec_field, spec_from_form
from app.pages.sweep_page import sweep_page
from app.pages.templating import get_templates
from app.schemas.accounts import Principal
from app.schemas.catalog import BACKBONES
from app.schemas.errors import field_message
from app.schemas.lr_finds import LrFindCreate
from app.schemas.runs import RunCreate, RunFilter, StudyCreate
from app.schemas.sweeps import SweepSpec
from app.schemas.train_config import TrainConfig
from app.services import catalog, compare, datasets, lr_finds, runs, sweeps, weights
from app.services import plan as plan_service
from app.services.errors import InvalidInput, RunNotFound
from app.services.unit_of_work import UnitOfWork

router = APIRouter(include_in_schema=False)
router.include_router(assets.router)
router.include_router(organise.router)
router.include_router(datasets_page.router)
router.include_router(studies_page.router)


def _render(request: Request, template: str, page: Any, nav: str = "", status_code: int = 200) -> HTMLResponse:
    return get_templates().TemplateResponse(request, template, {"page": page, "nav": nav}, status_code=status_code)


@router.get("/", response_class=HTMLResponse)
def runs_list(request: Request, uow: UowDep, settings: SettingsDep, principal: PrincipalDep) -> HTMLResponse:
    """Runs, filtered, sorted and paginated by the database (one page read per request)."""
    query, error = parse_filter(dict(request.query_params), settings.max_page_size)
    page = runs.list_runs(uow=uow, principal=principal, query=query)
    return _render(request, "runs_list.html", runs_page(page, query, datetime.now(UTC), error=error), "runs")


@router.get("/runs/new", response_class=HTMLResponse)
@html_errors
def new_run(
    request: Request, uow: UowDep, principal: PrincipalDep, preset: str = "",
    from_run: int | None = None,
) -> HTMLResponse:
    """The form, started from defaults, a preset (`?preset=`) or an earlier run (`?from_run=`)."""
    presets = {p.name: p.config for p in catalog.presets()}
    base, source = {}, None
    if from_run is not None:
        run = runs.get_run(uow=uow, principal=principal, run_id=from_run)
        base, source = base_from_run(run), f"run #{run.id}"
    elif preset in presets:
        base, source = presets[preset], f"preset {preset}"
    page = run_form_page(
        base=base, presets=presets, checkpoints=_checkpoints(uow, principal), preset=preset or None,
        source=source, uploads=datasets.upload_choices(uow=uow, principal=principal),
        imagenet=weights.imagenet_states(uow.settings),
    )
    return _render(request, "run_form.html", page, "new")


def _checkpoints(uow: UnitOfWork, principal: Principal) -> list[tuple[int, str]]:
    """Recent finished runs (of those the user sees) whose best checkpoint a new run may start from."""
    query = RunFilter(status="succeeded", sort="-finished_at", limit=50)
    done = runs.list_runs(uow=uow, principal=principal, query=query)
    return [(run.id, run.name or "") for run in done.items]


@router.post("/runs/new", response_model=None)
async def submit_run(request: Request, uow: UowDep, principal: PrincipalDep) -> Response:
    """Submit the New run form: same service as POST /api/runs, errors beside their fields.

    The page's script posts the same form fields with `Accept: application/json` and gets
    the run (201) or the field errors (422) as JSON; without JavaScript the browser gets
    the run's page or the form again with the errors. Either way the fields become a
    config here, in `config_from_form`, and nowhere else.
    """
    base, data = await _form_config(request)
    try:
        body = RunCreate.model_validate({"name": data.get("name"), "config": data})
        run = await run_in_threadpool(runs.create_run, uow=uow, principal=principal, request=body)
    except (InvalidInput, ValidationError) as exc:
        if _wants_json(request):
            return JSONResponse({"detail": _error_records(exc)}, status_code=422)
        return await _form_again(request, uow, principal, base, data, errors_by_field(_error_records(exc)))
    if _wants_json(request):
        return JSONResponse(run.model_dump(mode="json"), status_code=201)
    return RedirectResponse(f"/runs/{run.id}", status_code=303)


@router.post("/runs/new/plan", response_model=None)
async def preview_form_plan(request: Request, uow: UowDep, principal: PrincipalDep) -> JSONResponse:
    """The live LR preview of the form as it stands (the same fields as a submit); nothing is stored."""
    _, data = await _form_config(request)
    try:
        body = RunCreate.model_validate({"name": data.get("name"), "config": data})
        plan = await run_in_threadpool(plan_service.preview_plan, uow=uow, principal=principal, request=body)
    except (InvalidInput, ValidationError) as exc:
        return JSONResponse({"detail": _error_records(exc)}, status_code=422)
    return JSONResponse(plan.model_dump(mode="json"))


@router.post("/runs/new/lr-find", response_model=None)
async def form_lr_find(request: Request, uow: UowDep, principal: PrincipalDep) -> JSONResponse:
    """The page's "Run LR range test": the form's config as it stands, queued as a job on the
    workers (201 with the job, which the page then polls at /api/lr-finds/{id}; 422 naming
    the fields). The page's script only: the result is a chart."""
    form = await _form_fields(request)
    _, data = _config_of(form)
    keys = ("start", "end", "steps")
    lr_range = {key: form[f"lr_find.{key}"].strip() for key in keys if form.get(f"lr_find.{key}", "").strip()}
    try:
        body = LrFindCreate.model_validate({"config": data, **lr_range})
        job = await run_in_threadpool(lr_finds.create_lr_find, uow=uow, principal=principal, request=body)
    except ValidationError as exc:  # the range: its inputs are lr_find.<key>
        detail = [{"loc": ["lr_find", *map(str, e["loc"])] if e["loc"] else ["lr_find"], "msg": field_message(e)}
                  for e in exc.errors()]  # fmt: skip
        return JSONResponse({"detail": detail}, status_code=422)
    except InvalidInput as exc:
        return JSONResponse({"detail": _error_records(exc)}, status_code=422)
    return JSONResponse(job.model_dump(mode="json"), status_code=201)


async def _form_config(request: Request) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the form's starting config, the config its fields describe)."""
    form = await _form_fields(request)
    return _config_of(form)


async def _form_fields(request: Request) -> dict[str, str]:
    return {key: str(value) for key, value in (await request.form()).items()}


def _config_of(form: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    base = _base_config(form.get("base_config"))
    stage_names = BACKBONES.get(form.get("backbone", ""), BACKBONES["resnet18"]).stage_names
    return base, config_from_form(form, base, stage_names)


@router.post("/sweeps/new", response_model=None)
async def submit_sweep(request: Request, uow: UowDep, principal: PrincipalDep) -> Response:
    """The New run page's "Create sweep": the form's config is the base, its Sweep… panel the
    space and settings (`app.pages.sweep_form`); then the same service as POST /api/sweeps.

    As for a run: JSON (201 with the sweep, or 422 whose `loc` names the form's input) for the
    page's script, the sweep's page or the form again with errors beside the fields without it.
    """
    form = await _form_fields(request)
    base, data = _config_of(form)
    try:
        config = TrainConfig.model_validate(data)
    except ValidationError as exc:
        return await _sweep_form_errors(request, uow, principal, form, base, data, _error_records(exc))
    try:
        draft = spec_from_form(form, config)
        spec = SweepSpec.model_validate(draft.spec)
        sweep = await run_in_threadpool(sweeps.create_sweep, uow=uow, principal=principal, spec=spec)
    except SweepFormError as exc:
        records = [{"loc": exc.field.split("."), "msg": exc.msg}]
    except ValidationError as exc:
        records = spec_errors(exc, draft.fields)
    except InvalidInput as exc:
        records = [{"loc": spec_field(e.loc, e.msg, draft.fields).split("."), "msg": e.msg} for e in exc.errors]
    else:
        if _wants_json(request):
            return JSONResponse(sweep.model_dump(mode="json"), status_code=201)
        return RedirectResponse(f"/sweeps/{sweep.id}", status_code=303)
    return await _sweep_form_errors(request, uow, principal, form, base, data, records)


async def _sweep_form_errors(
    request: Request, uow: UnitOfWork, principal: Principal, form: dict[str, str], base: dict[str, Any],
    data: dict[str, Any], records: list[dict[str, Any]],
) -> Response:
    """422 naming the form's inputs: as JSON for the page's script (`loc` is the input's path),
    else the form again with the errors beside them."""
    errors = errors_by_field(records)
    if _wants_json(request):
        detail = [{"loc": key.split(".") if key else [], "msg": msg} for key, msg in errors.items()]
        return JSONResponse({"detail": detail}, status_code=422)
    return await _form_again(request, uow, principal, base, data, errors, form)


async def _form_again(
    request: Request, uow: UnitOfWork, principal: Principal, base: dict[str, Any], data: dict[str, Any],
    errors: dict[str, str], form: dict[str, str] | None = None,
) -> HTMLResponse:
    """The New run page re-shown as posted (422), `errors` beside their fields."""
    presets = {p.name: p.config for p in catalog.presets()}
    checkpoints = await run_in_threadpool(_checkpoints, uow, principal)
    choices = await run_in_threadpool(lambda: datasets.upload_choices(uow=uow, principal=principal))
    imagenet = await run_in_threadpool(weights.imagenet_states, uow.settings)
    page = run_form_page(base=base, shown=data, presets=presets, checkpoints=checkpoints, errors=errors,
                         uploads=choices, imagenet=imagenet, sweep_form=form)  # fmt: skip
    return _render(request, "run_form.html", page, "new", status_code=422)


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def _error_records(exc: InvalidInput | ValidationError) -> list[dict[str, Any]]:
    if isinstance(exc, ValidationError):  # the request itself (e.g. a 1,000-character name)
        return [{"loc": ["body", *e["loc"]], "msg": field_message(e)} for e in exc.errors()]
    return [{"loc": list(e.loc), "msg": e.msg} for e in exc.errors]


def _base_config(text: str | None) -> dict[str, Any]:
    """The form's hidden starting config; anything but a JSON object (a tampered form) starts from the defaults."""
    try:
        base = json.loads(text or "{}")
    except ValueError:
        return {}
    return base if isinstance(base, dict) else {}


@router.post("/studies", response_model=None)
@html_errors
def queue_study(
    request: Request, uow: UowDep, principal: PrincipalDep,
    study: Annotated[str, Form(max_length=200)] = "", epochs: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """The New run page's "Queue the study" button: every run of it, then their Compare page."""
    overrides: dict[str, Any] = {}
    if epochs.strip():
        if not epochs.strip().isdigit():
            raise InvalidInput.at(("body", "epochs"), f"epochs per run must be a whole number, got {epochs!r}")
        overrides["epochs"] = int(epochs)
    created = runs.create_study(uow=uow, principal=principal,
                                request=StudyCreate(study=study, overrides=overrides))  # fmt: skip
    return RedirectResponse(created.compare_url, status_code=303)


@router.get("/runs/{run_id}", response_class=HTMLResponse)
@html_errors
def run_detail(
    request: Request, run_id: int, uow: UowDep, principal: PrincipalDep
) -> HTMLResponse:
    """One run: facts, curves (then live updates from the API), config, test-split results."""
    run = runs.get_run(uow=uow, principal=principal, run_id=run_id)
    report = runs.find_test_report(uow=uow, principal=principal, run_id=run_id)
    fast_path = runs.find_fast_path(uow=uow, principal=principal, run_id=run_id)
    metrics = runs.run_metrics(uow=uow, principal=principal, run_id=run_id)
    page = run_page(run, metrics, report, fast_path, predict_batch=uow.settings.max_predict_files)
    return _render(request, "run_detail.html", page)


@router.post("/runs/{run_id}/cancel", response_model=None)
@html_errors
def cancel(
    request: Request, run_id: int, uow: UowDep, principal: PrincipalDep, next: Annotated[str, Form()] = ""
) -> Response:
    """Cancel from a button; back to where the user was."""
    runs.cancel_run(uow=uow, principal=principal, run_id=run_id)
    return RedirectResponse(safe_next(next, f"/runs/{run_id}"), status_code=303)


@router.post("/runs/{run_id}/delete", response_model=None)
@html_errors
def delete(
    request: Request, run_id: int, uow: UowDep, principal: PrincipalDep,
    next: Annotated[str, Form()] = "",
) -> Response:
    """Delete from a button (the page asks for confirmation first)."""
    runs.delete_run(uow=uow, principal=principal, run_id=run_id)
    return RedirectResponse(safe_next(next, "/"), status_code=303)


@router.get("/sweeps", response_class=HTMLResponse)
def sweeps_list(request: Request, uow: UowDep, principal: PrincipalDep) -> HTMLResponse:
    """Every sweep of the caller (an admin: everyone's), newest first."""
    return _render(request, "sweeps_list.html", sweeps.list_sweeps(uow=uow, principal=principal), "sweeps")


@router.get("/sweeps/{sweep_id}", response_class=HTMLResponse)
@html_errors
def sweep_detail(
    request: Request, sweep_id: int, uow: UowDep, principal: PrincipalDep, x: str | None = None, y: str | None = None
) -> HTMLResponse:
    """One sweep: its trials live, best-so-far, a heat map over two axes, parallel coordinates, importances."""
    sweep = sweeps.get_sweep(uow=uow, principal=principal, sweep_id=sweep_id)
    importances = sweeps.sweep_importances(uow=uow, principal=principal, sweep_id=sweep_id)
    return _render(request, "sweep_detail.html", sweep_page(sweep, importances, x=x, y=y), "sweeps")


@router.get("/compare", response_class=HTMLResponse)
def compare_view(
    request: Request, uow: UowDep, settings: SettingsDep, principal: PrincipalDep,
    ids: Annotated[list[str], Query()] = [],  # noqa: B006
    metric: str = "val_acc", baseline: Annotated[str, Query(max_length=12)] = "",
) -> HTMLResponse:
    """Several runs: the reference table, overlaid curves, config differences (against `baseline`)."""
    text = ",".join(ids)
    if not text:
        return _render(request, "compare.html", ComparePage(max_compare=settings.max_compare))
    try:
        result = compare.compare_runs(uow=uow, principal=principal, run_ids=compare.parse_ids(text, settings=settings))
    except (InvalidInput, RunNotFound) as exc:  # shown beside the ids field, which can fix it
        message = exc.errors[0].msg if isinstance(exc, InvalidInput) else str(exc)
        page = ComparePage(ids_text=text, max_compare=settings.max_compare, error=message)
        return _render(request, "compare.html", page, status_code=status_of(exc))
    base = int(baseline) if baseline.isdigit() else None  # anything else: the first run, as without one
    view = compare_page(result, metric=metric, max_compare=settings.max_compare, baseline=base)
    return _render(request, "compare.html", view)


@router.get("/compare.csv", response_class=PlainTextResponse)
@html_errors
def compare_csv(
    request: Request, uow: UowDep, settings: SettingsDep, principal: PrincipalDep, ids: str = "",
    table: str = "summary",
) -> Response:
    """The summary table or every curve as CSV, for a spreadsheet or a paper's table."""
    result = compare.compare_runs(uow=uow, principal=principal, run_ids=compare.parse_ids(ids, settings=settings))
    body = curves_csv(result) if table == "curves" else summary_csv(compare_page(result, metric="", max_compare=0))
    filename = f"compare-{table}-{'-'.join(str(r.id) for r in result.runs)}.csv"
    return Response(body, media_type="text/csv", headers={"Content-Disposition": f'attachment; filename="{filename}"'})
