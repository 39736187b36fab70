"""/api/runs: submit, list, read, organise (PATCH, bulk), metrics, cancel, clone, delete, checkpoint download, test report, fast path."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, status
from fastapi.responses import FileResponse

from app.api.deps import IdPath, PrincipalDep, UowDep
from app.schemas.metrics import FastPath
from app.schemas.runs import (
    MAX_ID,
    EpochMetricRead,
    RunBulk,
    RunBulkResult,
    RunClone,
    RunCreate,
    RunDetail,
    RunFilter,
    RunPage,
    RunRead,
    RunUpdate,
    TestReportRead,
)
from app.services import organisation, runs

router = APIRouter(prefix="/runs", tags=["runs"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=RunRead)
def create_run(
    body: RunCreate, uow: UowDep, principal: PrincipalDep
) -> RunRead:
    """Queue a run from a config or a preset (with dotted-path overrides)."""
    return runs.create_run(uow=uow, principal=principal, request=body)


@router.get("", response_model=RunPage)
def list_runs(
    query: Annotated[RunFilter, Query()], uow: UowDep, principal: PrincipalDep
) -> RunPage:
    """Your runs (an admin: everyone's), filtered by status/dataset/backbone, sorted (`-` = descending), paginated."""
    return runs.list_runs(uow=uow, principal=principal, query=query)


@router.post("/bulk", response_model=RunBulkResult)
def bulk_action(body: RunBulk, uow: UowDep, principal: PrincipalDep) -> RunBulkResult:
    """Tag, untag, cancel or delete several runs at once; runs whose state forbids it are listed as skipped.
    Any id you may not see answers 404 and nothing changes."""
    return organisation.bulk_action(uow=uow, principal=principal, run_ids=body.ids, action=body.action, tags=body.tags)


@router.get("/{run_id}", response_model=RunDetail)
def get_run(run_id: IdPath, uow: UowDep, principal: PrincipalDep) -> RunDetail:
    return runs.get_run(uow=uow, principal=principal, run_id=run_id)


@router.patch("/{run_id}", response_model=RunRead)
def update_run(run_id: IdPath, body: RunUpdate, uow: UowDep, principal: PrincipalDep) -> RunRead:
    """Rename a run, write its notes (markdown), replace its `tags` or `add_tags` / `remove_tags`; absent fields stay."""
    return organisation.update_run(uow=uow, principal=principal, run_id=run_id, request=body)


@router.get("/{run_id}/metrics", response_model=list[EpochMetricRead])
def get_metrics(
    run_id: IdPath, uow: UowDep, principal: PrincipalDep, after: Annotated[int | None, Query(ge=-1, le=MAX_ID)] = None
) -> list[EpochMetricRead]:
    """Finished epochs (the fields of metrics.jsonl); `after=N` returns only epochs > N."""
    return runs.run_metrics(uow=uow, principal=principal, run_id=run_id, after=after)


@router.get("/{run_id}/test-report", response_model=TestReportRead)
def get_test_report(run_id: IdPath, uow: UowDep, principal: PrincipalDep) -> TestReportRead:
    """Test-split accuracy, confusion matrix (rows true, columns predicted) and per-class accuracy of a finished run."""
    return runs.get_test_report(uow=uow, principal=principal, run_id=run_id)


@router.get("/{run_id}/fast-path", response_model=FastPath)
def get_fast_path(run_id: IdPath, uow: UowDep, principal: PrincipalDep) -> FastPath:
    """How the worker trains the run: data on the device or streamed, decode cache, precision, frozen prefix
    (cut per unfreezing phase), compile, fused optimizer. 404 until a worker has started the run."""
    return runs.get_fast_path(uow=uow, principal=principal, run_id=run_id)


@router.post("/{run_id}/cancel", response_model=RunRead)
def cancel_run(run_id: IdPath, uow: UowDep, principal: PrincipalDep) -> RunRead:
    """Cancel a queued run, or ask a running one to stop (409 if it already finished)."""
    return runs.cancel_run(uow=uow, principal=principal, run_id=run_id)


@router.post("/{run_id}/clone", status_code=status.HTTP_201_CREATED, response_model=RunRead)
def clone_run(
    run_id: IdPath, uow: UowDep, principal: PrincipalDep,
    body: RunClone | None = None,
) -> RunRead:
    """Queue a copy of a run, with overrides."""
    request = body or RunClone()
    return runs.clone_run(uow=uow, principal=principal, run_id=run_id, request=request)


@router.delete("/{run_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_run(run_id: IdPath, uow: UowDep, principal: PrincipalDep) -> Response:
    """Delete a run that is not running, with its metrics and files."""
    runs.delete_run(uow=uow, principal=principal, run_id=run_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{run_id}/checkpoint", response_class=FileResponse)
def download_checkpoint(
    run_id: IdPath, uow: UowDep, principal: PrincipalDep, kind: Literal["best", "last"] = "best"
) -> FileResponse:
    """The run's best (default) or last checkpoint, a torch file with a torchvision state dict under "model"."""
    path = runs.checkpoint_file(uow=uow, principal=principal, run_id=run_id, kind=kind)
    return FileResponse(path, media_type="application/octet-stream", filename=f"run-{run_id}-{path.name}")
