"""Under the Content-Security-Policy every page still works (its scripts run, plots draw, Swagger
UI loads) with no violation reported, and a page of another site cannot frame the dashboard."""

from __future__ import annotations

import contextlib
import http.server
import threading
from collections.abc import Iterator
from typing import Any

from live_server import Server
from playwright.sync_api import Browser, Page, expect
from tabs import open_tab

# Recorded before any page script runs (Playwright's init scripts are not subject to the page's CSP).
REPORT_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
"""

# Each page and what proves its script ran under the policy.
WORKING = {
    "/": "() => document.getElementById('selection-count').textContent.length > 0",  # runs_table.js ran
    "/runs/new": "() => document.getElementById('lr-preview').data?.length > 0",
    "/compare?ids={ids}": "() => document.getElementById('compare-plot').data?.length === 2",
    "/runs/{run}": "() => document.getElementById('plot-lr').data?.length > 0",
    "/docs": "() => document.querySelector('.swagger-ui .info .title') !== null",
    "/datasets/upload": "() => true",
    "/account": "() => true",
    "/nowhere": "() => true",
}


def _watch(tab: Page) -> list[str]:
    console: list[str] = []
    tab.on("console", lambda m: console.append(m.text) if "Content Security Policy" in m.text else None)
    tab.context.add_init_script(REPORT_VIOLATIONS)
    return console


def test_every_page_works_under_the_policy_without_violations(
    page: Page, finished_runs: list[dict[str, Any]]
) -> None:
    console = _watch(page)
    ids = ",".join(str(r["id"]) for r in finished_runs)
    for template, works in WORKING.items():
        path = template.format(ids=ids, run=finished_runs[0]["id"])
        page.goto(path)
        page.wait_for_function(works)
        page.wait_for_load_state("networkidle")
        assert (path, page.evaluate("() => window.cspViolations"), console) == (path, [], [])


def test_the_compare_plot_still_exports_under_the_policy(page: Page, finished_runs: list[dict[str, Any]]) -> None:
    console = _watch(page)
    page.goto(f"/compare?ids={','.join(str(r['id']) for r in finished_runs)}")
    page.wait_for_function("() => document.getElementById('compare-plot').data?.length === 2")
    with page.expect_download() as download:
        page.get_by_role("button", name="Plot as PNG").click()
    assert download.value.suggested_filename.endswith(".png")
    assert (page.evaluate("() => window.cspViolations"), console) == ([], [])


@contextlib.contextmanager
def other_site(body: str) -> Iterator[str]:
    """A page of another origin and site (localhost, another port) served from this machine: a
    public site's frame of a loopback address is blocked by Chromium itself (Local Network
    Access), which would prove nothing about the dashboard's headers."""
    page = body.encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: object) -> None:
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler) as httpd:
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://localhost:{httpd.server_address[1]}/"
        finally:
            httpd.shutdown()


def test_another_site_cannot_frame_the_dashboard(browser: Browser, server: Server) -> None:
    framing = (f'<h1>evil</h1><iframe id="victim" src="{server.base_url}/" width="800" height="600"'
               ' onload="document.body.dataset.framed = 1"></iframe>')  # fmt: skip
    with other_site(framing) as evil, open_tab(browser, server.base_url) as tab:
        with tab.expect_response(f"{server.base_url}/") as answer:
            tab.goto(evil)
        assert answer.value.status == 200  # the dashboard answered; the browser refused to show it
        tab.wait_for_function("() => document.body.dataset.framed === '1'")
        (victim,) = tab.main_frame.child_frames
        assert not victim.url.startswith(server.base_url), victim.url  # Chromium's error page instead
        expect(tab.frame_locator("#victim").locator(".site-header")).to_have_count(0)
