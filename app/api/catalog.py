"""/api/backbones, /api/datasets, /api/presets: what this server can train."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import UowDep
from app.schemas.catalog_api import BackboneRead, DatasetRead, PresetRead
from app.services import catalog

router = APIRouter(tags=["catalog"])


@router.get("/backbones", response_model=list[BackboneRead])
def list_backbones() -> list[BackboneRead]:
    """Backbones with their stages and parameter counts."""
    return catalog.backbones()


@router.get("/datasets", response_model=list[DatasetRead])
def list_datasets(uow: UowDep) -> list[DatasetRead]:
    """Catalog datasets, whether their folders exist here, and the last scan's counts."""
    return catalog.datasets(uow=uow)


@router.post("/datasets/scan", response_model=list[DatasetRead])
def scan_datasets(uow: UowDep) -> list[DatasetRead]:
    """Walk the data root and count each dataset folder's classes and images."""
    return catalog.scan_datasets(uow=uow)


@router.get("/presets", response_model=list[PresetRead])
def list_presets() -> list[PresetRead]:
    return catalog.presets()
