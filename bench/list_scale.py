"""Runs list latency from 10k to 1M runs: p50 of every sort × filter the list offers.

Grows one database in steps (10,000 → 100,000 → 1,000,000 runs by default, bulk inserts of
runs without epoch rows) and after each step times `services.runs.list_runs` in-process — the
part of a list request that depends on the table's size (HTTP adds a constant ~5-10 ms, see
bench/api_load.py). A page's query and the `total` count are timed apart, so a flat page beside
a growing count shows which one grows.

    .venv/bin/python bench/list_scale.py                              # SQLite in a temp folder
    .venv/bin/python bench/list_scale.py --database-url postgresql+psycopg://postgres@127.0.0.1/bench
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, get_args

from sqlalchemy import func, insert, select, text

from app.db import Database
from app.db.migrations import upgrade
from app.models import Run, User
from app.queue import TaskQueue, make_celery
from app.schemas.accounts import Principal
from app.schemas.runs import RunFilter, SortKey
from app.schemas.train_config import TrainConfig
from app.services import runs as runs_service
from app.services.unit_of_work import UnitOfWork
from app.settings import Settings

BACKBONES = ["resnet18", "resnet50", "mobilenet_v3_large", "efficientnet_b0"]
DATASETS = ["cifar10", "hymenoptera", "caltech101", "digits"]
STATUSES = ["succeeded"] * 7 + ["failed", "cancelled", "queued"]  # queued: no best val acc, no finish time
USERS = ["alice", "bob", "carol", "dave", "erin"]
FILTERS: dict[str, dict[str, str]] = {
    "none": {}, "status=failed": {"status": "failed"}, "dataset=digits": {"dataset": "digits"},
    "backbone=resnet50": {"backbone": "resnet50"}, "owner=alice": {"owner": "alice"},
    "status+dataset (two filters)": {"status": "failed", "dataset": "digits"},
}  # fmt: skip


def grow(database: Database, start: int, stop: int, rng: random.Random, configs: list[dict[str, Any]]) -> None:
    """Insert runs with ids start..stop-1."""
    base = datetime(2025, 1, 1, tzinfo=UTC)
    with database.engine.begin() as connection:
        users = connection.execute(select(User.id)).scalars().all()
        for first in range(start, stop, 5000):
            rows = [_run_row(i, rng, configs, users, base) for i in range(first, min(first + 5000, stop))]
            connection.execute(insert(Run.__table__), rows)
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT setval(pg_get_serial_sequence('runs', 'id'), (SELECT max(id) FROM runs))"))
            connection.execute(text("ANALYZE runs"))
        else:
            connection.execute(text("ANALYZE"))
    if database.engine.dialect.name == "sqlite":  # measure reads as a running server sees them, not a 1 GB WAL
        with database.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def _run_row(run_id: int, rng: random.Random, configs: list[dict[str, Any]], users: list[int], base: datetime) -> dict[str, Any]:
    config, status = rng.choice(configs), rng.choice(STATUSES)
    created, finished = base + timedelta(seconds=30 * run_id), status != "queued"
    return {
        "id": run_id, "name": None if rng.random() < 0.2 else f"run {rng.randrange(10**6)}", "status": status,
        "queue": "default", "config": config, "dataset": config["dataset"]["name"], "backbone": config["backbone"],
        "epochs": config["epochs"], "created_at": created, "attempt": int(finished), "cancel_requested": False,
        "started_at": created if finished else None, "finished_at": created + timedelta(minutes=30) if finished else None,
        "epochs_done": config["epochs"] if finished else 0, "best_val_acc": rng.random() if finished else None,
        "owner_id": rng.choice(users),
    }  # fmt: skip


def _configs() -> list[dict[str, Any]]:
    return [
        TrainConfig.model_validate({"backbone": b, "dataset": {"name": d}, "epochs": 10}).model_dump(mode="json")
        for b in BACKBONES for d in DATASETS
    ]  # fmt: skip


def p50_ms(call: Any, repeat: int) -> float:
    call()  # warm the cache
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 2)


def measure(database: Database, settings: Settings, admin: Principal, repeat: int) -> dict[str, dict[str, float]]:
    """{filter: {sort: p50 ms of the page, "count": p50 ms of the total}}."""
    results: dict[str, dict[str, float]] = {}
    with UnitOfWork.open(database, settings, TaskQueue(make_celery(settings), settings)) as uow:
        for label, filters in FILTERS.items():
            row: dict[str, float] = {}
            for sort in get_args(SortKey):
                query = RunFilter(**filters, sort=sort)
                row[sort] = p50_ms(lambda q=query: runs_service.list_runs(uow=uow, principal=admin, query=q), repeat)
            row["count only"] = p50_ms(lambda f=filters: _count_in(uow, f), repeat)
            results[label] = row
            print(label, row, flush=True)
    return results


def _count_in(uow: UnitOfWork, filters: dict[str, str]) -> int:
    with uow.reading() as db:
        return _count(db, filters)


def _count(db: Any, filters: dict[str, str]) -> int:
    conditions = [getattr(Run, k) == v for k, v in filters.items() if k != "owner"]
    if "owner" in filters:
        conditions.append(Run.owner_id == select(User.id).where(User.name == filters["owner"]).scalar_subquery())
    return db.scalar(select(func.count()).select_from(Run).where(*conditions)) or 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--out", type=Path, default=Path("bench/out/list_scale.json"))
    args = parser.parse_args()

    settings = Settings(data_dir=Path(tempfile.mkdtemp(prefix="stagewise-list-")), database_url=args.database_url)
    upgrade(settings.database_url)
    database = Database.connect(settings.database_url)
    with database.engine.begin() as connection:
        connection.execute(insert(User.__table__), [
            {"name": n, "is_admin": False, "disabled": False, "created_at": datetime.now(UTC)} for n in USERS])  # fmt: skip
    admin = Principal(user_id=0, name="bench", is_admin=True, via="local")
    rng, configs, have = random.Random(0), _configs(), 0
    report: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="minutes"), "machine": f"{platform.node()} {os.cpu_count()} cores",
        "load_before": os.getloadavg(), "database": database.engine.dialect.name, "sizes": {},
    }  # fmt: skip
    for size in (int(s) for s in args.sizes.split(",")):
        started = time.perf_counter()
        grow(database, have + 1, size + 1, rng, configs)
        have = size
        print(f"{size} runs (+{time.perf_counter() - started:.0f} s to insert), load {os.getloadavg()}", flush=True)
        report["sizes"][size] = {"results": measure(database, settings, admin, args.repeat), "load": os.getloadavg()}
    database.dispose()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
