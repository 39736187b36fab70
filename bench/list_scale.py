"""Runs list latency from 10k to 1M runs: p50/p95 of every sort × filter the list offers.

Grows one throw-away database in steps (10,000 → 100,000 → 1,000,000 runs by default; runs
without epoch rows) and after each step times `services.runs.list_runs` in-process — the
page and its capped count, the part of a list request that depends on the table's size
(HTTP adds a constant ~5-10 ms, see bench/api_load.py). Cases: no filter, each filter, each
pair of filters, a user's own list alone and with a filter; each with all ten sorts.

Seeding is fast so that 1M runs is minutes, not hours: the list's 87 indexes are dropped,
the rows go in as one bulk load (SQLite: executemany in one transaction; PostgreSQL: COPY),
and the indexes are built again before measuring. The SQLite file lives in a temp folder,
the PostgreSQL database is created and dropped by the script; both are deleted at the end
(1M runs take ~5 GB on disk: check `df -h`).

    .venv/bin/python bench/list_scale.py --sizes 2000,20000 --repeat 5       # a quick look (~1 min)
    .venv/bin/python bench/list_scale.py                                       # SQLite, 10k/100k/1M
    .venv/bin/python bench/list_scale.py --postgres postgresql+psycopg://postgres@127.0.0.1/postgres
    .venv/bin/python bench/list_scale.py --table bench/out/list_scale.json      # the report as markdown
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, get_args

from sqlalchemy import create_engine, func, insert, make_url, select, text
from sqlalchemy.engine import Connection

from app.db import Database
from app.db.migrations import upgrade
from app.models import Run, User
from app.queue import TaskQueue, make_celery
from app.schemas.accounts import Principal
from app.schemas.runs import TOTAL_CAP, RunFilter, SortKey
from app.schemas.train_config import TrainConfig
from app.services import runs as runs_service
from app.services.unit_of_work import UnitOfWork
from app.settings import Settings

BACKBONES = ["resnet18", "resnet50", "mobilenet_v3_large", "efficientnet_b0"]
DATASETS = ["cifar10", "hymenoptera", "caltech101", "digits"]
STATUSES = ["succeeded"] * 7 + ["failed", "cancelled", "queued"]  # queued: no best val acc, no finish time
USERS = ["alice", "bob", "carol", "dave", "erin"]
ONE = {"status": "failed", "dataset": "digits", "backbone": "resnet50", "owner": "bob"}
CASES: dict[str, tuple[str, dict[str, str]]] = {
    "none": ("admin", {}),
    **{f"{k}={v}": ("admin", {k: v}) for k, v in ONE.items()},
    **{f"{a}+{b}": ("admin", {a: ONE[a], b: ONE[b]}) for i, a in enumerate(ONE) for b in list(ONE)[i + 1 :]},
    "alice's own": ("alice", {}),
    "alice's own, status=failed": ("alice", {"status": "failed"}),
}
LIST_INDEX_PREFIXES = ("ix_runs_list_", "ix_runs_pair_")
COLUMNS = ("id", "name", "status", "queue", "config", "dataset", "backbone", "epochs", "created_at", "attempt",
           "cancel_requested", "started_at", "finished_at", "epochs_done", "best_val_acc", "owner_id")  # fmt: skip


# --- seeding ---------------------------------------------------------------------------


def grow(database: Database, start: int, stop: int, rng: random.Random, users: list[int]) -> dict[str, float]:
    """Insert runs with ids start..stop-1 with the list's indexes dropped, then build them again."""
    configs = [(json.dumps(c), c["dataset"]["name"], c["backbone"], c["epochs"]) for c in _configs()]
    rows = (_run_row(i, rng, configs, users) for i in range(start, stop))
    timings = {}
    with database.engine.begin() as connection:
        started = time.perf_counter()
        indexes = [index for index in Run.__table__.indexes if index.name.startswith(LIST_INDEX_PREFIXES)]
        for index in indexes:
            connection.exec_driver_sql(f"DROP INDEX IF EXISTS {index.name}")
        _bulk_load(connection, rows)
        timings["insert_s"] = time.perf_counter() - started
        started = time.perf_counter()
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("SET maintenance_work_mem = '256MB'")
        else:  # CREATE INDEX sorts in SQLite's page cache: 2 MB by default makes it an external sort
            connection.exec_driver_sql("PRAGMA cache_size = -1048576")
        for index in indexes:
            index.create(connection)
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("PRAGMA cache_size = -2000")  # back to the server's default for measuring
        timings["indexes_s"] = time.perf_counter() - started
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT setval(pg_get_serial_sequence('runs', 'id'), (SELECT max(id) FROM runs))"))
        connection.exec_driver_sql("ANALYZE")
    if database.engine.dialect.name == "sqlite":  # measure reads as a running server sees them, not a big WAL
        with database.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return {k: round(v, 1) for k, v in timings.items()}


