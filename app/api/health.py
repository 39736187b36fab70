"""/healthz: database and broker reachable, workers seen."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.api.deps import CeleryDep, SessionDep, SettingsDep
from app.schemas.health import HealthRead
from app.services import workers

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthRead, responses={503: {"model": HealthRead}})
def healthz(db: SessionDep, celery: CeleryDep, settings: SettingsDep) -> JSONResponse:
    """200 when the database and broker answer (503 otherwise); lists live workers."""
    report = workers.health(db=db, celery=celery, settings=settings)
    return JSONResponse(report.model_dump(mode="json"), status_code=200 if report.status == "ok" else 503)
