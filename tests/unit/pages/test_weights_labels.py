"""How pages name what a run started from: a chained run's source is a run, not a file path."""

from __future__ import annotations

import pytest

from app.pages.compare_page import weights_href, weights_label
from app.pages.run_form import weights_options
from app.schemas.weights_source import WeightsSource, chained_from, snapshot_path


@pytest.mark.parametrize(
    ("weights", "label", "href"),
    [
        ("imagenet", "ImageNet", None),
        ("none", "scratch", None),
        ("runs/7/snapshots/best-epoch3.pt", "run #7, best checkpoint (epoch 3)", "/runs/7"),
        ("./runs/7/snapshots/last-epoch12.pt", "run #7, last checkpoint (epoch 12)", "/runs/7"),
        ("runs/7/best.pt", "run #7, best checkpoint", "/runs/7"),
        ("runs/7/checkpoint.pt", "run #7, last checkpoint", "/runs/7"),
        ("uploads/mine/model.pt", "uploads/mine/model.pt", None),
    ],
)
def test_labels_and_links(weights: str, label: str, href: str | None) -> None:
    assert (weights_label(weights), weights_href(weights)) == (label, href)


def test_the_pinned_name_reads_back_as_its_source() -> None:
    assert chained_from(snapshot_path(12, "last", 4)) == WeightsSource(run_id=12, checkpoint="last", epoch=4)


def test_the_form_names_a_cloned_runs_pinned_checkpoint_by_its_run() -> None:
    options = weights_options("runs/7/snapshots/best-epoch3.pt", [(7, "ab")])
    assert options[-1] == ("runs/7/snapshots/best-epoch3.pt", "run #7, best checkpoint (epoch 3)")
