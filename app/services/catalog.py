"""What this server can train: backbones (with stages and sizes), datasets, presets."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import select

from app.db.types import utcnow
from app.models import DatasetFolder
from app.presets import load_preset, preset_names
from app.schemas.backbone_sizes import IMAGENET_STAGE_PARAMS
from app.schemas.catalog import BACKBONES, DATASETS, DatasetSpec
from app.schemas.catalog_api import BackboneRead, DatasetRead, PresetRead, StageRead
from app.services.unit_of_work import UnitOfWork
from app.services.uploads import UPLOADS_FOLDER
from worker.training.dataset_links import usable_folder

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def backbones() -> list[BackboneRead]:
    """Every registered backbone with its stages and parameter counts (ImageNet head)."""
    return [_backbone(name) for name in BACKBONES]


def _backbone(name: str) -> BackboneRead:
    spec = BACKBONES[name]
    counts = IMAGENET_STAGE_PARAMS[name]
    stages = [StageRead(name=stage, modules=list(modules), params=counts[stage]) for stage, modules in spec.stages]
    return BackboneRead(
        name=name, family=spec.family, description=spec.description, head=spec.head,
        stages=stages, params=sum(counts.values()),
    )  # fmt: skip


def datasets(*, uow: UnitOfWork) -> list[DatasetRead]:
    """The dataset catalog, with whether each one's folder exists under the data root."""
    scanned: dict[str, list[DatasetFolder]] = {}
    with uow.reading() as db:
        for row in db.scalars(select(DatasetFolder).order_by(DatasetFolder.path)):
            scanned.setdefault(row.name, []).append(row)
    return [_dataset(spec, uow.settings.data_dir, scanned.get(spec.name, [])) for spec in DATASETS.values()]


def _dataset(spec: DatasetSpec, root: Path, rows: list[DatasetFolder]) -> DatasetRead:
    builtin = spec.name in ("digits", "fake")
    folder, problem = usable_folder(spec, root)
    return DatasetRead(
        name=spec.name, description=spec.description, source=spec.source, num_classes=spec.num_classes,
        split=spec.split, fractions=list(spec.fractions) if spec.fractions else None,
        native_size=spec.native_size, available=builtin or folder is not None, folder=folder, problem=problem,
        scanned=[{"path": r.path, "num_classes": r.num_classes, "num_images": r.num_images} for r in rows],
    )  # fmt: skip


def scan_datasets(*, uow: UnitOfWork) -> list[DatasetRead]:
    """Count the images of every catalog folder (and class-per-folder trees) under the data root."""
    found = _scan(uow.settings.data_dir)  # the slow walk, outside the transaction
    with uow.writing() as db:
        existing = {(row.name, row.path): row for row in db.scalars(select(DatasetFolder))}
        for (name, path), (classes, images) in found.items():
            row = existing.pop((name, path), None) or DatasetFolder(name=name, path=path)
            row.num_classes, row.num_images, row.scanned_at = classes, images, utcnow()
            db.add(row)
        for row in existing.values():  # folders that disappeared
            db.delete(row)
    return datasets(uow=uow)


def _scan(root: Path, prefix: str = "") -> dict[tuple[str, str], tuple[int, int]]:
    known = {folder: spec.name for spec in DATASETS.values() for folder in spec.folders}
    found: dict[tuple[str, str], tuple[int, int]] = {}
    if not root.is_dir():
        return found
    for entry in sorted(root.iterdir()):
        if not entry.is_dir() or entry.name == "runs" or entry.name.startswith("."):
            continue
        if entry.name == UPLOADS_FOLDER and not prefix:  # each upload is a dataset of its own
            found.update(_scan(entry, prefix=f"{UPLOADS_FOLDER}/"))
            continue
        classes, images = _count_images(entry)
        if images:
            found[(known.get(prefix + entry.name, "imagefolder"), prefix + entry.name)] = (classes, images)
    return found


def _count_images(folder: Path) -> tuple[int, int]:
    """(class folders holding images, images) of a tree, without decoding anything."""
    classes, images = set(), 0
    for directory, _, files in os.walk(folder, followlinks=True):
        count = sum(1 for name in files if name.lower().endswith(IMAGE_SUFFIXES))
        if count:
            classes.add(Path(directory).name)
            images += count
    return len(classes), images


def presets() -> list[PresetRead]:
    """Every preset with its raw config (what `{"preset": name}` starts from)."""
    return [PresetRead(name=name, config=load_preset(name)) for name in preset_names()]
