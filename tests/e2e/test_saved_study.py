"""Studies from Compare in Chromium: two finished runs compared, saved as a study, its page shows
one row per configuration, and "Run with overrides" queues each configuration per seed."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from live_server import Server
from playwright.sync_api import Page, expect


def test_save_a_comparison_as_a_study_and_run_it_with_overrides(
    page: Page, server: Server, finished_runs: list[dict[str, Any]], screenshot: Callable
) -> None:
    ids = [run["id"] for run in finished_runs]
    page.goto(f"/compare?ids={ids[0]},{ids[1]}")
    page.get_by_label("Save these runs as a study").fill("e2e-study")
    page.get_by_role("button", name="Save as study").click()
    expect(page).to_have_url(re.compile(r"/studies/e2e-study$"))
    rows = page.locator("#study-table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("tiny D")

    page.get_by_label("Seeds").fill("x")
    page.get_by_role("button", name="Run with overrides").click()
    expect(page.locator("#err-seeds")).to_contain_text("whole numbers")

    page.get_by_label("Seeds").fill("2")
    page.get_by_label("Epochs").fill("1")
    page.get_by_role("button", name="Run with overrides").click()
    expect(page).to_have_url(re.compile(r"/studies/e2e-study$"))
    expect(rows).to_have_count(4)
    expect(rows.nth(2)).to_contain_text("0, 1")
    screenshot(page, "saved_study")
    study = server.api.get("/api/studies/saved/e2e-study").json()
    queued = [run for run in study["members"] if run["id"] not in ids]
    for run in queued:  # the page is under test, not the training
        server.api.post(f"/api/runs/{run['id']}/cancel")
    assert sorted((run["config"]["seed"], run["epochs"]) for run in queued) == [(0, 1), (0, 1), (1, 1), (1, 1)]
