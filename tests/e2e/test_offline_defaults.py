"""Issue 14, part 1: on a fresh offline install (no weight files, downloads off) the New run
form says which ImageNet weights are missing, starts from scratch, and its defaults train a
run that succeeds."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from live_server import Server, start_server
from playwright.sync_api import Browser, expect
from tabs import open_tab


@pytest.fixture(scope="module")
def offline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server of its own: an empty weights folder, downloads off (as every test runs)."""
    running = start_server(tmp_path_factory.mktemp("offline"))
    try:
        yield running
    finally:
        running.stop()


def test_the_forms_defaults_train_a_run_that_succeeds(browser: Browser, offline: Server, screenshot: Callable,
                                                      tmp_path: Path) -> None:  # fmt: skip
    with open_tab(browser, offline.base_url, viewport={"width": 1300, "height": 900}) as page:
        page.goto("/runs/new")
        weights = page.get_by_label("Starting weights")
        expect(weights).to_have_value("none")
        expect(weights.locator('option[value="imagenet"]')).to_contain_text("missing on this server")
        page.get_by_label("Backbone").select_option("resnet50")  # the label follows the backbone
        expect(weights.locator('option[value="imagenet"]')).to_contain_text("missing on this server")
        page.get_by_label("Backbone").select_option("resnet18")
        screenshot(page, "new_run_offline_defaults")
        page.get_by_label("Epochs", exact=True).fill("1")  # every default but the length: 10 epochs take minutes here
        page.get_by_role("button", name="Start run").click()
        expect(page).to_have_url(re.compile(r"/runs/\d+$"), timeout=60_000)
        run_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    run = offline.wait_finished(run_id)
    assert (run["status"], run["config"]["weights"]) == ("succeeded", "none"), run["error"]
