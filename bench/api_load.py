"""API latency and throughput with many runs: submit, list, compare (p50/p99).

Seeds a fresh database with N finished runs × E epochs (bulk inserts, as a busy lab's
history would be), starts the real server (`stagewise serve --no-worker`) on it, and
times HTTP requests from this process. No worker runs, so submitted runs stay queued.

    .venv/bin/python bench/api_load.py                      # 10,000 runs × 100 epochs, embedded SQLite
    .venv/bin/python bench/api_load.py --runs 1000 --database-url postgresql+psycopg://postgres@127.0.0.1/bench \
        --broker-url redis://127.0.0.1:6379/9
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert, text

from app.db import Database
from app.db.migrations import upgrade
from app.models import EpochMetric, Run
from app.schemas.train_config import TrainConfig
from app.settings import Settings, child_environment

BACKBONES = ["resnet18", "resnet50", "mobilenet_v3_large", "efficientnet_b0"]
DATASETS = ["cifar10", "hymenoptera", "caltech101", "digits"]
STATUSES = ["succeeded"] * 8 + ["failed", "cancelled"]


def seed(settings: Settings, runs: int, epochs: int) -> float:
    """Insert `runs` finished runs with `epochs` epoch rows each; returns seconds taken."""
    started = time.perf_counter()
    upgrade(settings.database_url)
    database = Database.connect(settings.database_url)
    rng = random.Random(0)
    base_time = datetime.now(UTC) - timedelta(days=365)
    with database.engine.begin() as connection:
        for first in range(1, runs + 1, 1000):
            ids = range(first, min(first + 1000, runs + 1))
            connection.execute(insert(Run.__table__), [_run_row(i, rng, epochs, base_time) for i in ids])
            connection.execute(insert(EpochMetric.__table__), [m for i in ids for m in _metric_rows(i, rng, epochs)])
        if connection.dialect.name == "postgresql":
            # Explicit ids do not advance PostgreSQL's sequence; later submits would collide.
            connection.execute(text("SELECT setval(pg_get_serial_sequence('runs', 'id'), (SELECT max(id) FROM runs))"))
    database.dispose()
    return time.perf_counter() - started


def _run_row(run_id: int, rng: random.Random, epochs: int, base: datetime) -> dict[str, Any]:
    backbone, dataset = rng.choice(BACKBONES), rng.choice(DATASETS)
    config = TrainConfig.model_validate({
        "backbone": backbone, "dataset": {"name": dataset}, "epochs": epochs,
        "optimizer": {"lr": rng.choice([0.1, 0.01, 0.001])},
        "stages": {"conv1": rng.choice([0, 1e-4, 1e-3]), "classifier": 0.1},
    }).model_dump(mode="json")  # fmt: skip
    created = base + timedelta(minutes=run_id)
    return {
        "id": run_id, "name": f"run {run_id}", "status": rng.choice(STATUSES), "queue": "default", "config": config,
        "dataset": dataset, "backbone": backbone, "epochs": epochs, "created_at": created, "attempt": 1,
        "started_at": created, "finished_at": created + timedelta(minutes=30), "heartbeat_at": created,
        "cancel_requested": False, "epochs_done": epochs, "best_val_acc": rng.random(), "worker_host": "bench",
    }  # fmt: skip


def _metric_rows(run_id: int, rng: random.Random, epochs: int) -> list[dict[str, Any]]:
    return [
        {"run_id": run_id, "epoch": e, "train_loss": 1 / (e + 1), "train_acc": rng.random(), "val_loss": 1.0,
         "val_acc": rng.random(), "test_loss": 1.0, "test_acc": rng.random(),
         "lr": {"conv1": 1e-4, "conv2": 1e-3, "classifier": 0.1}, "images_per_s": 5000.0, "seconds": 10.0,
         "recorded_at": datetime.now(UTC)}
        for e in range(epochs)
    ]  # fmt: skip


def start_server(settings: Settings) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    script = str(Path(sys.executable).with_name("stagewise"))
    server = subprocess.Popen(
        [script, "serve", "--no-worker", "--port", str(port)], env=child_environment(settings),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return server, url
        except httpx.HTTPError:
            time.sleep(0.3)
    server.kill()
    raise SystemExit("server did not come up")


def timed(call: Callable[[], httpx.Response], count: int, concurrency: int = 1) -> dict[str, float]:
    """p50/p99 latency (ms) and throughput (req/s) of `count` calls over `concurrency` threads."""

    def one(_: int) -> float:
        start = time.perf_counter()
        response = call()
        response.raise_for_status()
        return (time.perf_counter() - start) * 1000

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        latencies = sorted(pool.map(one, range(count)))
    elapsed = time.perf_counter() - started
    return {
        "p50_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 1),
        "req_per_s": round(count / elapsed, 1),
        "n": count,
        "concurrency": concurrency,
    }


def scenarios(client: httpx.Client, runs: int, rng: random.Random) -> dict[str, Callable[[], httpx.Response]]:
    body = {"preset": "demo/digits", "overrides": {"epochs": 2}}
    return {
        "submit (POST /api/runs)": lambda: client.post("/api/runs", json=body),
        "list, newest 50": lambda: client.get("/api/runs"),
        "list, status=succeeded by -best_val_acc": lambda: client.get(
            "/api/runs", params={"status": "succeeded", "sort": "-best_val_acc"}),
        "list, dataset+backbone, deep page": lambda: client.get(
            "/api/runs", params={"dataset": "cifar10", "backbone": "resnet18", "offset": 400}),
        "metrics of one run (100 epochs)": lambda: client.get(f"/api/runs/{rng.randint(1, runs)}/metrics"),
        "compare 3 runs (configs, curves, diff)": lambda: client.get(
            "/api/compare", params={"ids": ",".join(str(rng.randint(1, runs)) for _ in range(3))}),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--requests", type=int, default=200, help="requests per scenario")
    parser.add_argument("--concurrency", type=int, default=8, help="threads for the throughput pass")
    parser.add_argument("--database-url", default="")
    parser.add_argument("--broker-url", default="")
    parser.add_argument("--out", type=Path, default=Path("bench/out/api_load.json"))
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="stagewise-bench-"))
    settings = Settings(data_dir=data_dir, database_url=args.database_url, broker_url=args.broker_url)
    seconds = seed(settings, args.runs, args.epochs)
    print(f"seeded {args.runs} runs × {args.epochs} epochs in {seconds:.1f} s", flush=True)
    server, url = start_server(settings)
    rng = random.Random(1)
    results: dict[str, Any] = {}
    try:
        with httpx.Client(base_url=url, timeout=60, limits=httpx.Limits(max_connections=64)) as client:
            for name, call in scenarios(client, args.runs, rng).items():
                call()  # warm caches and connections
                results[name] = {"sequential": timed(call, args.requests),
                                 "concurrent": timed(call, args.requests, args.concurrency)}  # fmt: skip
                print(name, results[name], flush=True)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    report = {
        "date": datetime.now(UTC).date().isoformat(), "machine": f"{platform.node()} {platform.processor() or platform.machine()}",
        "database": settings.database_url.split(":", 1)[0], "broker": settings.broker_url.split(":", 1)[0],
        "runs": args.runs, "epochs": args.epochs, "seed_seconds": round(seconds, 1), "results": results,
    }  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown(report))


def markdown(report: dict[str, Any]) -> str:
    """The results as a table for docs/benchmarks.md."""
    clients = next(iter(report["results"].values()))["concurrent"]["concurrency"]
    lines = [
        f"| request | p50 ms | p99 ms | req/s (1 client) | p50 ms | p99 ms | req/s ({clients} clients) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, result in report["results"].items():
        s, c = result["sequential"], result["concurrent"]
        lines.append(f"| {name} | {s['p50_ms']} | {s['p99_ms']} | {s['req_per_s']} | {c['p50_ms']} | {c['p99_ms']} | {c['req_per_s']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
