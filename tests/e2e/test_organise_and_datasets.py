"""Organising runs and finding datasets in Chromium: tag chips and the bulk bar on the Runs list, notes on
the Run page, the Datasets page, the upload form's name check, and uploads in the New run form's menu."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

from live_server import Server
from PIL import Image
from playwright.sync_api import Page, expect


def class_zip(path: Path) -> Path:
    """A zip of two class folders with three small PNGs each."""
    with zipfile.ZipFile(path, "w") as archive:
        for index, label in enumerate(("circles", "squares")):
            for n in range(3):
                image = io.BytesIO()
                Image.new("RGB", (48, 40), (120 * index, 60 + 40 * n, 90)).save(image, "PNG")
                archive.writestr(f"{label}/{n}.png", image.getvalue())
    return path


def upload(server: Server, name: str, archive: Path) -> None:
    response = server.api.post("/api/datasets", data={"name": name}, files={"file": ("a.zip", archive.read_bytes())})
    assert response.status_code == 201, response.text


def test_tag_runs_in_bulk_filter_by_a_chip_compare_then_delete(
    page: Page, server: Server, screenshot: Callable[[Page, str], Path]
) -> None:
    ids = [server.submit("bulk a", epochs=1), server.submit("bulk b", epochs=1)]
    other = server.submit("untagged", epochs=1)
    for run_id in (*ids, other):
        server.wait_finished(run_id)
    page.goto("/")
    for run_id in ids:
        page.locator(f"#select-{run_id}").check()
    page.locator("#bulk-tags").fill("e2e-sweep")
    page.locator("#bulk-tag").click()
    chip = page.locator(f'tr[data-run-id="{ids[0]}"] .chip', has_text="e2e-sweep")
    expect(chip).to_be_visible()
    chip.click()
    expect(page).to_have_url(f"{server.base_url}/?tag=e2e-sweep")
    shown = sorted(int(r) for r in page.locator("#runs-table tbody tr").evaluate_all("rows => rows.map(r => r.dataset.runId)"))
    assert shown == sorted(ids)
    screenshot(page, "runs-tag-filter")

    for run_id in ids:
        page.locator(f"#select-{run_id}").check()
    page.get_by_role("button", name="Compare selected").click()
    expect(page.locator("#summary-table tbody tr")).to_have_count(2)
    page.select_option("#baseline", str(ids[1]))
    page.locator("#set-baseline").click()
    expect(page.locator("#diff-table thead th.baseline")).to_contain_text("(baseline)")

    page.goto("/?tag=e2e-sweep")
    for run_id in ids:
        page.locator(f"#select-{run_id}").check()
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#bulk-delete").click()
    expect(page.locator("#runs-table tbody")).to_contain_text("No runs match these filters")
    assert [server.api.get(f"/api/runs/{i}").status_code for i in (*ids, other)] == [404, 404, 200]


def test_notes_and_tags_on_the_run_page(page: Page, server: Server) -> None:
    run_id = server.submit("to annotate", epochs=1)
    page.goto(f"/runs/{run_id}")
    page.get_by_text("Rename, tag, write notes").click()
    page.locator("#organise-name").fill("annotated")
    page.locator("#organise-tags").fill("paper fig-2")
    page.locator("#organise-notes").fill("Warm-up **helps** here.\n\n<script>window.bad = 1</script>")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("h1")).to_contain_text("annotated")
    expect(page.locator("#run-notes strong")).to_have_text("helps")
    expect(page.locator(".organise .chip")).to_have_text(["fig-2", "paper"])
    assert page.evaluate("window.bad") is None
    assert server.run(run_id)["tags"] == ["fig-2", "paper"]


def test_datasets_page_lists_an_upload_with_thumbnails_and_deletes_it(
    page: Page, server: Server, tmp_path: Path, screenshot: Callable[[Page, str], Path]
) -> None:
    upload(server, "e2e-gone", class_zip(tmp_path / "a.zip"))
    page.goto("/")
    page.get_by_role("link", name="Datasets").click()
    card = page.locator('[data-dataset-key="uploads/e2e-gone"]')
    expect(card.locator('[data-fact="images"]')).to_have_text("6")
    thumbs = card.locator(".class-thumb img")
    expect(thumbs).to_have_count(6)
    thumbs.first.scroll_into_view_if_needed()
    page.wait_for_function("imgs => imgs.every(i => i.complete && i.naturalWidth > 0)", arg=thumbs.element_handles())
    screenshot(page, "datasets")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "datasets-390")
    page.once("dialog", lambda dialog: dialog.accept())
    card.get_by_role("button", name="delete dataset e2e-gone").click()
    expect(page.locator('[data-dataset-key="uploads/e2e-gone"]')).to_have_count(0)


def test_a_taken_name_is_refused_before_the_upload_and_the_file_stays(page: Page, server: Server, tmp_path: Path) -> None:
    archive = class_zip(tmp_path / "shapes.zip")
    upload(server, "e2e-taken", archive)
    posts: list[str] = []
    page.on("request", lambda request: posts.append(request.url) if request.method == "POST" else None)
    page.goto("/datasets/upload")
    page.locator("#f-name").fill("e2e-taken")
    page.locator("#f-file").set_input_files(str(archive))
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#err-name")).to_contain_text("exists already")
    assert posts == [] and page.locator("#f-file").evaluate("el => el.files.length") == 1
    page.locator("#f-name").fill("e2e-free")
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("status")).to_contain_text("Dataset e2e-free is ready")


def test_an_upload_is_picked_by_name_in_the_form_and_sets_the_split(page: Page, server: Server, tmp_path: Path) -> None:
    upload(server, "e2e-menu", class_zip(tmp_path / "menu.zip"))
    page.goto("/runs/new")
    fractions = [page.locator(f"#f-dataset-fractions-{k}") for k in ("train", "val", "test")]
    page.select_option("#f-dataset-name", "hymenoptera")
    assert [f.input_value() for f in fractions] == ["0.1", "0.1", "0.8"]
    page.select_option("#f-dataset-name", "uploads/e2e-menu")
    assert [f.input_value() for f in fractions] == ["0.7", "0.15", "0.15"]
    page.select_option("#f-weights", "none")
    page.locator("#f-epochs").fill("1")
    page.locator("#f-image_size").fill("32")
    page.locator("#submit-run").click()
    page.wait_for_url(re.compile(r"/runs/\d+$"))
    run_id = int(page.url.rsplit("/", 1)[1])
    dataset = server.run(run_id)["config"]["dataset"]
    assert (dataset["name"], dataset["path"], dataset["fractions"]) == ("imagefolder", "uploads/e2e-menu", {"train": 0.7, "val": 0.15, "test": 0.15})
