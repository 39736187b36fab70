"""Accounts in a real browser: the login wall, a run submitted with a session (CSRF token
sent by the page's script), an API token made on the account page, revoked, and log out."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator

import httpx
import pytest
from live_server import Server, start_server
from playwright.sync_api import Browser, Page, expect
from tabs import open_tab

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def accounts_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server that requires accounts, its admin made at start (no worker: nothing trains here)."""
    running = start_server(
        tmp_path_factory.mktemp("accounts"), worker=False, auth="accounts", admin_user="alice", admin_password=PASSWORD
    )
    try:
        yield running
    finally:
        running.stop()
        sys.stderr.write(f"\n----- serve.log (last 2000 chars) -----\n{running.log.read_text()[-2000:]}")


@pytest.fixture
def tab(browser: Browser, accounts_server: Server) -> Iterator[Page]:
    with open_tab(browser, accounts_server.base_url) as page:
        yield page


def log_in(page: Page, password: str = PASSWORD) -> None:
    page.get_by_label("User name").fill("alice")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_a_page_asks_for_login_and_returns_there_after_it(tab: Page, screenshot: Callable) -> None:
    tab.goto("/runs/new")
    expect(tab).to_have_url(re.compile(r"/login\?next="))
    screenshot(tab, "login")
    log_in(tab, password="wrong password!")
    expect(tab.get_by_role("alert")).to_contain_text("wrong user name or password")
    log_in(tab)
    expect(tab).to_have_url(re.compile(r"/runs/new$"))
    expect(tab.get_by_role("link", name="your account")).to_have_text("alice")


def test_a_run_submitted_from_the_form_with_a_session_is_queued_as_its_user(
    tab: Page, accounts_server: Server, tmp_path_factory: pytest.TempPathFactory
) -> None:
    tab.goto("/login")
    log_in(tab)
    tab.goto("/runs/new")
    tab.get_by_label("Epochs", exact=True).fill("1")
    tab.get_by_role("button", name="Start run").click()  # fetch() with the page's X-CSRF-Token
    expect(tab).to_have_url(re.compile(r"/runs/\d+$"))
    tab.goto("/")
    expect(tab.locator("#runs-table tbody tr").first).to_contain_text("alice")


def test_an_api_token_made_on_the_account_page_works_until_revoked(
    tab: Page, accounts_server: Server, screenshot: Callable
) -> None:
    tab.goto("/login")
    log_in(tab)
    tab.goto("/account")
    tab.get_by_label("New token for").fill("laptop")
    tab.get_by_role("button", name="Create token").click()
    token = tab.locator("#new-token").inner_text()
    screenshot(tab, "account_token")
    bearer = {"Authorization": f"Bearer {token}"}
    me = httpx.get(f"{accounts_server.base_url}/api/me", headers=bearer)
    assert (me.status_code, me.json()["name"], me.json()["via"]) == (200, "alice", "token")
    tab.goto("/account")
    tab.get_by_role("button", name="revoke token laptop").click()
    expect(tab.locator("tbody")).to_contain_text("revoked")
    assert httpx.get(f"{accounts_server.base_url}/api/me", headers=bearer).status_code == 401


def test_log_out_ends_the_session(tab: Page) -> None:
    tab.goto("/login")
    log_in(tab)
    tab.get_by_role("button", name="Log out").click()
    expect(tab).to_have_url(re.compile(r"/login$"))
    tab.goto("/")
    expect(tab).to_have_url(re.compile(r"/login\?next="))
