"""The REST API: thin routers that parse, call a service and return a schema."""

from fastapi import APIRouter

from app.api import accounts, catalog, compare, health, plan, runs, uploads

router = APIRouter()
router.include_router(runs.router, prefix="/api")
router.include_router(compare.router, prefix="/api")
router.include_router(catalog.router, prefix="/api")
router.include_router(uploads.router, prefix="/api")
router.include_router(plan.router, prefix="/api")
router.include_router(accounts.router, prefix="/api")
router.include_router(health.router)
