"""Runs page actions: cancel and delete from the table."""

from __future__ import annotations

from typing import Any

from live_server import Server
from playwright.sync_api import Page, expect


def test_cancel_then_delete_a_run_from_the_table(page: Page, server: Server) -> None:
    run_id = server.submit("to cancel", epochs=500)  # would train for a long time
    page.goto("/")
    row = page.locator(f'tr[data-run-id="{run_id}"]')
    row.get_by_role("button", name=f"cancel run {run_id}").click()
    server.wait_finished(run_id)  # a running run stops at its next step
    page.reload()
    expect(row.locator(".status")).to_have_text("cancelled")
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name=f"delete run {run_id}").click()
    expect(row).to_have_count(0)
    assert server.api.get(f"/api/runs/{run_id}").status_code == 404


def test_filtering_by_status_shows_only_that_status(
    page: Page, server: Server, finished_runs: list[dict[str, Any]]
) -> None:
    server.submit("queued or running", epochs=1)
    page.goto("/?status=succeeded")
    statuses = page.locator("#runs-table tbody .status").all_inner_texts()
    assert statuses and set(statuses) == {"succeeded"}
