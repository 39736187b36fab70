"""Every page on a phone (390 × 844) and a laptop (1440 × 900), light and dark: nothing scrolls
sideways (wide tables scroll inside their own box), Compare with 20 runs fits the laptop, and the
dark theme follows the system's setting, plots included. Screenshots go to artifacts/screenshots/."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from live_server import Server, start_server
from playwright.sync_api import Browser, Page, expect
from tabs import open_tab

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1440, "height": 900}
COMPARED = 20
BATCH = 10
WIDTH = "() => [document.documentElement.scrollWidth, window.innerWidth]"
DARK_BG = "rgb(13, 17, 23)"  # --bg of the dark theme (dashboard.css)


@pytest.fixture(scope="module")
def wide_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server of its own for the 20 runs, so the other modules' tables stay as they expect."""
    running = start_server(tmp_path_factory.mktemp("every-screen"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def twenty_runs(wide_server: Server) -> list[int]:
    """20 finished runs with long names and different stage LRs: a wide legend and config diff."""
    ids: list[int] = []
    for batch in range(0, COMPARED, BATCH):  # under the per-user limit of active runs
        for i in range(batch, batch + BATCH):
            stages = {"conv1": 10.0 ** -(1 + i % 4), "conv4": 0 if i % 3 == 0 else 1e-3, "classifier": 0.01 * (i + 1)}
            dataset = {"name": "fake", "num_images": 8, "num_classes": 2}
            name = f"wide comparison run number {i} with a long descriptive name"
            ids.append(wide_server.submit(name, epochs=1, dataset=dataset, stages=stages))
        for run_id in ids[batch:]:
            assert wide_server.wait_finished(run_id)["status"] == "succeeded"
    return ids


def pages(runs: list[dict[str, Any]]) -> dict[str, str]:
    """Every page a user reaches from the menu or a link (the login page needs accounts: test_login)."""
    ids = ",".join(str(r["id"]) for r in runs)
    return {
        "runs": "/", "new_run": "/runs/new", "run": f"/runs/{runs[0]['id']}", "compare": f"/compare?ids={ids}",
        "compare_empty": "/compare", "upload": "/datasets/upload", "account": "/account", "api_docs": "/docs",
        "not_found": "/runs/999999", "datasets": "/datasets", "sweeps": "/sweeps", "transfer": f"/transfer?ids={ids}",
    }  # fmt: skip


@pytest.fixture(params=["light", "dark"])
def scheme(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _tab(browser: Browser, server: Server, viewport: dict[str, int], scheme: str) -> AbstractContextManager[Page]:
    return open_tab(browser, server.base_url, viewport=viewport, color_scheme=scheme)


def _settle(tab: Page, path: str) -> None:
    """Open a page and wait until its scripts have drawn (plots, Swagger UI)."""
    tab.goto(path)
    # The first plan preview imports torch in the server: slow on a loaded 2-core machine.
    tab.wait_for_load_state("networkidle", timeout=60_000)


@pytest.mark.parametrize(("size", "viewport"), [("390", PHONE), ("1440", LAPTOP)])
def test_no_page_scrolls_sideways(
    browser: Browser, server: Server, finished_runs: list[dict[str, Any]], scheme: str, size: str,
    viewport: dict[str, int], screenshot: Callable,
) -> None:  # fmt: skip
    too_wide = {}
    with _tab(browser, server, viewport, scheme) as tab:
        for name, path in pages(finished_runs).items():
            _settle(tab, path)
            width, inner = tab.evaluate(WIDTH)
            if width > inner:
                too_wide[name] = width
            screenshot(tab, f"screen_{size}_{scheme}_{name}")
    assert too_wide == {}, f"pages wider than {viewport['width']} px: {too_wide}"


def test_compare_with_20_runs_fits_a_laptop_screen(
    browser: Browser, wide_server: Server, twenty_runs: list[int], scheme: str, screenshot: Callable
) -> None:
    with _tab(browser, wide_server, LAPTOP, scheme) as tab:
        _settle(tab, f"/compare?ids={','.join(map(str, twenty_runs))}")
        tab.wait_for_function(f"() => document.getElementById('compare-plot').data?.length === {COMPARED}")
        assert tab.evaluate(WIDTH)[0] <= LAPTOP["width"]
        # The config diff is wider than the screen and scrolls inside its own box.
        wrap = tab.evaluate("() => { const w = document.getElementById('diff-table').parentElement;"
                            " return [w.scrollWidth > w.clientWidth, getComputedStyle(w).overflowX]; }")  # fmt: skip
        assert wrap == [True, "auto"]
        plot_top, legend_rows = tab.evaluate(
            "() => { const p = document.getElementById('compare-plot'); const box = p.querySelector('.legend').getBBox();"
            " return [p.querySelector('.cartesianlayer').getBoundingClientRect().height, box.height]; }"
        )
        assert plot_top > 200 and legend_rows < plot_top  # the legend wraps above a plot still worth reading
        screenshot(tab, f"screen_1440_{scheme}_compare_20")


def test_the_dark_theme_follows_the_system_plots_included(
    browser: Browser, server: Server, finished_runs: list[dict[str, Any]]
) -> None:
    with _tab(browser, server, LAPTOP, "dark") as tab:
        _settle(tab, f"/runs/{finished_runs[0]['id']}")
        assert tab.evaluate("() => getComputedStyle(document.body).backgroundColor") == DARK_BG
        expect(tab.locator('[data-live="cancelling"]')).to_be_hidden()  # [hidden] wins over .status's display
        assert tab.evaluate("() => document.querySelector('#plot-acc .main-svg').style.background") == DARK_BG
        text = tab.evaluate("() => document.querySelector('#plot-acc .xtitle').style.fill")
        assert text == "rgb(230, 237, 243)"  # the theme's --fg: axis titles readable on the dark plot
