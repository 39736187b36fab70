"""Server-side render time of the dashboard's Compare page: 20 runs × 100 epochs.

Builds a fresh SQLite database (the embedded default) with 10,000 finished runs, 20 of
which carry 100 epochs each, then times full requests through the ASGI app in-process
(routing, service queries, view building, Jinja rendering; no network, no browser) and
the Compare page's parts on their own. Baselines in the same run: the JSON
`/api/compare` for the same 20 runs, and the Runs page (50 rows of 10,000).

    .venv/bin/python bench/compare_render.py [--runs 10000] [--repeat 30]

Prints a Markdown table; docs/benchmarks.md ("Dashboard") records results.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import insert

from app.db import Database
from app.db.migrations import upgrade
from app.main import create_app
from app.models import EpochMetric, Run
from app.pages.compare_page import compare_page
from app.pages.templating import get_templates
from app.presets import load_preset
from app.schemas.accounts import Principal
from app.schemas.train_config import TrainConfig
from app.services import compare
from app.services.unit_of_work import UnitOfWork
from app.settings import Settings

STAGES = ("conv1", "conv2", "conv3", "conv4", "conv5", "classifier")
COMPARED, EPOCHS = 20, 100


def _config(i: int) -> dict[str, Any]:
    """The reference Model D with a different classifier LR per run, so configs differ."""
    raw = {**load_preset("cifar10-4000/model-d"), "name": f"bench {i}"}
    raw["stages"] = {**raw["stages"], "classifier": 0.1 / (1 + i % 7)}
    return TrainConfig.model_validate(raw).model_dump(mode="json")


def _run_row(i: int, start: datetime) -> dict[str, Any]:
    created = start + timedelta(minutes=i)
    summary = {"epochs_done": EPOCHS, "best_val_acc": 0.85, "best_epoch": 80, "test_acc_at_best_val": 0.84,
               "final_train_acc": 0.99, "final_test_acc": 0.83, "images_per_s": 8000.0, "split_hash": "bench"}
    return {"name": f"bench {i}", "status": "succeeded", "queue": "default", "config": _config(i), "dataset": "cifar10",
            "backbone": "resnet18", "epochs": EPOCHS, "created_at": created, "started_at": created,
            "finished_at": created + timedelta(minutes=30), "attempt": 1, "epochs_done": EPOCHS,
            "best_val_acc": 0.80 + (i % 100) / 1000, "summary": summary, "cancel_requested": False}  # fmt: skip


def _epoch_rows(run_id: int) -> list[dict[str, Any]]:
    return [
        {"run_id": run_id, "epoch": e, "train_loss": 2.0 / (e + 1), "train_acc": min(0.99, 0.3 + e / 100),
         "val_loss": 1.0 / (e + 1), "val_acc": 0.5 + e / 300, "test_loss": 1.0 / (e + 1), "test_acc": 0.5 + e / 310,
         "lr": {s: 1e-3 for s in STAGES}, "images_per_s": 8000.0, "seconds": 12.0}
        for e in range(EPOCHS)
    ]  # fmt: skip


def seed(settings: Settings, runs: int) -> list[int]:
    """`runs` finished runs; the last COMPARED of them with EPOCHS epochs each. Returns those ids."""
    upgrade(settings.database_url)
    database = Database.connect(settings.database_url)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with database.sessions.begin() as db:
        db.execute(insert(Run), [_run_row(i, start) for i in range(runs)])
        ids = list(range(runs - COMPARED + 1, runs + 1))  # SQLite AUTOINCREMENT from 1
        db.execute(insert(EpochMetric), [row for run_id in ids for row in _epoch_rows(run_id)])
    database.dispose()
    return ids


def timed(call: Callable[[], object], repeat: int) -> list[float]:
    """Milliseconds per call, after two warm-up calls (template compile, query plans)."""
    for _ in range(2):
        call()
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        call()
        samples.append((time.perf_counter() - began) * 1000)
    return samples


def _get(client: TestClient, url: str) -> Callable[[], object]:
    def call() -> object:
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code, response.text[:300])
        return response

    return call


def _parts(client: TestClient, ids: list[int]) -> dict[str, Callable[[], object]]:
    """The Compare page split into the service query, the view model and the template."""
    state = client.app.state  # type: ignore[attr-defined]
    admin = Principal(user_id=0, name="bench", is_admin=True, via="local")
    with UnitOfWork.open(state.database, state.settings, state.tasks) as uow:
        result = compare.compare_runs(uow=uow, principal=admin, run_ids=ids)
    page = compare_page(result, metric="val_acc", max_compare=COMPARED)
    template = get_templates().get_template("compare.html")

    def query() -> object:
        with UnitOfWork.open(state.database, state.settings, state.tasks) as uow:
            return compare.compare_runs(uow=uow, principal=admin, run_ids=ids)

    return {
        "  service: compare_runs (SQL + schemas)": query,
        "  view: compare_page (descriptions, diff)": lambda: compare_page(result, metric="val_acc", max_compare=20),
        "  template: compare.html": lambda: template.render(page=page, nav="", request=None, principal=admin),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000, help="runs in the database")
    parser.add_argument("--repeat", type=int, default=30, help="timed requests per row")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), migrate_on_start=False)
        began = time.perf_counter()
        ids = seed(settings, args.runs)
        print(f"seeded {args.runs:,} runs, {COMPARED} × {EPOCHS} epochs in {time.perf_counter() - began:.1f} s")
        id_list = ",".join(map(str, ids))
        # A local client: the no-login mode serves loopback clients naming a loopback Host only.
        with TestClient(create_app(settings), base_url="http://127.0.0.1", client=("127.0.0.1", 50000)) as client:
            rows = {
                f"Compare page, {COMPARED} runs × {EPOCHS} epochs": _get(client, f"/compare?ids={id_list}"),
                **_parts(client, ids),
                f"GET /api/compare, same {COMPARED} runs (JSON)": _get(client, f"/api/compare?ids={id_list}"),
                f"Runs page, 50 of {args.runs:,} (baseline)": _get(client, "/"),
                "Runs page, sorted by best val acc": _get(client, "/?sort=-best_val_acc"),
                "Runs page, last page": _get(client, f"/?offset={args.runs - 50}"),
                f"Run page, {EPOCHS} epochs": _get(client, f"/runs/{ids[0]}"),
            }
            report(rows, args.repeat, len(client.get(f"/compare?ids={id_list}").content))


def report(rows: dict[str, Callable[[], object]], repeat: int, compare_bytes: int) -> None:
    """Median and p95 per row, and each median relative to the Runs page's."""
    results = {name: timed(call, repeat) for name, call in rows.items()}
    baseline = statistics.median(next(v for k, v in results.items() if "(baseline)" in k))
    print(f"\n{platform.processor() or platform.machine()}, Python {platform.python_version()}, {repeat} requests each\n")
    print("| what | median ms | p95 ms | × Runs page |\n| --- | ---: | ---: | ---: |")
    for name, samples in results.items():
        median, p95 = statistics.median(samples), statistics.quantiles(samples, n=20)[-1]
        print(f"| {name} | {median:.1f} | {p95:.1f} | {median / baseline:.2f} |")
    print(f"\nCompare page HTML: {compare_bytes / 1024:.0f} KiB (curves embedded as JSON)")


if __name__ == "__main__":
    main()
