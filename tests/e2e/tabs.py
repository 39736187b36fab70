"""A browser tab for a test: a fresh context on one server, failing the test on any uncaught JavaScript error."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from playwright.sync_api import Browser, Page


@contextlib.contextmanager
def open_tab(browser: Browser, base_url: str, **context_options: Any) -> Iterator[Page]:
    """A new context (own cookies) and page on `base_url`; asserts no page error happened when it closes."""
    context = browser.new_context(base_url=base_url, **context_options)
    context.set_default_timeout(20_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield tab
    finally:
        context.close()
    assert not errors, f"JavaScript errors: {errors}"