def _bulk_load(connection: Connection, rows: Iterator[tuple[Any, ...]]) -> None:
    if connection.dialect.name == "postgresql":
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(f"COPY runs ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    # SQLite stores UtcDateTime as naive UTC text; the DB-API's executemany skips per-row SQL building.
    sql = f"INSERT INTO runs ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    while chunk := [_sqlite_row(row) for _, row in zip(range(50_000), rows, strict=False)]:
        cursor.executemany(sql, chunk)


def _sqlite_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(v.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(v, datetime) else v for v in row)


def _run_row(run_id: int, rng: random.Random, configs: list[tuple[str, str, str, int]], users: list[int]) -> tuple:
    (config, dataset, backbone, epochs), status = rng.choice(configs), rng.choice(STATUSES)
    created, finished = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=30 * run_id), status != "queued"
    name = None if rng.random() < 0.2 else f"run {rng.randrange(10**6)}"
    return (
        run_id, name, status, "default", config, dataset, backbone, epochs, created, int(finished), False,
        created if finished else None, created + timedelta(minutes=30) if finished else None,
        epochs if finished else 0, rng.random() if finished else None, rng.choice(users),
    )  # fmt: skip


def _configs() -> list[dict[str, Any]]:
    return [
        TrainConfig.model_validate({"backbone": b, "dataset": {"name": d}, "epochs": 10}).model_dump(mode="json")
        for b in BACKBONES for d in DATASETS
    ]  # fmt: skip


# --- measuring -------------------------------------------------------------------------


def percentiles_ms(call: Any, repeat: int) -> tuple[float, float]:
    """(p50, p95) of `repeat` timed calls, after one untimed call that warms the cache."""
    call()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return round(statistics.median(times), 2), round(times[min(len(times) - 1, round(0.95 * (len(times) - 1)))], 2)


def measure(database: Database, settings: Settings, principals: dict[str, Principal], repeat: int) -> dict[str, Any]:
    """{case: {sort: [p50, p95] ms of `list_runs`}} for every case × sort."""
    results: dict[str, Any] = {}
    with UnitOfWork.open(database, settings, TaskQueue(make_celery(settings), settings)) as uow:
        for label, (who, filters) in CASES.items():
            row = {}
            for sort in get_args(SortKey):
                query = RunFilter(**filters, sort=sort)
                call = lambda q=query, p=principals[who]: runs_service.list_runs(uow=uow, principal=p, query=q)
                row[sort] = percentiles_ms(call, repeat)
            # The baseline: the uncapped count the list used to send with every page; and the capped one alone.
            full = percentiles_ms(lambda f=filters, p=principals[who]: _full_count(uow, p, f), repeat)
            capped = percentiles_ms(lambda f=filters, p=principals[who]: _full_count(uow, p, f, cap=True), repeat)
            worst = (max(v[0] for v in row.values()), max(v[1] for v in row.values()))
            results[label] = {"sorts": row, "worst": worst, "full count (before)": full, "capped count": capped}
            print(f"  {label:28} worst sort p50 {worst[0]:7.2f} p95 {worst[1]:7.2f} ms | count p50 full {full[0]:7.2f} capped {capped[0]:7.2f} ms",
                  flush=True)  # fmt: skip
    return results


def _full_count(uow: UnitOfWork, principal: Principal, filters: dict[str, str], *, cap: bool = False) -> int:
    conditions = [getattr(Run, k) == v for k, v in filters.items() if k != "owner"]
    if "owner" in filters:
        conditions.append(Run.owner_id == select(User.id).where(User.name == filters["owner"]).scalar_subquery())
    if not principal.is_admin:
        conditions.append(Run.owner_id == principal.user_id)
    matches = select(Run.id).where(*conditions).limit(TOTAL_CAP + 1) if cap else select(Run.id).where(*conditions)
    with uow.reading() as db:
        return db.scalar(select(func.count()).select_from(matches.subquery())) or 0


