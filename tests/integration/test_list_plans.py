"""Every sort and filter of the Runs list reads a page in index order, on SQLite and PostgreSQL.

The statement `list_runs` really sends is captured from the engine and EXPLAINed: a sort
step in the plan (SQLite's `USE TEMP B-TREE FOR ORDER BY`, PostgreSQL's `Sort`) means the
database reads and sorts every matching row, which grows with the table. PostgreSQL is asked
with `enable_sort = off`, so its plan shows a sort only when no index can give the order
(on a near-empty table it would rightly sort anyway); docs/benchmarks.md has the timings.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, get_args

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Connection

from app.db import Database
from app.models.runs import list_index_specs
from app.queue import TaskQueue, make_celery
from app.schemas.accounts import Principal
from app.schemas.runs import RunFilter, SortKey
from app.services import accounts
from app.services import runs as runs_service
from app.services.unit_of_work import UnitOfWork
from app.settings import Settings
from tests.rows import unit_of_work

SORTS = get_args(SortKey)
FILTERS: list[dict[str, str]] = [{}, {"status": "succeeded"}, {"dataset": "cifar10"}, {"backbone": "resnet50"}, {"owner": "alice"}]


@pytest.fixture
def database(settings: Settings) -> Iterator[Database]:
    database = Database.connect(settings.database_url)
    yield database
    database.dispose()


def page_statement(database: Database, settings: Settings, principal: Principal, query: RunFilter) -> tuple[str, Any]:
    """The SQL and parameters of the page query `list_runs` sends for `query`."""
    sent: list[tuple[str, Any]] = []

    def capture(_conn: Connection, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if "ORDER BY" in statement and "FROM runs" in statement:
            sent.append((statement, parameters))

    with UnitOfWork.open(database, settings, TaskQueue(make_celery(settings), settings)) as uow:
        event.listen(database.engine, "before_cursor_execute", capture)
        try:
            runs_service.list_runs(uow=uow, principal=principal, query=query)
        finally:
            event.remove(database.engine, "before_cursor_execute", capture)
    assert len(sent) == 1, sent
    return sent[0]


def sort_steps(database: Database, statement: str, parameters: Any) -> list[str]:
    """The plan's sort steps for `statement` (empty: the rows come in index order)."""
    with database.engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
            return [row[-1] for row in rows if "TEMP B-TREE" in row[-1]]
        connection.exec_driver_sql("SET enable_sort = off")
        plan = connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters).scalar_one()
        return [node["Node Type"] for node in _nodes((plan if isinstance(plan, list) else json.loads(plan))[0]["Plan"])
                if "Sort" in node["Node Type"]]  # fmt: skip


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


@pytest.fixture
def admin_and_alice(settings: Settings) -> tuple[Principal, Principal]:
    with unit_of_work(settings) as uow:
        admin = accounts.local_principal(uow=uow)
        alice = accounts.create_user(uow=uow, name="alice", password=None)
        return admin, Principal(user_id=alice.id, name="alice", is_admin=False, via="token")


def plans_with_a_sort(database: Database, settings: Settings, principals: tuple[Principal, Principal]) -> dict[str, list[str]]:
    """{"filter sort": sort steps} for every filter × sort an admin can ask, and a user's own list."""
    admin, alice = principals
    cases = [(admin, filters, sort) for filters in FILTERS for sort in SORTS] + [(alice, {}, sort) for sort in SORTS]
    found = {}
    for principal, filters, sort in cases:
        statement, parameters = page_statement(database, settings, principal, RunFilter(**filters, sort=sort))
        steps = sort_steps(database, statement, parameters)
        if steps:
            found[f"{principal.name} {filters} {sort}"] = steps
    return found


def test_every_filter_and_sort_reads_an_index_in_order(
    database: Database, settings: Settings, admin_and_alice: tuple[Principal, Principal]
) -> None:
    assert plans_with_a_sort(database, settings, admin_and_alice) == {}


def test_without_the_list_indexes_the_nulls_last_sorts_sort_every_row(
    database: Database, settings: Settings, admin_and_alice: tuple[Principal, Principal]
) -> None:
    # The indexes of migration 0003 dropped (a downgrade to before it would also drop the columns
    # later migrations added, which the list's statement reads).
    with database.engine.begin() as connection:
        for name, *_ in list_index_specs():
            connection.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")
    sorted_ = plans_with_a_sort(database, settings, admin_and_alice)
    assert {"local {} -best_val_acc", "local {'status': 'succeeded'} name"} <= set(sorted_)


def test_owner_filter_keeps_its_meaning(uow: UnitOfWork, admin_and_alice: tuple[Principal, Principal]) -> None:
    admin, _ = admin_and_alice
    page = runs_service.list_runs(uow=uow, principal=admin, query=RunFilter(owner="nobody"))
    assert page.total == 0
