"""Every sort and filter of the Runs list reads a page in index order, on SQLite and PostgreSQL.

The statements `list_runs` really sends are captured from the engine and EXPLAINed: a sort
step in the plan (SQLite's `USE TEMP B-TREE FOR ORDER BY`, PostgreSQL's `Sort`) means the
database reads and sorts every matching row, which grows with the table. PostgreSQL is asked
with `enable_sort = off`, so its plan shows a sort only when no index can give the order
(on a near-empty table it would rightly sort anyway). Two filters at once (or a user's own
list and one filter) must find both in the index's key, not check one row by row, for the
page and for the count; the count must stop at the cap. docs/benchmarks.md has the timings.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any, get_args

import pytest
from sqlalchemy import event, insert
from sqlalchemy.engine import Connection

from app.db import Database
from app.db.types import utcnow
from app.models import Run
from app.models.runs import list_index_specs, pair_index_specs
from app.queue import TaskQueue, make_celery
from app.schemas.accounts import Principal
from app.schemas.runs import TOTAL_CAP, RunFilter, SortKey
from app.services import accounts
from app.services import runs as runs_service
from app.services.unit_of_work import UnitOfWork
from app.settings import Settings
from tests.rows import unit_of_work

SORTS = get_args(SortKey)
ONE_FILTER: list[dict[str, str]] = [{"status": "succeeded"}, {"dataset": "cifar10"}, {"backbone": "resnet50"}, {"owner": "alice"}]
PAIRS = [{**a, **b} for i, a in enumerate(ONE_FILTER) for b in ONE_FILTER[i + 1 :]]
FILTERS: list[dict[str, str]] = [{}, *ONE_FILTER, *PAIRS]


@pytest.fixture
def database(settings: Settings) -> Iterator[Database]:
    database = Database.connect(settings.database_url)
    yield database
    database.dispose()


def sent_statements(database: Database, settings: Settings, principal: Principal, query: RunFilter) -> dict[str, Any]:
    """{"page": (sql, parameters), "count": (sql, parameters)}: the runs queries `list_runs` sends for `query`."""
    sent: dict[str, Any] = {}

    def capture(_conn: Connection, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if "FROM runs" in statement:
            kind = "count" if "count(" in statement.lower() else "page" if "ORDER BY" in statement else "other"
            assert kind not in sent, statement
            sent[kind] = (statement, parameters)

    with UnitOfWork.open(database, settings, TaskQueue(make_celery(settings), settings)) as uow:
        event.listen(database.engine, "before_cursor_execute", capture)
        try:
            runs_service.list_runs(uow=uow, principal=principal, query=query)
        finally:
            event.remove(database.engine, "before_cursor_execute", capture)
    assert {"page", "count"} <= set(sent), sent
    return sent


def page_statement(database: Database, settings: Settings, principal: Principal, query: RunFilter) -> tuple[str, Any]:
    """The SQL and parameters of the page query `list_runs` sends for `query`."""
    return sent_statements(database, settings, principal, query)["page"]


def sort_steps(database: Database, statement: str, parameters: Any) -> list[str]:
    """The plan's sort steps for `statement` (empty: the rows come in index order)."""
    with database.engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
            return [row[-1] for row in rows if "TEMP B-TREE" in row[-1]]
        connection.exec_driver_sql("SET enable_sort = off")
        return [node["Node Type"] for node in _pg_plan(connection, statement, parameters) if "Sort" in node["Node Type"]]


def runs_access(database: Database, statement: str, parameters: Any) -> str:
    """How the plan reaches `runs` rows: SQLite's `SEARCH runs USING … INDEX name (a=? AND b=?)`,
    PostgreSQL's `<index> cond: …; filter: …` (a filter is checked row by row)."""
    with database.engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
            return " | ".join(row[-1] for row in rows if row[-1].startswith(("SEARCH runs", "SCAN runs")))
        for setting in ("enable_sort", "enable_seqscan", "enable_bitmapscan"):
            connection.exec_driver_sql(f"SET {setting} = off")
        return " | ".join(
            f"{node.get('Index Name')} cond: {node.get('Index Cond', '')}; filter: {node.get('Filter', '')}"
            for node in _pg_plan(connection, statement, parameters) if node.get("Relation Name") == "runs"
        )  # fmt: skip


def _pg_plan(connection: Connection, statement: str, parameters: Any) -> list[dict[str, Any]]:
    plan = connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters).scalar_one()
    return list(_nodes((plan if isinstance(plan, list) else json.loads(plan))[0]["Plan"]))


