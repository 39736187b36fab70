"""The dashboard's Jinja2 environment: where templates live and the filters they use.

Built on first use, not at import, so importing the pages package does no file work.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from app.pages.descriptions import format_lr
from app.pages.notes import render_notes

# Templates sit at the repository root (an editable install); see docs/dashboard.md.
TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"


def percent(value: float | None, digits: int = 2) -> str:
    """0.8965 → "89.65%"; missing → an en dash."""
    return "–" if value is None else f"{100 * value:.{digits}f}%"


def duration(seconds: float | None) -> str:
    """Seconds as "45 s", "12 min 05 s" or "3 h 07 min"; missing → an en dash."""
    if seconds is None:
        return "–"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def timestamp(value: datetime | None) -> str:
    """A UTC timestamp to the minute, sortable and unambiguous on a shared server."""
    if value is None:
        return "–"
    return (value.astimezone(UTC) if value.tzinfo else value).strftime("%Y-%m-%d %H:%M")


def to_script_json(value: Any) -> Markup:
    """JSON safe to place inside <script type="application/json"> (no "</" breaks out)."""
    text = json.dumps(value, separators=(",", ":"), default=str)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def auth_context(request: Request) -> dict[str, Any]:
    """Every page's view of the caller: `principal` (or None) and the `csrf_token` forms echo back."""
    principal = getattr(request.state, "principal", None)
    return {"principal": principal, "csrf_token": (principal.csrf_token if principal else None) or ""}


@lru_cache
def get_templates() -> Jinja2Templates:
    """The one template renderer, with the dashboard's filters and the caller in every page."""
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR), context_processors=[auth_context])
    templates.env.filters.update(
        percent=percent, duration=duration, timestamp=timestamp, lr=format_lr, script_json=to_script_json
    )
    templates.env.filters["notes_html"] = render_notes  # a run's markdown notes, sanitised
    return templates
