"""One rule for datasets stored elsewhere: a link at the top of the data root under a catalog name.

The loader, the dataset list and the docs all follow `worker/training/dataset_links.py`: a
folder the list calls available is one a run can read, and a refusal names the link to move.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from app.schemas.catalog import DATASETS
from app.schemas.train_config import DatasetConfig
from worker.training.dataset_links import LINK_NAMES, RULE, usable_folder
from worker.training.datasets import find_dataset_dir, load_data
from worker.training.errors import InvalidDataset

CALTECH = DATASETS["caltech101"]


def _caltech_like(folder: Path, shared_datasets: Path) -> Path:
    """`folder/101_ObjectCategories/{cat,dog}/` holding real JPEGs (Caltech-101's layout, 2 classes)."""
    for name in ("cat", "dog"):
        (folder / "101_ObjectCategories" / name).mkdir(parents=True)
        for i in range(4):
            shutil.copy(shared_datasets / "cifar10_jpg" / "train" / name / f"{i:04d}.jpg", folder / "101_ObjectCategories" / name)
    return folder


def test_a_link_at_the_top_of_the_data_root_is_available_and_found(tmp_path: Path, shared_datasets: Path) -> None:
    stored = _caltech_like(tmp_path / "srv" / "caltech", shared_datasets)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "caltech101").symlink_to(stored, target_is_directory=True)
    assert usable_folder(CALTECH, tmp_path / "data") == ("caltech101/101_ObjectCategories", None)
    found = find_dataset_dir(DatasetConfig(name="caltech101"), tmp_path / "data")
    assert found == tmp_path / "data" / "caltech101" / "101_ObjectCategories"


def test_a_deeper_link_is_not_available_and_the_refusal_names_the_link_and_the_rule(
    tmp_path: Path, shared_datasets: Path
) -> None:
    stored = _caltech_like(tmp_path / "srv" / "caltech", shared_datasets) / "101_ObjectCategories"
    (tmp_path / "data" / "caltech101").mkdir(parents=True)
    (tmp_path / "data" / "caltech101" / "101_ObjectCategories").symlink_to(stored, target_is_directory=True)
    folder, problem = usable_folder(CALTECH, tmp_path / "data")
    assert folder is None and problem is not None and RULE in problem
    with pytest.raises(InvalidDataset) as refused:
        load_data(DatasetConfig(name="caltech101"), tmp_path / "data", image_size=32)
    message = str(refused.value)
    assert "through 'caltech101/101_ObjectCategories'" in message and RULE in message
    assert str(tmp_path) not in message  # paths relative to the data root only


def test_the_rule_names_every_top_level_catalog_folder() -> None:
    assert {"caltech101", "cifar-10-batches-py", "cifar10_jpg", "hymenoptera_data"} <= set(LINK_NAMES)
    assert all(name in RULE for name in LINK_NAMES)


def test_the_readme_states_the_same_rule() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert "must be linked at the top of the data root" in readme and "caltech101 -> " in readme
