"""Run page, "Use the model": drop photos on the zone (or choose them) and see each one's top classes and heat map."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from live_server import Server
from playwright.sync_api import Page, expect

CLASSES = {"class_0", "class_1"}  # the fake dataset of the tiny runs
FIRST_PREDICTION_MS = 60_000

DROP = """(zone, files) => {
    const transfer = new DataTransfer();
    for (const [bytes, name, type] of files) transfer.items.add(new File([new Uint8Array(bytes)], name, { type }));
    zone.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
}"""


def drop(page: Page, files: list[Path], kind: str = "image/jpeg") -> None:
    page.locator("#drop-zone").evaluate(DROP, [[list(f.read_bytes()), f.name, kind] for f in files])


def photos(shared_datasets: Path) -> list[Path]:
    """Three real photos: two bees and an ant from Ants & Bees' validation folder."""
    val = shared_datasets / "hymenoptera_data" / "val"
    return [*sorted((val / "bees").glob("*.jpg"))[:2], min((val / "ants").glob("*.jpg"))]


def shown(page: Page, count: int) -> list[dict[str, Any]]:
    """Each result card once `count` are there: its file (from the caption), classes, probabilities, heat map."""
    cards = page.locator("#predictions article")
    # The API process imports torch on its first prediction: allow for a busy CI machine.
    expect(cards).to_have_count(count, timeout=FIRST_PREDICTION_MS)
    page.wait_for_function(
        "[...document.querySelectorAll('#predictions img.heatmap')].every((img) => img.complete && img.naturalWidth > 0)"
    )
    found = []
    for index in range(count):
        item = cards.nth(index)
        found.append({
            "caption": item.locator("caption").inner_text(),
            "classes": item.get_by_role("rowheader").all_inner_texts(),
            "probabilities": [float(t.rstrip("%")) for t in item.locator("td").all_inner_texts()],
            "heatmap": item.get_by_role("img", name=re.compile("Grad-CAM heat map")).get_attribute("src"),
            "figcaption": item.locator("figcaption").inner_text(),
        })  # fmt: skip
    return found


def test_dropping_three_photos_shows_each_ones_top_classes_and_heat_map(
    page: Page, server: Server, finished_runs: list[dict[str, Any]], shared_datasets: Path, screenshot: Callable
) -> None:
    files = photos(shared_datasets)
    run_id = finished_runs[0]["id"]
    page.goto(f"/runs/{run_id}")
    drop(page, files)
    cards = shown(page, 3)
    api = server.api.post(
        f"/api/runs/{run_id}/predict", files=[("files", (f.name, f.read_bytes(), "image/jpeg")) for f in files],
        data={"top_k": "5"},
    ).json()["predictions"]  # fmt: skip
    for card, photo, expected in zip(cards, files, api, strict=True):
        assert card["caption"] == f"Top 2 classes: {photo.name}"  # two classes: both listed
        assert card["classes"] == [c["name"] for c in expected["top"]] and set(card["classes"]) == CLASSES
        assert card["probabilities"] == [round(100 * c["probability"], 1) for c in expected["top"]]
        assert card["heatmap"].startswith("data:image/png;base64,") and photo.name in card["figcaption"]
    expect(page.locator("#predict-status")).to_have_text("3 images classified.")
    page.locator("#use-model").scroll_into_view_if_needed()
    screenshot(page, "run_predict_panel")


def test_choosing_several_files_classifies_each(
    page: Page, finished_runs: list[dict[str, Any]], shared_datasets: Path
) -> None:
    files = photos(shared_datasets)
    page.goto(f"/runs/{finished_runs[0]['id']}")
    page.get_by_label("Images to classify").set_input_files([str(f) for f in files])
    assert [card["caption"].split(": ", 1)[1] for card in shown(page, 3)] == [f.name for f in files]


def test_choosing_a_file_that_is_not_an_image_says_so_naming_it(
    page: Page, finished_runs: list[dict[str, Any]]
) -> None:
    page.goto(f"/runs/{finished_runs[0]['id']}")
    page.get_by_label("Images to classify").set_input_files(
        {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not a picture"}
    )
    expect(page.locator("#predict-error")).to_contain_text("notes.txt: not a readable image", timeout=FIRST_PREDICTION_MS)
    expect(page.locator("#predictions article")).to_have_count(0)
