"""A browser gets pages, an API client JSON; every response carries the security headers;
the no-JavaScript form shows an invalid stage LR beside its row; a cancel shows at once."""

from __future__ import annotations

import re

import pytest
from conftest import make_run
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.api.security_headers import HEADERS
from app.models import RunStatus

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}  # Chromium's navigation


def error_paragraph(html: str, path: str) -> str:
    """The text of the `<p data-error-for=path>` beside a field."""
    match = re.search(rf'<p [^>]*data-error-for="{re.escape(path)}"[^>]*>([^<]*)</p>', html)
    assert match, f"no error paragraph for {path}"
    return match.group(1)


@pytest.mark.parametrize(
    ("url", "status", "words"),
    [
        ("/no/such/page", 404, "There is no page at /no/such/page"),
        ("/runs/abc", 422, "/runs/abc cannot be shown"),
        ("/api/runs/999", 404, "run 999"),
        ("/api/runs/999/checkpoint", 404, "999"),
    ],
)
def test_a_browser_gets_an_error_page_in_the_dashboard_with_a_way_back(
    client: TestClient, url: str, status: int, words: str
) -> None:
    response = client.get(url, headers={**BROWSER, "Referer": "http://127.0.0.1/?status=running"})
    assert (response.status_code, response.headers["content-type"].split(";")[0]) == (status, "text/html")
    assert words in response.text and '<header class="site-header">' in response.text
    assert '<a href="/?status=running">Back to the previous page</a>' in response.text
    assert '<a href="/">Back to the runs</a>' in response.text


@pytest.mark.parametrize("url", ["/no/such/page", "/runs/abc", "/api/runs/999"])
def test_an_api_client_still_gets_json(client: TestClient, url: str) -> None:
    response = client.get(url, headers={"Accept": "application/json"})
    assert response.headers["content-type"] == "application/json"
    assert "detail" in response.json()


def test_a_conflict_is_a_page_for_a_browser(client: TestClient, db: Session) -> None:
    run = make_run(db, status=RunStatus.running)
    response = client.delete(f"/api/runs/{run.id}", headers=BROWSER)
    assert (response.status_code, "Not possible right now" in response.text) == (409, True)


def test_a_referer_from_another_site_is_no_way_back(client: TestClient) -> None:
    response = client.get("/nope", headers={**BROWSER, "Referer": "http://evil.example/x"})
    assert "Back to the previous page" not in response.text


@pytest.mark.parametrize(
    ("method", "url"),
    [("GET", "/"), ("GET", "/runs/new"), ("GET", "/static/css/dashboard.css"), ("GET", "/api/runs"),
     ("GET", "/healthz"), ("GET", "/docs"), ("GET", "/nowhere"), ("POST", "/api/runs")],
)  # fmt: skip
def test_every_response_carries_the_security_headers(client: TestClient, method: str, url: str) -> None:
    response = client.request(method, url, content=b"{" if method == "POST" else None)
    assert {name: response.headers.get(name) for name in HEADERS} == HEADERS
    assert "frame-ancestors 'none'" in HEADERS["Content-Security-Policy"]
    assert "script-src 'self';" in HEADERS["Content-Security-Policy"]  # no 'unsafe-inline' script


def test_a_refused_request_carries_them_too(client: TestClient) -> None:
    response = client.post("/api/runs", content=b"x" * 10_000_000, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.headers["X-Frame-Options"] == "DENY"


def test_no_page_has_inline_script(client: TestClient) -> None:
    for url in ("/", "/runs/new", "/compare", "/datasets/upload", "/docs", "/nowhere"):
        html = client.get(url, headers=BROWSER).text
        scripts = re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", html)
        handlers = re.findall(r"<[^>]+\son[a-z]+=", html)
        assert (url, scripts, handlers) == (url, [], [])


def test_without_javascript_an_invalid_stage_lr_shows_beside_its_row(client: TestClient) -> None:
    form = {"epochs": "2", "dataset.name": "fake", "weights": "none", "stages.conv3.value": "-1"}
    response = client.post("/runs/new", data=form, follow_redirects=False)
    assert response.status_code == 422
    assert error_paragraph(response.text, "stages.conv3") != ""
    assert error_paragraph(response.text, "stages.conv2") == ""


def test_a_cancelled_running_run_says_cancelling_at_once(client: TestClient, db: Session) -> None:
    run = make_run(db, status=RunStatus.running)
    response = client.post(f"/runs/{run.id}/cancel", data={"next": "/"}, follow_redirects=True)
    row = re.search(rf'<tr data-run-id="{run.id}".*?</tr>', response.text, re.DOTALL)
    assert row and "cancelling…" in row.group(0)
    page = client.get(f"/runs/{run.id}").text
    assert re.search(r'data-live="cancelling"\s*>cancelling…', page), "the Run page shows it without hiding it"
