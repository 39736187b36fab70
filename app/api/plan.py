"""/api/plan: the LR of every stage at every epoch, before running."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import PrincipalDep, UowDep
from app.schemas.plan import Plan
from app.schemas.runs import RunCreate
from app.services import plan

router = APIRouter(tags=["runs"])


@router.post("/plan", response_model=Plan)
def preview_plan(body: RunCreate, uow: UowDep, principal: PrincipalDep) -> Plan:
    """The plan of a run body (same shape as POST /api/runs); nothing is queued."""
    return plan.preview_plan(uow=uow, principal=principal, request=body)
