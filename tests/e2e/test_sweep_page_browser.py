"""The sweep page in Chromium: a grid sweep of four tiny trials trained by the real worker,
then its heat map (drawn by Plotly from the server's cells), the best configuration's stage
LRs, and the links to a new run from the best and to Compare."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from live_server import TINY_CONFIG, Server
from playwright.sync_api import Page, expect

from tests.polling import wait_for

SPACE = {
    "stages.classifier.lr": {"type": "categorical", "choices": [0.01, 0.1]},
    "freeze_through": {"type": "categorical", "choices": ["none", "conv3"]},
}


def finished_sweep(server: Server) -> dict[str, Any]:
    body = {"name": "e2e grid", "base": {"config": {**TINY_CONFIG, "epochs": 1}}, "space": SPACE, "sampler": "grid",
            "parallel": 2}  # fmt: skip
    response = server.api.post("/api/sweeps", json=body)
    assert response.status_code == 201, response.text
    sweep_id = response.json()["id"]
    return wait_for(lambda: (s := server.api.get(f"/api/sweeps/{sweep_id}").json())["state"] == "finished" and s,
                    timeout=400, what=f"sweep {sweep_id} to finish")  # fmt: skip


def test_the_sweep_page_shows_the_heat_map_and_the_best_configuration(
    page: Page, server: Server, screenshot: Callable
) -> None:
    sweep = finished_sweep(server)
    assert sweep["best"] is not None, sweep["trials"]
    page.goto("/sweeps")
    page.get_by_role("link", name="e2e grid").click()
    expect(page).to_have_url(re.compile(rf"/sweeps/{sweep['id']}$"))
    expect(page.locator("#trials-table tbody tr")).to_have_count(4)
    expect(page.locator("#heat-plot .heatmaplayer")).to_have_count(1)  # Plotly drew the heat map
    expect(page.locator("#heat-plot")).to_contain_text("freeze_through")
    valued = [t for t in sweep["trials"] if t["value"] is not None]
    expect(page.locator("#parallel-plot .scatterlayer .trace")).to_have_count(len(valued))  # one line per trial
    expect(page.locator("#best-summary")).to_contain_text(f"run {sweep['best']['run_id']}")
    stages = page.locator("#best-stages")
    expect(stages).to_contain_text("classifier")
    expect(stages.locator("tbody td").last).to_have_text(f"{sweep['best']['params']['stages.classifier.lr']:.3g}")
    expect(page.get_by_role("link", name="New run from best")).to_have_attribute(
        "href", f"/runs/new?from_run={sweep['best']['run_id']}"
    )
    expect(page.get_by_role("link", name=re.compile(r"Compare top \d"))).to_have_attribute(
        "href", re.compile(r"/compare\?ids=\d+(,\d+)+")
    )
    screenshot(page, "sweep")
