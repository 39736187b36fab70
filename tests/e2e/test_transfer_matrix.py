"""The transfer matrix: from Compare, "Evaluate on…" queues runs × datasets; cells fill in and open matrices."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable
from typing import Any

from live_server import Server
from PIL import Image
from playwright.sync_api import Page, expect

EVALUATION_MS = 300_000  # two evaluations queued behind each other on a busy 2-core machine (one failed at 180 s)


def shifted_upload(server: Server, name: str) -> None:
    """A dataset with the tiny runs' class folders, colours shifted (a domain the runs never saw)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for label, colour in (("class_0", (120, 200, 240)), ("class_1", (250, 140, 60))):
            for index in range(3):
                image = io.BytesIO()
                Image.new("RGB", (40, 40), colour).save(image, "PNG")
                archive.writestr(f"{label}/{index}.png", image.getvalue())
    response = server.api.post("/api/datasets", data={"name": name}, files={"file": ("d.zip", buffer.getvalue())})
    assert response.status_code == 201, response.text


def test_evaluate_on_from_compare_fills_the_matrix_and_a_cell_opens_its_confusion_matrix(
    page: Page, server: Server, finished_runs: list[dict[str, Any]], screenshot: Callable
) -> None:
    shifted_upload(server, "shifted")
    ids = ",".join(str(r["id"]) for r in finished_runs)
    page.goto(f"/compare?ids={ids}")
    page.get_by_role("link", name="Evaluate on…").click()
    expect(page).to_have_url(re.compile(r"/transfer\?ids="))
    page.get_by_label("uploads/shifted (imagefolder)").check()
    page.get_by_role("button", name="Queue runs × datasets").click()
    matrix = page.locator("#transfer-matrix")
    headers = matrix.locator("thead th").all_inner_texts()
    assert headers == ["Run", "fake", "uploads/shifted"]
    # The diagonal: each run's own test split, the same number as its test report.
    own = matrix.locator("tbody tr").first.locator("td.own")
    expect(own).to_contain_text(f"{100 * finished_runs[0]['summary']['test_acc_at_best_val']:.2f}%")
    cells = matrix.locator("tbody td:not(.own)")
    expect(cells).to_have_count(2)
    for index in range(2):  # the page reloads itself (transfer.js) until both evaluations are done
        expect(cells.nth(index)).to_have_text(re.compile(r"^\s*\d+\.\d\d%"), timeout=EVALUATION_MS)
    screenshot(page, "transfer_matrix")
    cells.first.get_by_role("link").click()
    expect(page.locator("#confusion-matrix")).to_be_visible()
    counts = [int(t) for t in page.locator("#confusion-matrix td.num").all_inner_texts()]
    assert sum(counts) == 6  # every image of the upload, judged once
    for width, height in ((390, 844), (1440, 900)):
        page.set_viewport_size({"width": width, "height": height})
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        screenshot(page, f"evaluation_{width}")


def test_the_matrix_downloads_as_csv(page: Page, finished_runs: list[dict[str, Any]]) -> None:
    ids = ",".join(str(r["id"]) for r in finished_runs)
    page.goto(f"/transfer?ids={ids}")
    with page.expect_download() as download:
        page.get_by_role("link", name="Matrix as CSV").click()
    rows = list(csv.reader(io.StringIO(download.value.path().read_text())))
    assert rows[0][:2] == ["run", "fake"] and len(rows) == 3
    assert abs(float(rows[1][1]) - finished_runs[0]["summary"]["test_acc_at_best_val"]) < 1e-6


def _share_of_colour(image: Image.Image, colour: tuple[int, int, int], tolerance: int = 3) -> int:
    """How many pixels are within `tolerance` of `colour` on every channel."""
    return sum(
        count for count, pixel in image.getcolors(image.width * image.height)
        if all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], colour, strict=True))
    )  # fmt: skip


def test_the_matrix_downloads_as_png(page: Page, finished_runs: list[dict[str, Any]]) -> None:
    ids = ",".join(str(r["id"]) for r in finished_runs)
    page.goto(f"/transfer?ids={ids}")
    columns = len(page.locator("#transfer-matrix thead th").all()) - 1
    with page.expect_download() as download:
        page.get_by_role("button", name="Matrix as PNG").click()
    assert download.value.suggested_filename == f"transfer-{ids.replace(',', '-')}.png"
    image = Image.open(download.value.path())
    assert image.format == "PNG"
    # transfer.js sizes it from the matrix: a column per dataset, a row per run.
    assert image.size == (max(640, 320 + 160 * columns), max(360, 200 + 56 * len(finished_runs)))
    rgb = image.convert("RGB")
    assert len(rgb.getcolors(rgb.width * rgb.height)) > 50  # text, shades, outlines: not a blank canvas
    for run in finished_runs:  # each own test split's cell is a block in its accuracy's shade of blue
        accuracy = run["summary"]["test_acc_at_best_val"]
        shade = tuple(round(255 + accuracy * (end - 255)) for end in (11, 92, 173))
        assert _share_of_colour(rgb, shade) > 2000, (accuracy, shade)
