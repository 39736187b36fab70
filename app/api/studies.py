"""/api/studies: queue a whole study (the reference table's six runs) in one request; save a
Compare selection as a study and re-run it with overrides (`/api/studies/saved`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from app.api.deps import PrincipalDep, UowDep
from app.schemas.runs import StudyCreate, StudyRead, StudyRuns
from app.schemas.saved_studies import STUDY_NAME, SavedStudyCreate, SavedStudyRead, SavedStudySummary, StudyRerun
from app.services import runs, saved_studies

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


StudyName = Annotated[str, Path(pattern=STUDY_NAME, description="the saved study's name")]


@router.get("/saved", response_model=list[SavedStudySummary])
def list_saved_studies(uow: UowDep, principal: PrincipalDep) -> list[SavedStudySummary]:
    """Studies saved from Compare selections (runs tagged `study:<name>`) among your runs."""
    return saved_studies.list_saved_studies(uow=uow, principal=principal)


@router.post("/saved", status_code=status.HTTP_201_CREATED, response_model=SavedStudyRead)
def save_study(body: SavedStudyCreate, uow: UowDep, principal: PrincipalDep) -> SavedStudyRead:
    """Save runs (e.g. a Compare selection) as a study, or add them to the study of that name."""
    return saved_studies.save_study(uow=uow, principal=principal, request=body)


@router.get("/saved/{name}", response_model=SavedStudyRead)
def get_saved_study(name: StudyName, uow: UowDep, principal: PrincipalDep) -> SavedStudyRead:
    """The study's runs and, per configuration (config without name and seed), test/val accuracy mean ± std."""
    return saved_studies.get_saved_study(uow=uow, principal=principal, name=name)


@router.post("/saved/{name}/runs", status_code=status.HTTP_201_CREATED, response_model=StudyRuns)
def rerun_saved_study(name: StudyName, body: StudyRerun, uow: UowDep, principal: PrincipalDep) -> StudyRuns:
    """Queue every configuration × `seeds` with the overrides (epochs, dataset, backbone), all or none."""
    return saved_studies.rerun_study(uow=uow, principal=principal, name=name, request=body)
