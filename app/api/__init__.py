"""The REST API: thin routers that parse, call a service and return a schema."""

from fastapi import APIRouter, Depends
from fastapi.security import HTTPBearer

from app.api import (
    accounts,
    catalog,
    compare,
    datasets,
    evaluations,
    health,
    inference,
    lr_finds,
    plan,
    runs,
    studies,
    sweeps,
    uploads,
)

# Checked by app.api.guard.AuthGate; declared here so that /docs offers "Authorize".
BEARER = HTTPBearer(auto_error=False, description="an API token: `stagewise tokens create USER` or the account page")
router = APIRouter(dependencies=[Depends(BEARER)])
router.include_router(runs.router, prefix="/api")
router.include_router(inference.router, prefix="/api")
router.include_router(evaluations.router, prefix="/api")
router.include_router(studies.router, prefix="/api")
router.include_router(sweeps.router, prefix="/api")
router.include_router(lr_finds.router, prefix="/api")
router.include_router(compare.router, prefix="/api")
router.include_router(datasets.router, prefix="/api")  # before catalog's, which has /api/datasets too
router.include_router(catalog.router, prefix="/api")
router.include_router(uploads.router, prefix="/api")
router.include_router(plan.router, prefix="/api")
router.include_router(accounts.router, prefix="/api")
router.include_router(health.router)
