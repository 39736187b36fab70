"""The New run page's "Sweep…" in Chromium: the stage values chosen on the form become the sweep's
ranges, and "Create sweep" lands on the sweep's page; a bad range is shown in its row."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from live_server import Server
from playwright.sync_api import Page, expect


def fill_tiny_run(page: Page) -> None:
    """A config the e2e worker trains in seconds: synthetic images, 32 px, one epoch."""
    page.goto("/runs/new")
    page.get_by_label("Dataset", exact=True).select_option("fake")
    page.get_by_role("spinbutton", name="Classes").fill("2")
    page.get_by_role("spinbutton", name="Images", exact=True).fill("24")
    page.get_by_role("spinbutton", name="Epochs", exact=True).fill("1")
    page.get_by_role("spinbutton", name="Batch size").fill("8")
    page.get_by_role("spinbutton", name="Image size (px)").fill("32")
    page.get_by_role("button", name="Model D").click()  # conv1–3 1e-4, conv4–5 1e-3, classifier 0.1
    page.get_by_label("Starting weights").select_option("none")  # Model D's ImageNet file is not on the e2e server


def test_sweep_turns_the_chosen_stage_values_into_ranges(page: Page, server: Server, screenshot: Callable) -> None:
    fill_tiny_run(page)
    page.get_by_text("Sweep…").click()
    page.get_by_role("checkbox", name="classifier sweep LR").check()
    for stage in ("conv4", "conv5"):
        page.get_by_role("checkbox", name=f"{stage} sweep LR").check()
        page.get_by_role("textbox", name=f"{stage} stage group").fill("late")
    page.get_by_role("spinbutton", name="conv4 lowest LR").fill("0.0002")  # the group's range is its first row's
    page.get_by_label("Sampler").select_option("random")
    page.get_by_label("Trials").fill("2")
    page.get_by_label("Sweep name").fill("from the form")
    screenshot(page, "new_run_sweep_panel")
    page.get_by_role("button", name="Create sweep").click()
    expect(page).to_have_url(re.compile(r"/sweeps/\d+$"))
    expect(page.locator("h1")).to_contain_text("from the form")
    sweep_id = int(page.url.rsplit("/", 1)[1])
    sweep = server.api.get(f"/api/sweeps/{sweep_id}").json()
    server.api.post(f"/api/sweeps/{sweep_id}/cancel")  # the space is what is tested, not the training
    space = sweep["spec"]["space"]
    assert set(space) == {"stages.classifier.lr", "late"}
    classifier, late = space["stages.classifier.lr"], space["late"]
    assert (classifier["low"], classifier["high"], classifier["log"]) == (pytest.approx(0.01), pytest.approx(1.0), True)
    assert (late["stages"], late["low"], late["high"]) == (["conv4", "conv5"], pytest.approx(2e-4), pytest.approx(0.01))
    assert (sweep["sampler"], sweep["planned_trials"]) == ("random", 2)
    assert sweep["spec"]["base"]["config"]["dataset"]["name"] == "fake"


def test_a_range_upside_down_is_shown_in_its_row_and_nothing_is_created(page: Page, server: Server) -> None:
    before = len(server.api.get("/api/sweeps").json())
    fill_tiny_run(page)
    page.get_by_text("Sweep…").click()
    page.get_by_role("checkbox", name="conv2 sweep LR").check()
    page.get_by_role("spinbutton", name="conv2 lowest LR").fill("0.1")
    page.get_by_role("spinbutton", name="conv2 highest LR").fill("0.01")
    page.get_by_role("button", name="Create sweep").click()
    expect(page.locator("#err-sweep-stages-conv2")).to_contain_text("above high")
    expect(page).to_have_url(re.compile(r"/runs/new"))
    assert len(server.api.get("/api/sweeps").json()) == before


def test_the_lr_range_test_runs_on_the_worker_and_its_suggestion_fills_the_form(
    page: Page, server: Server, screenshot: Callable
) -> None:
    fill_tiny_run(page)
    page.get_by_role("spinbutton", name="Batch size").fill("24")  # every step sees all 24 images: a smooth curve
    page.get_by_role("spinbutton", name="Lowest base LR").fill("1e-5")
    page.get_by_role("spinbutton", name="Highest base LR").fill("1")
    page.get_by_role("spinbutton", name="Steps", exact=True).fill("30")
    page.get_by_role("button", name="Run LR range test").click()
    expect(page.locator("#lr-find-status")).to_contain_text("steps (", timeout=180_000)
    expect(page.locator("#lr-find-status")).to_contain_text("Suggested base LR")
    traces = page.evaluate("() => document.getElementById('lr-find-plot').data.map(t => [t.name, t.x.length])")
    assert [name for name, _ in traces] == ["loss", "smoothed loss"] and traces[0][1] >= 5
    screenshot(page, "new_run_lr_find")
    suggestion = float(page.locator("#lr-find-status").get_attribute("data-suggestion"))
    page.get_by_role("button", name="Use suggestion").click()
    assert float(page.get_by_label("Base LR", exact=True).input_value()) == pytest.approx(suggestion, rel=1e-2)
    # Model D's classifier LR was 10 × the base LR of 0.01: it stays 10 × the new base LR.
    classifier = float(page.locator('[name="stages.classifier.value"]').input_value())
    assert classifier == pytest.approx(10 * suggestion, rel=1e-2)
    page.get_by_role("button", name="Seed a sweep's ranges").click()
    expect(page.locator("#sweep-panel")).to_have_attribute("open", "")
    expect(page.get_by_role("checkbox", name="classifier sweep LR")).to_be_checked()
    low = float(page.get_by_role("spinbutton", name="classifier lowest LR").input_value())
    assert low == pytest.approx(10 * suggestion / 10, rel=1e-2)