# --- the throw-away database -----------------------------------------------------------


@contextmanager
def throwaway_database(postgres_url: str) -> Iterator[str]:
    """A new empty SQLite file in a temp folder, or a new PostgreSQL database next to `postgres_url`'s;
    deleted afterwards whatever happens."""
    if not postgres_url:
        folder = Path(tempfile.mkdtemp(prefix="stagewise-list-"))
        try:
            yield f"sqlite:///{folder / 'stagewise.db'}"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    name = f"stagewise_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


def database_bytes(database: Database) -> int:
    with database.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            return int(connection.exec_driver_sql("SELECT pg_database_size(current_database())").scalar_one())
        pages = connection.exec_driver_sql("PRAGMA page_count").scalar_one()
        return int(pages * connection.exec_driver_sql("PRAGMA page_size").scalar_one())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--postgres", default="", help="a PostgreSQL URL whose server gets a throw-away database")
    parser.add_argument("--out", type=Path, default=Path("bench/out/list_scale.json"))
    parser.add_argument("--table", type=Path, help="print a report written before as a markdown table, and stop")
    args = parser.parse_args()
    if args.table:
        print(markdown(json.loads(args.table.read_text())))
        return

    with throwaway_database(args.postgres) as url:
        settings = Settings(data_dir=Path(tempfile.mkdtemp(prefix="stagewise-list-data-")), database_url=url)
        report = run(settings, [int(s) for s in args.sizes.split(",")], args.repeat)
        shutil.rmtree(settings.data_dir, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


def markdown(report: dict[str, Any]) -> str:
    """Per case and size, the slowest sort's p50 / p95 of a list call, and the p50 of the old
    full count (the baseline) / of the capped count alone, in ms."""
    sizes = list(report["sizes"])
    head = " | ".join(f"{int(n):,}: list p50 / p95 | count full / capped" for n in sizes)
    lines = [f"| case | {head} |", "| --- |" + " ---: | ---: |" * len(sizes)]
    for case in report["sizes"][sizes[0]]["results"]:
        cells = []
        for n in sizes:
            result = report["sizes"][n]["results"][case]
            capped = f"{result['capped count'][0]:.1f}" if "capped count" in result else "–"
            cells.append(f"{result['worst'][0]:.1f} / {result['worst'][1]:.1f} | "
                         f"{result['full count (before)'][0]:.1f} / {capped}")  # fmt: skip
        lines.append(f"| {case} | {' | '.join(cells)} |")
    return "\n".join(lines)


def run(settings: Settings, sizes: list[int], repeat: int) -> dict[str, Any]:
    upgrade(settings.database_url)
    database = Database.connect(settings.database_url)
    with database.engine.begin() as connection:
        connection.execute(insert(User.__table__), [
            {"name": n, "is_admin": False, "disabled": False, "created_at": datetime.now(UTC)} for n in USERS])  # fmt: skip
        users = dict(connection.execute(select(User.name, User.id)).all())
    principals = {
        "admin": Principal(user_id=0, name="bench", is_admin=True, via="local"),
        "alice": Principal(user_id=users["alice"], name="alice", is_admin=False, via="token"),
    }
    rng, have = random.Random(0), 0
    report: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="minutes"), "machine": f"{platform.node()} {os.cpu_count()} cores",
        "database": database.engine.dialect.name, "repeat": repeat, "sizes": {},
    }  # fmt: skip
    for size in sizes:
        seeding = grow(database, have + 1, size + 1, rng, list(users.values()))
        have, load_before = size, os.getloadavg()
        print(f"{size:,} runs: {seeding}, {database_bytes(database) / 1e9:.2f} GB, load {load_before}", flush=True)
        results = measure(database, settings, principals, repeat)
        report["sizes"][size] = {
            "seeding": seeding, "bytes": database_bytes(database), "load": [load_before, os.getloadavg()],
            "results": results,
        }  # fmt: skip
    database.dispose()
    return report


if __name__ == "__main__":
    main()
