"""The transfer matrix's view: cells per column, shades, links, the diagonal, CSV."""

from __future__ import annotations

import csv
import io

from app.pages.transfer_page import dataset_choices, parse_choice, transfer_csv, transfer_export, transfer_view
from app.schemas.catalog_api import DatasetRead
from app.schemas.evaluations import TransferCell, TransferMatrix, TransferRow

MATRIX = TransferMatrix(
    columns=["uploads/product", "uploads/webcam"],
    rows=[
        TransferRow(run_id=1, label="#1 product", own_dataset="uploads/product", cells={
            "uploads/product": TransferCell(status="test split", accuracy=0.9, own=True),
            "uploads/webcam": TransferCell(status="succeeded", accuracy=0.34, evaluation_id=7),
        }),
        TransferRow(run_id=2, label="#2 webcam", own_dataset="uploads/webcam", cells={
            "uploads/product": TransferCell(status="queued", accuracy=None, evaluation_id=8),
        }),
    ],
)  # fmt: skip


def test_cells_follow_the_columns_with_shades_and_links() -> None:
    page = transfer_view(MATRIX, ids_text="1,2", choices=[])
    first, second = page.rows
    assert [(c.text, c.heat, c.href, c.own) for c in first.cells] == [
        ("90.00%", 9, "/runs/1#test-split", True), ("34.00%", 3, "/evaluations/7", False),
    ]  # fmt: skip
    assert [(c.text, c.heat) for c in second.cells] == [("queued", None), ("—", None)]
    assert page.pending


def test_csv_has_a_row_per_run_and_blank_cells_without_accuracy() -> None:
    rows = list(csv.reader(io.StringIO(transfer_csv(MATRIX))))
    assert rows == [["run", "uploads/product", "uploads/webcam"], ["#1 product", "0.900000", "0.340000"],
                    ["#2 webcam", "", ""]]  # fmt: skip


def test_the_png_export_gets_labels_accuracies_and_the_diagonal() -> None:
    assert transfer_export(MATRIX) == {
        "columns": ["uploads/product", "uploads/webcam"], "rows": ["#1 product", "#2 webcam"],
        "accuracy": [[0.9, 0.34], [None, None]], "own": [[True, False], [False, False]],
    }  # fmt: skip


def test_choices_offer_available_datasets_and_scanned_folders() -> None:
    def dataset(name: str, available: bool, scanned: list[dict]) -> DatasetRead:
        return DatasetRead(name=name, description="", source="", num_classes=None, split="fractions", fractions=None,
                           native_size=None, available=available, folder=None, scanned=scanned)  # fmt: skip

    choices = dataset_choices([
        dataset("hymenoptera", True, []), dataset("caltech101", False, []),
        dataset("imagefolder", True, [{"path": "uploads/gray", "num_classes": 2, "num_images": 10}]),
    ])  # fmt: skip
    assert [c.value for c in choices] == ["hymenoptera", "imagefolder:uploads/gray"]
    assert parse_choice("imagefolder:uploads/gray").path == "uploads/gray"
