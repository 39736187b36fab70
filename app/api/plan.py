"""/api/plan: the LR of every stage at every epoch, before running."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import PrincipalDep, SessionDep, SettingsDep
from app.schemas.plan import Plan
from app.schemas.runs import RunCreate
from app.services import plan

router = APIRouter(tags=["runs"])


@router.post("/plan", response_model=Plan)
def preview_plan(body: RunCreate, db: SessionDep, settings: SettingsDep, principal: PrincipalDep) -> Plan:
    """The plan of a run body (same shape as POST /api/runs); nothing is queued."""
    return plan.preview_plan(db=db, settings=settings, principal=principal, request=body)
