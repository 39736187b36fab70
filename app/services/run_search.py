"""The Runs list's text filters as SQL: a tag, and words in a run's name or notes."""

from __future__ import annotations

from sqlalchemy import ColumnElement, func, or_, select

from app.models import Run, RunTag
from app.schemas.runs import RunFilter


def search_conditions(query: RunFilter) -> list[ColumnElement[bool]]:
    """The list's `tag` and `q` filters as SQL: a tag exactly; `q` in the name or notes, any case."""
    conditions: list[ColumnElement[bool]] = []
    if query.tag:
        conditions.append(Run.id.in_(select(RunTag.run_id).where(RunTag.tag == query.tag.strip())))
    text = (query.q or "").strip().lower()
    if text:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions.append(or_(
            func.lower(Run.name).like(pattern, escape="\\"), func.lower(Run.notes).like(pattern, escape="\\")
        ))  # fmt: skip
    return conditions
