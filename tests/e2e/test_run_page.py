"""Run page of a finished run: the test split's per-class accuracy and confusion matrix."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from playwright.sync_api import Page, expect

CLASSES = ["class_0", "class_1"]  # the fake dataset of the tiny runs
TEST_IMAGES = 6  # 24 fake images, a quarter of them in test


def test_a_finished_run_shows_its_confusion_matrix_with_class_names(
    page: Page, finished_runs: list[dict[str, Any]], screenshot: Callable
) -> None:
    page.goto(f"/runs/{finished_runs[0]['id']}")
    matrix = page.get_by_role("table", name="Confusion matrix")
    expect(matrix.get_by_role("columnheader")).to_have_text(["Predicted", "True class", *CLASSES])
    expect(matrix.get_by_role("rowheader")).to_have_text(CLASSES)
    counts = [int(text) for text in matrix.locator("tbody td").all_inner_texts()]
    assert sum(counts) == TEST_IMAGES
    expect(page.get_by_role("table", name="Per-class accuracy").get_by_role("rowheader")).to_have_text(CLASSES)
    page.locator("#test-split").scroll_into_view_if_needed()
    screenshot(page, "run_test_split")
