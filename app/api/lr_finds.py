"""/api/lr-finds: the LR range test of a config, run as a job on the workers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from app.api.deps import PrincipalDep, UowDep
from app.schemas.lr_finds import JOB_ID, LrFindCreate, LrFindRead
from app.services import lr_finds

router = APIRouter(prefix="/lr-finds", tags=["runs"])
JobId = Annotated[str, Path(pattern=JOB_ID, description="the job's id (32 hex digits)")]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=LrFindRead)
def create_lr_find(body: LrFindCreate, uow: UowDep, principal: PrincipalDep) -> LrFindRead:
    """Queue an LR range test of the config (checked as a run's: 422 naming the field): the base LR
    grows from `start` to `end` over `steps` steps, every stage at its ratio to it."""
    return lr_finds.create_lr_find(uow=uow, principal=principal, request=body)


@router.get("/{job_id}", response_model=LrFindRead)
def get_lr_find(job_id: JobId, uow: UowDep, principal: PrincipalDep) -> LrFindRead:
    """The job's state and, once it succeeded, the loss curve, the suggested base LR and each stage's LR at it."""
    return lr_finds.get_lr_find(uow=uow, principal=principal, job_id=job_id)
