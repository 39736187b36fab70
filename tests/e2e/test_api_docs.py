"""/docs: Swagger UI served from the installed package (the browser has no network), and
its "Try it out" sends the page's CSRF token, so state-changing calls work from it."""

from __future__ import annotations

from playwright.sync_api import Page, expect


def test_try_it_out_creates_a_token_from_the_docs_page(page: Page) -> None:
    page.goto("/docs")
    operation = page.locator("#operations-accounts-create_token_api_tokens_post")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    expect(operation.locator(".live-responses-table tbody .response-col_status").first).to_contain_text("201")
