"""A failed run's error names paths relative to the data root, never the server's own (issue 15).

The errors come from the real training core on a real data root; `describe_failure` is what
the worker stores as the run's `error`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.schemas.train_config import DatasetConfig, TrainConfig
from worker.tasks import describe_failure
from worker.training.datasets import load_data
from worker.training.errors import TrainingError


def _error_of(config: DatasetConfig, data_root: Path) -> tuple[str, str]:
    """(the core's own message, the run's stored error) for loading `config` under `data_root`."""
    with pytest.raises(TrainingError) as caught:
        load_data(config, data_root, image_size=32)
    return str(caught.value), describe_failure(caught.value, TrainConfig(dataset=config), data_root)


def test_a_missing_dataset_is_named_relative_to_the_data_root(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "uploads" / "pets" / "cats").mkdir(parents=True)

    raw, stored = _error_of(DatasetConfig(name="imagefolder", path="uploads/pets"), root)

    assert str(root) in raw  # the admin's log keeps the full detail
    assert str(tmp_path) not in stored and "uploads/pets" in stored


def test_where_a_link_out_of_the_data_root_points_is_not_shown(tmp_path: Path) -> None:
    root, secret = tmp_path / "data", tmp_path / "elsewhere" / "secret-datasets"
    (secret / "cats").mkdir(parents=True)
    (secret / "dogs").mkdir()
    root.mkdir()
    (root / "linked").symlink_to(secret)

    _raw, stored = _error_of(DatasetConfig(name="imagefolder", path="linked"), root)

    assert "secret-datasets" not in stored and str(tmp_path) not in stored
    assert "linked" in stored and "outside the data root" in stored
