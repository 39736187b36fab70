"""/api/runs/{id}/evaluations, /api/evaluations: a run's model judged on other datasets."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from app.api.deps import IdPath, PrincipalDep, UowDep
from app.schemas.evaluations import EvaluationCreate, EvaluationFilter, EvaluationRead, TransferRequest
from app.services import evaluations

router = APIRouter(tags=["evaluations"])


@router.post("/runs/{run_id}/evaluations", status_code=status.HTTP_201_CREATED, response_model=EvaluationRead)
def create_evaluation(run_id: IdPath, body: EvaluationCreate, uow: UowDep, principal: PrincipalDep) -> EvaluationRead:
    """Queue the run's checkpoint judged on a dataset whose class folders are the run's classes.

    422 names the missing and extra classes when they differ (unless `shared_classes`);
    409 while the run has no such checkpoint.
    """
    return evaluations.create_evaluation(uow=uow, principal=principal, run_id=run_id, request=body)


@router.post("/evaluations/transfer", status_code=status.HTTP_201_CREATED, response_model=list[EvaluationRead])
def create_transfer(body: TransferRequest, uow: UowDep, principal: PrincipalDep) -> list[EvaluationRead]:
    """Queue every run × every dataset at once (all or none): the transfer matrix's "Evaluate on…"."""
    return evaluations.create_transfer(uow=uow, principal=principal, request=body)


@router.get("/evaluations", response_model=list[EvaluationRead])
def list_evaluations(
    query: Annotated[EvaluationFilter, Query()], uow: UowDep, principal: PrincipalDep
) -> list[EvaluationRead]:
    """Evaluations of the runs in `run_ids` (comma-separated; all yours when empty), newest first."""
    return evaluations.list_evaluations(uow=uow, principal=principal, query=query)


@router.get("/evaluations/{evaluation_id}", response_model=EvaluationRead)
def get_evaluation(evaluation_id: IdPath, uow: UowDep, principal: PrincipalDep) -> EvaluationRead:
    """Status, and once succeeded accuracy, loss, count, per-class accuracy, confusion matrix, class mapping."""
    return evaluations.get_evaluation(uow=uow, principal=principal, evaluation_id=evaluation_id)
