"""/api/compare: several runs in one response."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.api.deps import PrincipalDep, SettingsDep, UowDep
from app.schemas.runs import CompareRead
from app.services import compare

router = APIRouter(tags=["runs"])


@router.get("/compare", response_model=CompareRead)
def compare_runs(
    ids: Annotated[str, Query(max_length=2000)], uow: UowDep, settings: SettingsDep, principal: PrincipalDep
) -> CompareRead:
    """Configs, summaries and curves of `ids=1,2,3`, with the config fields that differ."""
    return compare.compare_runs(uow=uow, principal=principal, run_ids=compare.parse_ids(ids, settings=settings))
