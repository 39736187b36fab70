"""Compare: the reference table, highlighted config differences, the metric selector, exports."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from live_server import Server
from playwright.sync_api import Page, expect


def _pct(value: float) -> str:
    return f"{100 * value:.2f}%"


def _open(page: Page, runs: list[dict[str, Any]]) -> None:
    page.goto(f"/compare?ids={','.join(str(r['id']) for r in runs)}")


def test_the_summary_table_reads_like_the_reference_table(
    page: Page, finished_runs: list[dict[str, Any]], screenshot: Callable
) -> None:
    _open(page, finished_runs)
    rows = page.locator("#summary-table tbody tr")
    expect(rows).to_have_count(2)
    model_d, same = finished_runs
    cells = [rows.nth(i).locator("th, td").all_inner_texts() for i in range(2)]
    assert cells[0][:4] == [
        f"#{model_d['id']} tiny D", "conv1–3 1e-4, conv4–5 1e-3, classifier 1e-1",
        _pct(model_d["summary"]["final_train_acc"]), _pct(model_d["summary"]["final_test_acc"]),
    ]  # fmt: skip
    assert cells[1][:2] == [f"#{same['id']} tiny same", "all 1e-2"]
    screenshot(page, "compare")


def test_config_differences_are_highlighted(page: Page, finished_runs: list[dict[str, Any]]) -> None:
    _open(page, finished_runs)
    highlighted = page.locator("#diff-table td.diff")
    expect(page.locator("#diff-table")).to_contain_text("LR of conv4")
    expect(highlighted.first).to_be_visible()
    # Only the second run's cells differ from the first run's values.
    assert page.locator("#diff-table tbody tr td:nth-child(2).diff").count() == 0


def test_the_metric_selector_switches_the_overlaid_curves(page: Page, finished_runs: list[dict[str, Any]]) -> None:
    _open(page, finished_runs)
    page.wait_for_function("() => document.getElementById('compare-plot').data?.length === 2")
    page.get_by_label("Metric").select_option("train_loss")
    page.wait_for_function(
        "() => document.getElementById('compare-plot').layout.yaxis.title.text === 'Train loss'"
    )
    expect(page).to_have_url(re.compile(r"metric=train_loss"))


def test_summary_csv_holds_one_row_per_run(page: Page, server: Server, finished_runs: list[dict[str, Any]]) -> None:
    _open(page, finished_runs)
    with page.expect_download() as download:
        page.get_by_role("link", name="Summary CSV").click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8"))))
    assert [(int(r["run_id"]), r["description"]) for r in rows] == [
        (finished_runs[0]["id"], "conv1–3 1e-4, conv4–5 1e-3, classifier 1e-1"),
        (finished_runs[1]["id"], "all 1e-2"),
    ]


def test_the_plot_exports_as_svg(page: Page, finished_runs: list[dict[str, Any]]) -> None:
    _open(page, finished_runs)
    page.wait_for_function("() => document.getElementById('compare-plot').data?.length === 2")
    with page.expect_download() as download:
        page.get_by_role("button", name="Plot as SVG").click()
    assert download.value.suggested_filename.endswith(".svg")
    assert Path(download.value.path()).read_text(encoding="utf-8").lstrip().startswith("<svg")


def test_selecting_two_runs_on_the_runs_page_opens_compare(page: Page, finished_runs: list[dict[str, Any]]) -> None:
    page.goto("/")
    for run in finished_runs:
        page.get_by_label(f"select run {run['id']}", exact=True).check()
    page.get_by_role("button", name="Compare selected").click()
    expect(page.locator("#summary-table tbody tr")).to_have_count(2)


def test_an_unknown_run_id_is_reported_beside_the_ids_field(page: Page) -> None:
    page.goto("/compare?ids=1,999999")
    expect(page.locator("#err-ids")).to_contain_text("999999")
