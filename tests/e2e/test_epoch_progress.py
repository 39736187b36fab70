"""Issue 14, part 2 in the browser: the Run page shows a bar for the current epoch and a time
left before the first epoch ends, and the LR plot shows the whole planned schedule from the start."""

from __future__ import annotations

from collections.abc import Callable

from live_server import Server
from playwright.sync_api import Page, expect

# ~300 steps of 2 images per epoch on the CPU: slow enough to watch the first epoch fill.
SLOW = {"epochs": 3, "batch_size": 2, "dataset": {"name": "fake", "num_images": 1000, "num_classes": 2}}


def test_the_epoch_bar_moves_and_time_left_shows_before_the_first_epoch_ends(
    page: Page, server: Server, screenshot: Callable
) -> None:
    run_id = server.submit("slow progress", **SLOW)
    try:
        page.goto(f"/runs/{run_id}")
        planned = page.wait_for_function(
            "() => { const d = document.getElementById('plot-lr').data;"
            " return d && d.filter(t => t.name.endsWith('(planned)')).map(t => t.x.length); }"
        ).json_value()
        assert planned and all(length == 3 for length in planned)  # every stage, all 3 epochs, before any ends
        bar = page.locator('[data-live="step-progress"]')
        expect(page.locator('[data-live="steps"]')).to_contain_text("epoch 1: step", timeout=240_000)  # after earlier tests' runs
        page.wait_for_function(
            "() => document.querySelector('[data-live=\"step-progress\"]').value > 0", timeout=60_000
        )
        first = bar.evaluate("el => el.value")
        expect(page.locator('[data-live="epochs"]')).to_have_text("0 / 3")  # still inside the first epoch
        expect(page.locator('[data-live="eta"]')).not_to_have_text("–")
        page.wait_for_function(
            f"() => document.querySelector('[data-live=\"step-progress\"]').value > {first}", timeout=30_000
        )
        screenshot(page, "run_epoch_progress")
    finally:
        server.api.post(f"/api/runs/{run_id}/cancel")
        server.wait_finished(run_id)
