"""Fixtures shared by every test layer."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scripts.test_data import MissingTestData, candidates, ensure_test_data


def pytest_configure(config: pytest.Config) -> None:
    """Tests never download: every `Settings` they build, and every server they start, has downloads off."""
    os.environ["STAGEWISE_ALLOW_DOWNLOAD"] = "false"


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """The real test images (Ants & Bees, CIFAR-10 JPEGs): in $STAGEWISE_TEST_DATA, beside the
    checkout (../shared/datasets) or in ~/.cache/stagewise-test-data, as scripts/test_data.py
    (run by `make test`) finds or fetches them. The tests themselves never download."""
    try:
        return ensure_test_data(candidates(os.environ, Path.home()), Path("/nonexistent"), offline=True)
    except MissingTestData as exc:
        pytest.fail(f"test images missing (run `python scripts/test_data.py`): {exc}")


@pytest.fixture
def data_root(tmp_path: Path, shared_datasets: Path) -> Path:
    """A fresh data root holding links to the real datasets, as an admin would set it up."""
    root = tmp_path / "data"
    root.mkdir()
    for name in ("hymenoptera_data", "cifar10_jpg"):
        (root / name).symlink_to(shared_datasets / name, target_is_directory=True)
    return root


@pytest.fixture(scope="session")
def photos(tmp_path_factory: pytest.TempPathFactory, shared_datasets: Path) -> Path:
    """A data root holding the real Ants & Bees photos (linked; tests only read them), for the
    runs trained by `tests/trained_run.py`."""
    root = tmp_path_factory.mktemp("photos")
    (root / "hymenoptera_data").symlink_to(shared_datasets / "hymenoptera_data", target_is_directory=True)
    return root
