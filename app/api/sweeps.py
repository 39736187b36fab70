"""/api/sweeps: create a sweep (its trials are runs), list, read, cancel."""

from __future__ import annotations

from fastapi import APIRouter, status

from app.api.deps import IdPath, PrincipalDep, UowDep
from app.schemas.sweeps import SweepRead, SweepSpec, SweepSummary
from app.services import sweeps

router = APIRouter(prefix="/sweeps", tags=["sweeps"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=SweepRead)
def create_sweep(body: SweepSpec, uow: UowDep, principal: PrincipalDep) -> SweepRead:
    """Check the spec against its base config (422 naming the path; nothing stored), create its
    Optuna study and queue its first `parallel` trials as runs."""
    return sweeps.create_sweep(uow=uow, principal=principal, spec=body)


@router.get("", response_model=list[SweepSummary])
def list_sweeps(uow: UowDep, principal: PrincipalDep) -> list[SweepSummary]:
    """Your sweeps (an admin: everyone's), newest first."""
    return sweeps.list_sweeps(uow=uow, principal=principal)


@router.get("/{sweep_id}", response_model=SweepRead)
def get_sweep(sweep_id: IdPath, uow: UowDep, principal: PrincipalDep) -> SweepRead:
    """The sweep's state, every trial (number, state, params, value, run id) and the best complete trial."""
    return sweeps.get_sweep(uow=uow, principal=principal, sweep_id=sweep_id)


@router.post("/{sweep_id}/cancel", response_model=SweepRead)
def cancel_sweep(sweep_id: IdPath, uow: UowDep, principal: PrincipalDep) -> SweepRead:
    """Cancel a running sweep: queued trials at once, running ones at their next step (409 if it ended)."""
    return sweeps.cancel_sweep(uow=uow, principal=principal, sweep_id=sweep_id)
