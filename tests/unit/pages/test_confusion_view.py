"""The Run page's test-split section: per-class rows and cells shaded by share of their true class."""

from __future__ import annotations

from app.pages.confusion import confusion_view
from app.schemas.metrics import TestReport

REPORT = TestReport(
    model="best", epoch=3, accuracy=0.6, class_names=["cat", "dog", "eel"], confusion=[[3, 1, 0], [1, 0, 0], [0, 0, 0]]
)


def test_each_class_has_its_accuracy_and_number_of_test_images() -> None:
    view = confusion_view(REPORT)
    assert [(r.name, r.accuracy, r.images) for r in view.rows] == [("cat", 0.75, 4), ("dog", 0.0, 1), ("eel", None, 0)]
    assert view.images == 5


def test_cells_are_shaded_by_share_of_their_true_class_and_mark_the_diagonal() -> None:
    cat = confusion_view(REPORT).rows[0].cells
    assert [(c.predicted, c.share, c.correct, c.dark) for c in cat] == [
        ("cat", 0.75, True, True), ("dog", 0.25, False, False), ("eel", 0.0, False, False),
    ]  # fmt: skip
