"""/healthz (public: database and broker reachable, workers seen) and /api/workers."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.api.deps import PrincipalDep, SettingsDep, UowDep
from app.schemas.health import HealthRead, WorkerRead
from app.services import workers

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthRead, responses={503: {"model": HealthRead}})
def healthz(uow: UowDep, settings: SettingsDep) -> JSONResponse:
    """200 when the database and broker answer (503 otherwise; `degraded` when a volume is low on space);
    counts live workers (lists them without accounts)."""
    report = workers.health(uow=uow, detail=not settings.accounts_required)
    return JSONResponse(report.model_dump(mode="json"), status_code=503 if report.status == "unavailable" else 200)


@router.get("/api/workers", response_model=list[WorkerRead])
def list_workers(uow: UowDep, _: PrincipalDep) -> list[WorkerRead]:
    """Workers heard from within the heartbeat timeout: name, host, pid, queues, GPU."""
    return workers.live_workers(uow=uow)
