"""Errors for people: an HTML page in the dashboard's frame, with the status the API would answer.

The app's handlers (`app.main`) answer JSON to API clients and this page to a browser that
navigated (its `Accept` asks for HTML first): a person clicking a link to a deleted run, a
mistyped URL or "Download checkpoint" of a failed run gets a readable page with a way back,
not a JSON body. Page routes wrapped in `html_errors` always answer with the page.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from app.api.errors import status_of
from app.pages.templating import get_templates
from app.services.errors import InvalidInput, ServiceError

P = ParamSpec("P")
R = TypeVar("R", bound=Response)


def wants_html(request: Request) -> bool:
    """A browser's navigation (Accept starts with text/html), not a script's fetch or an API client."""
    return request.headers.get("accept", "").lstrip().lower().startswith("text/html")


def error_page(request: Request, exc: ServiceError, headers: dict[str, str] | None = None) -> HTMLResponse:
    """A page saying what went wrong, in the user's terms."""
    messages = [f"{'.'.join(map(str, e.loc[1:]))}: {e.msg}" for e in exc.errors] if isinstance(
        exc, InvalidInput) else [str(exc)]  # fmt: skip
    return status_page(request, status_of(exc), messages, headers)


def status_page(request: Request, status: int, messages: list[str], headers: dict[str, str] | None = None) -> HTMLResponse:
    """The dashboard's error page for `status`, with the messages and a way back."""
    referer = urlsplit(request.headers.get("referer", ""))
    same_site = bool(referer.netloc) and referer.netloc == request.headers.get("host", "")
    back = safe_next(referer.path + (f"?{referer.query}" if referer.query else ""), "") if same_site else ""
    page = {"status": status, "messages": messages, "back": back if referer.path != request.url.path else ""}
    return get_templates().TemplateResponse(
        request, "error.html", {"page": page, "nav": ""}, status_code=status, headers=headers
    )


def html_errors(route: Callable[P, R]) -> Callable[P, R | HTMLResponse]:
    """Let a page route raise service errors; they render as error pages.

    The route must take `request: Request` (FastAPI reads the wrapped signature).
    """

    @functools.wraps(route)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | HTMLResponse:
        try:
            return route(*args, **kwargs)
        except ServiceError as exc:
            request = kwargs["request"]
            assert isinstance(request, Request)
            return error_page(request, exc)

    return wrapper


def safe_next(target: str, default: str) -> str:
    """Where to go after a button: a path on this site only, never another host."""
    parts = urlsplit(target)
    # Browsers read "/\evil.example" as "//evil.example": no backslash at all.
    if not target.startswith("/") or target.startswith("//") or "\\" in target or parts.scheme or parts.netloc:
        return default
    return target
