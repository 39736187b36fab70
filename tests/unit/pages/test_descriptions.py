"""The Compare table's "description" column, written from the stage LRs."""

from __future__ import annotations

import pytest

from app.pages.descriptions import (
    StageLR,
    describe_stage_lrs,
    describe_stages,
    format_lr,
)
from app.presets import resolve_config


@pytest.mark.parametrize(
    ("value", "text"),
    [(1e-4, "1e-4"), (0.1, "1e-1"), (3e-4, "3e-4"), (0.0025, "2.5e-3"), (1.0, "1"), (0.0, "frozen")],
)
def test_lrs_read_like_the_paper(value: float, text: str) -> None:
    assert format_lr(value) == text


def test_reference_model_d_reads_like_the_reference_table() -> None:
    config = resolve_config("cifar10-4000/model-d")
    assert describe_stage_lrs(config) == "conv1–3 1e-4, conv4–5 1e-3, classifier 1e-1"


def test_model_c_groups_every_feature_stage() -> None:
    assert describe_stage_lrs(resolve_config("cifar10-4000/model-c")) == "conv1–5 1e-4, classifier 1e-1"


def test_one_lr_everywhere_reads_all() -> None:
    assert describe_stage_lrs(resolve_config("cifar10-4000/model-a-lr1e-1")) == "all 1e-1"


def test_multipliers_are_resolved_against_the_optimizer_lr() -> None:
    config = resolve_config(
        "demo/digits", {"optimizer.lr": 0.05, "stages": {"conv1": 0.01, "classifier": {"mult": 2}}}
    )
    assert describe_stage_lrs(config) == "conv1 1e-2, conv2–5 5e-2, classifier 1e-1"


def test_unnumbered_neighbours_join_with_plus() -> None:
    stages = [StageLR("patch_embed", 1e-4), StageLR("blocks1", 1e-4), StageLR("blocks2", 1e-3), StageLR("classifier", 1e-3)]
    assert describe_stages(stages) == "patch_embed+blocks1 1e-4, blocks2+classifier 1e-3"


def test_late_unfreezing_is_spelled_out_with_the_first_epoch_it_trains_counted_from_1() -> None:
    # unfreeze_epoch=3: frozen for epochs 0, 1, 2 as stored, i.e. pages' 1, 2, 3; trains from the 4th.
    stages = [StageLR("conv1", 0.0), StageLR("conv2", 1e-3, unfreeze_epoch=3), StageLR("classifier", 1e-1)]
    assert describe_stages(stages) == "conv1 frozen, conv2 1e-3 from epoch 4, classifier 1e-1"