def reads_every_filter_from_the_index(access: str, columns: set[str]) -> bool:
    """Whether the one access to `runs` finds all of `columns` in its index key (none checked row by row)."""
    if "|" in access:
        return False
    if " cond: " in access:  # PostgreSQL
        cond, checked = access.split(" cond: ")[1].split("; filter: ")
        return all(column in cond for column in columns) and not any(column in checked for column in columns)
    key = access.partition("(")[2]  # SQLite: "SEARCH runs USING INDEX name (status=? AND dataset=?)"
    return all(f"{column}=?" in key for column in columns)


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


COLUMNS = {"status": "status", "dataset": "dataset", "backbone": "backbone", "owner": "owner_id"}


@pytest.fixture
def varied_runs(database: Database, admin_and_alice: tuple[Principal, Principal]) -> None:
    """4,000 runs, with statistics, where each value the cases filter on (`succeeded`, `cifar10`,
    `resnet50`, alice) is in one run of ten, so a pair is in one of a hundred: reading any
    one-filter index or the primary key in order and checking the rest would cross most rows."""
    rng = random.Random(0)
    admin, alice = (principal.user_id for principal in admin_and_alice)

    def pick(rare: Any, common: tuple[Any, ...]) -> Any:
        return rare if rng.random() < 0.1 else rng.choice(common)

    rows = [
        {"status": pick("succeeded", ("failed", "queued")), "dataset": pick("cifar10", ("digits", "fake")),
         "backbone": pick("resnet50", ("resnet18", "vit_b_16")), "owner_id": pick(alice, (admin,)),
         "queue": "default", "config": {}, "epochs": 1, "attempt": 0, "cancel_requested": False, "epochs_done": 0,
         "created_at": utcnow(), "name": f"run {i}", "best_val_acc": rng.random() if i % 3 else None}
        for i in range(4000)
    ]  # fmt: skip
    with database.engine.begin() as connection:
        connection.execute(insert(Run.__table__), rows)
        connection.exec_driver_sql("ANALYZE")


def filter_access(
    database: Database, settings: Settings, principals: tuple[Principal, Principal]
) -> dict[str, dict[str, str]]:
    """{case: {"page"/"count": access}} where two filters (or a user's own list and one filter) are
    not both found in the index key of the page's or the count's plan."""
    admin, alice = principals
    cases = [(admin, filters, sort) for filters in PAIRS for sort in SORTS]
    cases += [(alice, filters, sort) for filters in ONE_FILTER if "owner" not in filters for sort in SORTS]
    found: dict[str, dict[str, str]] = {}
    for principal, filters, sort in cases:
        columns = {COLUMNS[name] for name in filters} | ({"owner_id"} if principal is alice else set())
        sent = sent_statements(database, settings, principal, RunFilter(**filters, sort=sort))
        for kind, (statement, parameters) in sent.items():
            access = runs_access(database, statement, parameters)
            if not reads_every_filter_from_the_index(access, columns):
                found.setdefault(f"{principal.name} {filters} {sort}", {})[kind] = access
    return found


def test_two_filters_at_once_are_both_read_from_an_index(
    database: Database, settings: Settings, admin_and_alice: tuple[Principal, Principal], varied_runs: None
) -> None:
    assert filter_access(database, settings, admin_and_alice) == {}


def test_without_the_pair_indexes_a_second_filter_is_checked_row_by_row(
    database: Database, settings: Settings, admin_and_alice: tuple[Principal, Principal], varied_runs: None
) -> None:
    with database.engine.begin() as connection:
        for name, *_ in pair_index_specs():
            connection.exec_driver_sql(f"DROP INDEX {name}")
        connection.exec_driver_sql("ANALYZE")
    found = filter_access(database, settings, admin_and_alice)
    assert {"local {'status': 'succeeded', 'dataset': 'cifar10'} -best_val_acc", "alice {'dataset': 'cifar10'} name"} <= set(found)


def test_the_count_stops_at_the_cap(database: Database, settings: Settings, admin_and_alice: tuple[Principal, Principal]) -> None:
    statement, parameters = sent_statements(database, settings, admin_and_alice[0], RunFilter(status="failed"))["count"]
    assert "LIMIT" in statement.upper()
    assert TOTAL_CAP + 1 in (parameters.values() if isinstance(parameters, dict) else parameters)


def test_owner_filter_keeps_its_meaning(uow: UnitOfWork, admin_and_alice: tuple[Principal, Principal]) -> None:
    admin, _ = admin_and_alice
    page = runs_service.list_runs(uow=uow, principal=admin, query=RunFilter(owner="nobody"))
    assert page.total == 0
