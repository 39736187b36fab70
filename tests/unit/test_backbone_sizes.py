"""The stored parameter counts of every backbone are the ones the training core counts."""

from __future__ import annotations

import pytest

from app.schemas.backbone_sizes import IMAGENET_STAGE_PARAMS
from app.schemas.catalog import BACKBONES
from worker.training.backbones import count_stage_params


def test_every_registered_backbone_has_stored_sizes() -> None:
    assert set(IMAGENET_STAGE_PARAMS) == set(BACKBONES)


@pytest.mark.parametrize("name", list(BACKBONES))
def test_stored_sizes_equal_a_count_on_the_meta_device(name: str) -> None:
    assert IMAGENET_STAGE_PARAMS[name] == count_stage_params(name, 1000)
