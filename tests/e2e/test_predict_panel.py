"""Run page, "Use the model": drop a photo on the zone and see the top classes and the heat map."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

CLASSES = {"class_0", "class_1"}  # the fake dataset of the tiny runs
FIRST_PREDICTION_MS = 60_000

DROP = """(zone, [bytes, name, type]) => {
    const transfer = new DataTransfer();
    transfer.items.add(new File([new Uint8Array(bytes)], name, { type }));
    zone.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
}"""


def drop(page: Page, data: bytes, name: str, kind: str) -> None:
    page.locator("#drop-zone").evaluate(DROP, [list(data), name, kind])


def test_dropping_a_photo_shows_the_top_classes_and_a_heat_map(
    page: Page, finished_runs: list[dict[str, Any]], shared_datasets: Path, screenshot: Callable
) -> None:
    photo = next((shared_datasets / "hymenoptera_data" / "val" / "bees").glob("*.jpg"))
    page.goto(f"/runs/{finished_runs[0]['id']}")
    drop(page, photo.read_bytes(), photo.name, "image/jpeg")
    table = page.get_by_role("table", name="Top 5 classes")
    # The API process imports torch on its first prediction: allow for a busy CI machine.
    expect(table.get_by_role("rowheader")).to_have_count(2, timeout=FIRST_PREDICTION_MS)  # two classes: both
    assert set(table.get_by_role("rowheader").all_inner_texts()) == CLASSES
    probabilities = [float(t.rstrip("%")) for t in table.locator("td").all_inner_texts()]
    assert probabilities == sorted(probabilities, reverse=True) and abs(sum(probabilities) - 100) < 0.2
    heatmap = page.get_by_role("img", name=re.compile("Grad-CAM heat map"))
    expect(heatmap).to_have_attribute("src", re.compile(r"^data:image/png;base64,"))
    page.wait_for_function("document.getElementById('heatmap').naturalWidth > 0")
    expect(page.locator("#heatmap-caption")).to_contain_text(photo.name)
    page.locator("#use-model").scroll_into_view_if_needed()
    screenshot(page, "run_predict_panel")


def test_choosing_a_file_that_is_not_an_image_says_so_naming_it(
    page: Page, finished_runs: list[dict[str, Any]]
) -> None:
    page.goto(f"/runs/{finished_runs[0]['id']}")
    page.get_by_label("Image to classify").set_input_files(
        {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not a picture"}
    )
    expect(page.locator("#predict-error")).to_contain_text("notes.txt: not a readable image", timeout=FIRST_PREDICTION_MS)
    expect(page.locator("#prediction")).to_be_hidden()
