"""The main journey: launch a run from the form with custom stage LRs, see it listed, and
watch its curves grow on the Run page without reloading."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from live_server import RUN_TIMEOUT_S, Server
from playwright.sync_api import Page, expect

POINTS = "() => document.getElementById('plot-acc').data[0].x.length"


def _fill_tiny_run(page: Page) -> None:
    """A run that trains in seconds on a CPU: scratch ResNet-18 on 24 synthetic 32 px images."""
    page.get_by_label("Run name", exact=True).fill("from the form")
    page.get_by_label("Dataset", exact=True).select_option("fake")
    page.get_by_label("Classes", exact=True).fill("2")
    page.get_by_label("Images", exact=True).fill("24")
    page.get_by_label("Starting weights").select_option("none")
    page.get_by_label("Epochs", exact=True).fill("3")
    page.get_by_label("Batch size", exact=True).fill("8")
    page.get_by_label("Image size (px)").fill("32")


def _set_custom_stage_lrs(page: Page) -> None:
    """Discriminative fill from base LR 0.01, then freeze conv1 and raise the classifier."""
    page.get_by_role("button", name="Discriminative: ×10 per stage group").click()
    page.locator('[name="stages.conv1.frozen"]').check()
    page.locator('[name="stages.classifier.value"]').fill("0.05")


def _see_it_on_the_runs_page(page: Page, run_id: int, screenshot: Callable) -> None:
    """In a second tab, so the Run page keeps polling undisturbed."""
    runs = page.context.new_page()
    runs.goto("/")
    expect(runs.locator(f'tr[data-run-id="{run_id}"]')).to_contain_text("from the form")
    screenshot(runs, "runs_during_run")
    runs.close()


def test_a_run_launched_from_the_form_trains_with_its_stage_lrs_and_its_curves_grow_live(
    page: Page, server: Server, screenshot: Callable
) -> None:
    page.goto("/runs/new")
    _fill_tiny_run(page)
    _set_custom_stage_lrs(page)
    page.get_by_role("button", name="Start run").click()
    expect(page).to_have_url(re.compile(r"/runs/\d+$"))
    run_id = int(page.url.rsplit("/", 1)[1])

    stages = server.run(run_id)["config"]["stages"]
    assert {name: spec["lr"] for name, spec in stages.items()} == {
        "conv1": 0, "conv2": 1e-4, "conv3": 1e-4, "conv4": 1e-3, "conv5": 1e-3, "classifier": 0.05,
    }  # fmt: skip

    page.evaluate("() => { window.stayedOnPage = true; }")  # gone if the page reloads
    start = page.evaluate(POINTS)
    assert start < 3, "the run finished before its page loaded, so live updates cannot be observed"
    for points in range(start + 1, 4):
        page.wait_for_function(f"() => ({POINTS})() >= {points}", timeout=RUN_TIMEOUT_S * 1000)
        if points == 1:
            screenshot(page, "run_live")
            _see_it_on_the_runs_page(page, run_id, screenshot)
    expect(page.locator('[data-live="status"]')).to_have_text("succeeded", timeout=RUN_TIMEOUT_S * 1000)
    expect(page.locator("#confusion-matrix")).to_be_visible()  # the test report, swapped in without a reload
    assert page.evaluate("() => window.stayedOnPage === true")
    screenshot(page, "run_done")
    page.reload()  # the facts are rendered by the server: the fast path the worker took, frozen conv1 cut off
    expect(page.locator("dd.fast-path")).to_have_text(re.compile(r"^data cpu · .* · frozen prefix no_grad \(conv1\) · "))
    screenshot(page, "run_done_facts")


def test_the_run_page_plots_the_lr_each_stage_trained_with(page: Page, server: Server) -> None:
    run_id = server.submit("lr plot", epochs=2, stages={"conv1": 0, "classifier": 0.05})
    server.wait_finished(run_id)
    page.goto(f"/runs/{run_id}")
    lrs = page.evaluate("() => Object.fromEntries(document.getElementById('plot-lr').data.map(t => [t.name, t.y]))")
    assert lrs["conv1"] == [None, None]  # frozen: a gap, not a point at zero on a log axis
    assert lrs["classifier"] == [0.05, 0.05]


def test_a_new_run_is_listed_on_the_runs_page(page: Page, server: Server, screenshot: Callable) -> None:
    run_id = server.submit("listed run")
    page.goto("/")
    row = page.locator(f'tr[data-run-id="{run_id}"]')
    expect(row).to_contain_text("listed run")
    expect(row).to_contain_text("fake")
    expect(row).to_contain_text("resnet18")
    screenshot(page, "runs")
    server.wait_finished(run_id)


def test_a_finished_run_offers_its_checkpoint_for_download(page: Page, finished_runs: list[dict[str, Any]]) -> None:
    page.goto(f"/runs/{finished_runs[0]['id']}")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download checkpoint").click()
    assert download.value.suggested_filename == f"run-{finished_runs[0]['id']}-best.pt"
