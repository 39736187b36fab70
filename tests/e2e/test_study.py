"""The New run page's study button queues the reference table's six runs and opens them on
Compare, in the reference table's order. (The e2e data root holds no CIFAR-10, so the runs
then fail fast on the worker, saying where to put it; this test is about queuing them.)"""

from __future__ import annotations

import re
from collections.abc import Callable

from live_server import Server
from playwright.sync_api import Page, expect

from app.schemas.weights import IMAGENET_WEIGHTS

MODELS = ["Model A, all 1e-1", "Model B, all 1e-1", "Model A, all 1e-4", "Model B, all 1e-4", "Model C", "Model D"]


def test_queue_the_reference_study_and_land_on_its_comparison(page: Page, server: Server, screenshot: Callable) -> None:
    weights = server.log.parent / "weights" / IMAGENET_WEIGHTS["resnet18"].file  # four of the six runs need it
    weights.parent.mkdir(exist_ok=True)
    weights.write_bytes(b"placeholder: never loaded")
    try:
        _queue_and_compare(page, server, screenshot)
    finally:
        weights.unlink()  # the session's other tests see an offline server without weights


def _queue_and_compare(page: Page, server: Server, screenshot: Callable) -> None:
    page.goto("/runs/new")
    page.get_by_label("Or queue a whole study").select_option("cifar10-4000/reference")
    page.get_by_label("Epochs per run").fill("1")
    page.get_by_role("button", name="Queue the study").click()
    expect(page).to_have_url(re.compile(r"/compare\?ids=\d+(&ids=\d+){5}(&|$)"))  # the page adds its metric
    rows = page.locator("#summary-table tbody tr")
    expect(rows).to_have_count(6)
    for row, model in zip(rows.all(), MODELS, strict=True):
        expect(row).to_contain_text(model)
    expect(page.locator("#compare-plot")).to_contain_text("No finished epochs yet")
    screenshot(page, "study_compare")
    ids = [int(i) for i in re.findall(r"ids=(\d+)", page.url)]
    assert [server.run(i)["epochs"] for i in ids] == [1] * 6
