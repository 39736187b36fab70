"""End-to-end fixtures: a real `stagewise serve` (API + dashboard + one worker process) on a
free port with embedded SQLite, and Debian's headless Chromium driven by Playwright.

Chromium comes from the distribution (`apt-get install chromium`, done by `.ci/run`), never
from `playwright install`, and runs with networking extras off: the lab network is closed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from live_server import Server, start_server
from playwright.sync_api import Browser, Page, Playwright, sync_playwright
from tabs import open_tab

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
MODEL_D_STAGES = {"conv1": 1e-4, "conv2": 1e-4, "conv3": 1e-4, "conv4": 1e-3, "conv5": 1e-3, "classifier": 0.1}


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server + worker for the whole browser session (starting torch is the slow part)."""
    running = start_server(tmp_path_factory.mktemp("e2e"))
    try:
        yield running
    finally:
        running.stop()
        sys.stderr.write(f"\n----- serve.log (last 3000 chars) -----\n{running.log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def finished_runs(server: Server) -> list[dict[str, Any]]:
    """Two tiny finished runs that differ in their stage LRs: the reference Model D's, and one LR everywhere."""
    ids = [
        server.submit("tiny D", epochs=2, stages=MODEL_D_STAGES),
        server.submit("tiny same", epochs=2, optimizer={"lr": 0.01}),
    ]
    runs = [server.wait_finished(run_id) for run_id in ids]
    assert [r["status"] for r in runs] == ["succeeded", "succeeded"], [r["error"] for r in runs]
    return runs


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's Chromium, headless; `.ci/run` installs it when missing."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} missing: run `apt-get install -y chromium` (.ci/run does it)")
    launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield launched
    launched.close()


@pytest.fixture
def page(browser: Browser, server: Server) -> Iterator[Page]:
    """A fresh tab on the dashboard; any uncaught JavaScript error fails the test."""
    with open_tab(browser, server.base_url, viewport={"width": 1300, "height": 900}) as tab:
        yield tab


@pytest.fixture
def screenshot() -> Callable[[Page, str], Path]:
    """Save a full-page screenshot under artifacts/screenshots/ (ignored by git) for a human to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(tab: Page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        tab.screenshot(path=str(path), full_page=True)
        return path

    return take
