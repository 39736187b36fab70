"""/api/studies: queue a whole study (the reference table's six runs) in one request."""

from __future__ import annotations

from fastapi import APIRouter, status

from app.api.deps import PrincipalDep, UowDep
from app.schemas.runs import StudyCreate, StudyRead, StudyRuns
from app.services import runs

router = APIRouter(prefix="/studies", tags=["runs"])


@router.get("", response_model=list[StudyRead])
def list_studies() -> list[StudyRead]:
    """Studies: named groups of presets queued together, e.g. `cifar10-4000/reference`."""
    return runs.list_studies()


@router.post("", status_code=status.HTTP_201_CREATED, response_model=StudyRuns)
def create_study(
    body: StudyCreate, uow: UowDep, principal: PrincipalDep
) -> StudyRuns:
    """Queue every run of the study (all or none; `overrides` apply to each), and say where to compare them."""
    return runs.create_study(uow=uow, principal=principal, request=body)
