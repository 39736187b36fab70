"""Fixtures shared by every test layer."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATASETS = REPO_ROOT.parent / "shared" / "datasets"


def pytest_configure(config: pytest.Config) -> None:
    """Tests never download: every `Settings` they build, and every server they start, has downloads off."""
    os.environ["STAGEWISE_ALLOW_DOWNLOAD"] = "false"


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """The real test images (Ants & Bees, CIFAR-10 JPEGs) beside the checkout."""
    if not (SHARED_DATASETS / "hymenoptera_data").is_dir():
        pytest.fail(f"test images missing: expected {SHARED_DATASETS}/hymenoptera_data (see shared/datasets/README.md)")
    return SHARED_DATASETS


@pytest.fixture
def data_root(tmp_path: Path, shared_datasets: Path) -> Path:
    """A fresh data root holding links to the real datasets, as an admin would set it up."""
    root = tmp_path / "data"
    root.mkdir()
    for name in ("hymenoptera_data", "cifar10_jpg"):
        (root / name).symlink_to(shared_datasets / name, target_is_directory=True)
    return root
