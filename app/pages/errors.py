"""Service errors on pages: an HTML page with the same status the API would answer.

The API's handler answers JSON; a person clicking a link to a deleted run
should get a readable page instead, with the same status code.
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


def error_page(request: Request, exc: ServiceError) -> HTMLResponse:
    """A page saying what went wrong, in the user's terms."""
    messages = [f"{'.'.join(map(str, e.loc[1:]))}: {e.msg}" for e in exc.errors] if isinstance(
        exc, InvalidInput) else [str(exc)]  # fmt: skip
    status = status_of(exc)
    return get_templates().TemplateResponse(
        request, "error.html", {"page": {"status": status, "messages": messages}, "nav": ""}, status_code=status
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
