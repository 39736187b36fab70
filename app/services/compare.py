"""Several runs side by side: configs, summaries, curves and a field-by-field config diff."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.models import Run
from app.schemas.accounts import Principal
from app.schemas.runs import MAX_ID, CompareRead, ConfigDifference, RunRead
from app.services.errors import InvalidInput, RunNotFound
from app.services.metrics import curves
from app.services.unit_of_work import UnitOfWork
from app.settings import Settings


def parse_ids(text: str, *, settings: Settings) -> list[int]:
    """`"1,2,3"` → [1, 2, 3] (order kept, duplicates dropped), or 422 naming `ids`."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts or not all(part.isascii() and part.isdigit() for part in parts):  # "²" is a digit to isdigit
        raise InvalidInput.at(("query", "ids"), "expected comma-separated run ids, e.g. ids=1,2,3")
    ids = list(dict.fromkeys(int(part) for part in parts))
    if len(ids) > settings.max_compare:
        raise InvalidInput.at(("query", "ids"), f"at most {settings.max_compare} runs at once")
    return ids


def compare_runs(*, uow: UnitOfWork, principal: Principal, run_ids: list[int]) -> CompareRead:
    """Configs, summaries and curves of `run_ids` in one response.

    Raises:
        RunNotFound: for the first id that does not exist or is not one `principal` may see.
    """
    storable = [run_id for run_id in run_ids if 0 < run_id <= MAX_ID]  # larger ids name no run
    query = select(Run).options(selectinload(Run.owner)).where(Run.id.in_(storable))
    if not principal.is_admin:
        query = query.where(Run.owner_id == principal.user_id)
    with uow.reading() as db:
        rows = {run.id: run for run in db.scalars(query)}
        missing = [run_id for run_id in run_ids if run_id not in rows]
        if missing:
            raise RunNotFound(missing[0])
        runs = [RunRead.model_validate(rows[run_id]) for run_id in run_ids]
        run_curves = curves(db, run_ids=run_ids)
    return CompareRead(
        runs=runs,
        curves=run_curves,
        differences=config_differences({run.id: run.config for run in runs}),
    )


def config_differences(configs: Mapping[int, Mapping[str, Any]]) -> list[ConfigDifference]:
    """Every dotted config path whose value is not the same in all configs (absent = None)."""
    flat = {run_id: dict(_flatten(config)) for run_id, config in configs.items()}
    paths = sorted({path for values in flat.values() for path in values})
    differences = []
    for path in paths:
        values = {run_id: values.get(path) for run_id, values in flat.items()}
        if len({repr(value) for value in values.values()}) > 1:
            differences.append(ConfigDifference(path=path, values=values))
    return differences


def _flatten(node: Any, prefix: str = "") -> list[tuple[str, Any]]:
    # Mappings are walked so that `stages.conv1.lr` differs on its own; lists are leaves.
    if isinstance(node, Mapping) and node:
        items: list[tuple[str, Any]] = []
        for key, value in node.items():
            items.extend(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return items
    return [(prefix, node)]
