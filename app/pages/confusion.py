"""The "Test split" section of the Run page: per-class accuracy and a shaded confusion matrix.

The matrix is an HTML table, not a plot: its row and column headers let a screen reader
say "true class_0, predicted class_1: 2" for every cell, and it needs no JavaScript.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.schemas.metrics import TestReport

DARK_FROM = 0.55  # a cell shaded this deep gets light text (the shade is the accent blue)


@dataclass(frozen=True)
class ConfusionCell:
    """Test images of one true class given one predicted class."""

    predicted: str
    count: int
    share: float  # of the true class's test images: what the shade shows, rows comparable
    correct: bool

    @property
    def dark(self) -> bool:
        return self.share >= DARK_FROM


@dataclass(frozen=True)
class ClassRow:
    """One true class: its accuracy, its number of test images and its row of the matrix."""

    name: str
    accuracy: float | None  # None: no test image of this class
    images: int
    cells: list[ConfusionCell]


@dataclass(frozen=True)
class ConfusionView:
    """What templates/run_detail.html shows under "Test split"."""

    model: str  # "best" (best validation epoch) or "last"
    epoch: int  # 0-based, as stored
    accuracy: float
    images: int
    class_names: list[str]
    rows: list[ClassRow]


def confusion_view(report: TestReport) -> ConfusionView:
    """Rows of the per-class table and the confusion matrix, shaded by share of the true class."""
    per_class = report.per_class_accuracy
    rows = []
    for name, counts in zip(report.class_names, report.confusion, strict=True):
        total = sum(counts)
        cells = [
            ConfusionCell(predicted, count, count / total if total else 0.0, predicted == name)
            for predicted, count in zip(report.class_names, counts, strict=True)
        ]
        rows.append(ClassRow(name, per_class[name], total, cells))
    return ConfusionView(
        model=report.model, epoch=report.epoch, accuracy=report.accuracy,
        images=sum(row.images for row in rows), class_names=list(report.class_names), rows=rows,
    )  # fmt: skip
