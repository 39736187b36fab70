"""Organising runs: rename, notes, tags, search, and actions on a selection of runs.

Every function takes the caller; another user's run is a RunNotFound (404), exactly like
a missing one, so a selection cannot probe which ids exist.
"""

from __future__ import annotations

from typing import Any

from app.models import Run, RunTag
from app.schemas.accounts import Principal
from app.schemas.runs import MAX_TAGS, RunBulkResult, RunRead, RunUpdate, check_tag
from app.services import runs
from app.services.errors import InvalidInput, RunStateConflict
from app.services.unit_of_work import UnitOfWork

BULK_ACTIONS: tuple[str, ...] = ("tag", "untag", "cancel", "delete")


def update_run(*, uow: UnitOfWork, principal: Principal, run_id: int, request: RunUpdate) -> RunRead:
    """Rename a run, set its notes, replace / add / remove its tags; fields left out stay.

    Raises:
        RunNotFound: no such run, or not one `principal` may see.
        InvalidInput: the run would carry more than `MAX_TAGS` tags (names `tags`).
    """
    with uow.writing() as db:
        run = runs._get(db, run_id, principal=principal, lock=True)  # the owner check lives there
        if request.name is not None:
            run.name = request.name
        if request.notes is not None:
            run.notes = request.notes.strip() or None
        tags = set(run.tags if request.tags is None else request.tags)
        _set_tags(run, (tags | set(request.add_tags)) - set(request.remove_tags))
        db.flush()
        return RunRead.model_validate(run)


def _set_tags(run: Run, tags: set[str]) -> None:
    if len(tags) > MAX_TAGS:
        raise InvalidInput.at(("body", "tags"), f"a run carries at most {MAX_TAGS} tags; this would make {len(tags)}")
    run.tag_rows = [row for row in run.tag_rows if row.tag in tags]
    run.tag_rows.extend(RunTag(tag=tag) for tag in sorted(tags - set(run.tags)))


def parse_tags(text: str, *, field: str = "tags") -> list[str]:
    """Tags typed in one box, separated by commas or spaces; InvalidInput naming `field` otherwise."""
    words = [w for w in text.replace(",", " ").split() if w]
    try:
        return list(dict.fromkeys(check_tag(w) for w in words))
    except ValueError as exc:
        raise InvalidInput.at(("body", field), str(exc)) from exc


def bulk_action(
    *, uow: UnitOfWork, principal: Principal, run_ids: list[int], action: str, tags: list[str] | None = None
) -> RunBulkResult:
    """Tag, untag, cancel or delete several runs; runs whose state forbids it are skipped, with why.

    Every id is checked first, so a selection naming a run the caller may not see changes
    nothing (RunNotFound). Tagging is one transaction; cancel and delete reuse the
    single-run services (one short transaction each, files removed after each commit).
    """
    if action not in BULK_ACTIONS:
        raise InvalidInput.at(("body", "action"), f"unknown action {action!r}; allowed: {', '.join(BULK_ACTIONS)}")
    if not run_ids:
        raise InvalidInput.at(("body", "ids"), "select at least one run")
    ids = list(dict.fromkeys(run_ids))
    with uow.reading() as db:
        for run_id in ids:
            runs._get(db, run_id, principal=principal)
    if action in ("tag", "untag"):
        return _bulk_tags(uow, principal, ids, action, tags or [])
    done, skipped = [], {}
    single: dict[str, Any] = {"cancel": runs.cancel_run, "delete": runs.delete_run}
    for run_id in ids:
        try:
            single[action](uow=uow, principal=principal, run_id=run_id)
            done.append(run_id)
        except RunStateConflict as exc:
            skipped[run_id] = str(exc)
    return RunBulkResult(action=action, done=done, skipped=skipped)


def _bulk_tags(uow: UnitOfWork, principal: Principal, ids: list[int], action: str, tags: list[str]) -> RunBulkResult:
    if not tags:
        raise InvalidInput.at(("body", "tags"), "give at least one tag")
    with uow.writing() as db:
        for run_id in ids:
            run = runs._get(db, run_id, principal=principal, lock=True)
            _set_tags(run, set(run.tags) | set(tags) if action == "tag" else set(run.tags) - set(tags))
    return RunBulkResult(action=action, done=ids, skipped={})
