"""A sweep with and without successive-halving pruning: epochs trained, wall time, best val accuracy.

    python bench/sweep.py [--trials 12] [--epochs 6] [--size 48] [--device cpu] [--data DIR]
    python bench/sweep.py --latency [--repeats 3] [--size 48] [--device cpu] [--data DIR]

Classifier LR × feature LR (conv1–conv5 as one stage group) × freeze depth on the real Ants &
Bees photos (Stagewise's seeded 50/25/25 split, ResNet-18 from scratch: no ImageNet weights
are downloaded), TPE with the same seed in both arms, trials one after another. Each trial is
`fit` with the sweep's `on_epoch` (report to the Optuna trial, stop when its pruner says so),
exactly what a worker runs for a trial; the queue and the database are left out so the
numbers are the search's, not the machine's load on a server.

`--latency` measures the other thing a sweep costs: the seconds from `POST /api/sweeps` to
its first trial's first training step, on the real embedded stack (`stagewise serve`: the
API, one local worker, SQLite, the embedded broker), against the same for `POST /api/runs`
of the same config (the baseline: what a sweep adds is its Optuna study and ask). The first
step is seen in the run's `progress` (written by the heartbeat, here every 0.1 s) by polling
the API every 0.05 s, so both arms read up to ~0.15 s late. Each measured run is cancelled at
its first step, and the next starts once the worker is idle again.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import optuna

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: train_throughput sits beside it
from train_throughput import linked_root

from app.cli.sweep import local_server
from app.schemas.sweeps import SweepSpec
from app.settings import Settings
from app.sweeps.space import apply, resolve_base, suggest
from app.sweeps.study import create_study, pruning_callback, trial_value
from worker.training.loop import fit
from worker.training.runtime import Runtime

REPO = Path(__file__).resolve().parents[1]
SPACE = {
    "stages.classifier.lr": {"type": "float", "low": 1e-3, "high": 0.3, "log": True},
    "features": {"stages": ["conv1", "conv2", "conv3", "conv4", "conv5"], "type": "float", "low": 1e-4,
                 "high": 0.1, "log": True},
    "freeze_through": {"type": "categorical", "choices": ["none", "conv2", "conv4"]},
}  # fmt: skip


@dataclass(frozen=True)
class Arm:
    pruner: str
    epochs_trained: int
    wall_s: float
    best_val_acc: float
    pruned: int


def base_config(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "backbone": "resnet18", "weights": "none", "epochs": args.epochs, "batch_size": 16,
        "image_size": args.size, "test_every": 1000, "augment": "flip",
        "dataset": {"name": "hymenoptera", "fractions": [0.5, 0.25, 0.25], "split_seed": 0},
        "optimizer": {"name": "sgd", "lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4},
        "schedule": {"name": "cosine"},
    }  # fmt: skip


def spec(args: argparse.Namespace, pruner: str) -> SweepSpec:
    return SweepSpec.model_validate({
        "base": {"config": base_config(args)}, "space": SPACE, "sampler": "tpe", "pruner": pruner,
        "trials": args.trials, "seed": args.seed,
    })  # fmt: skip


def run_arm(args: argparse.Namespace, root: Path, pruner: str) -> Arm:
    sweep = spec(args, pruner)
    base = resolve_base(sweep.base)
    study = create_study(sweep, base, storage=None, study_name=None)
    epochs = pruned = 0
    started = time.perf_counter()
    for _ in range(sweep.trials or 0):
        trial = study.ask()
        config = apply(base, suggest(trial, sweep.space))
        with tempfile.TemporaryDirectory() as out:
            runtime = Runtime(data_root=root, out_dir=Path(out), device=args.device)
            result = fit(config, runtime, on_epoch=pruning_callback(trial, sweep.objective, epochs=config.epochs))
        epochs += len(result.records)
        if result.summary.stop_reason == "pruned":
            pruned += 1
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, trial_value(result.records, sweep.objective))
        print(f"  {pruner:<18} trial {trial.number:>2}: {len(result.records)} epochs, "
              f"best val {trial_value(result.records, sweep.objective) or 0:.3f}", flush=True)  # fmt: skip
    best = max((t.value for t in study.trials if t.value is not None), default=0.0)
    return Arm(pruner, epochs, time.perf_counter() - started, best, pruned)


# --- --latency: POST to the first training step, on the real stack ------------------------------


@dataclass(frozen=True)
class Latency:
    posted_s: float  # the POST's answer
    running_s: float  # a worker claimed the run
    first_step_s: float  # its progress shows a training step done


def first_step(client: httpx.Client, post: Callable[[], int]) -> tuple[Latency, dict[str, Any]]:
    """Seconds from just before `post()` (which returns the run id to watch) to its first step, and the run."""
    started = time.perf_counter()
    run_id = post()
    posted = time.perf_counter() - started
    running = None
    while True:
        run = client.get(f"/api/runs/{run_id}").json()
        now = time.perf_counter() - started
        if running is None and run["status"] != "queued":
            running = now
        if (run.get("progress") or {}).get("step", 0) >= 1 or run["epochs_done"] >= 1:
            return Latency(posted, running or now, now), run
        if run["status"] not in ("queued", "running"):
            raise RuntimeError(f"run {run_id} ended {run['status']} before its first step: {run.get('error')}")
        time.sleep(0.05)


def idle(client: httpx.Client) -> None:
    """Wait until no run is queued or running (the cancelled one has stopped)."""
    while any(r["status"] in ("queued", "running") for r in client.get("/api/runs", params={"limit": 50}).json()["items"]):
        time.sleep(0.2)


def measure_latency(args: argparse.Namespace, root: Path) -> dict[str, list[Latency]]:
    config = {**base_config(args), "epochs": 2}
    sweep_body = {"base": {"config": config}, "sampler": "random", "trials": 1, "seed": args.seed,
                  "space": {"stages.classifier.lr": SPACE["stages.classifier.lr"]}}  # fmt: skip
    settings = Settings(data_dir=root, device=args.device, heartbeat_interval_s=0.1, weights_dir=root / "weights")
    out: dict[str, list[Latency]] = {"POST /api/runs": [], "POST /api/sweeps": []}
    with local_server(settings) as url, httpx.Client(base_url=url, timeout=60) as client:
        def post_run() -> int:
            return client.post("/api/runs", json={"config": config}).json()["id"]

        def post_sweep() -> int:
            return client.post("/api/sweeps", json=sweep_body).json()["trials"][0]["run_id"]

        _, warm = first_step(client, post_run)  # the decode cache, imports, the first fork: not measured
        client.post(f"/api/runs/{warm['id']}/cancel")
        idle(client)
        for _ in range(args.repeats):
            latency, run = first_step(client, post_run)
            out["POST /api/runs"].append(latency)
            client.post(f"/api/runs/{run['id']}/cancel")
            idle(client)
            latency, trial = first_step(client, post_sweep)
            out["POST /api/sweeps"].append(latency)
            client.post(f"/api/sweeps/{trial['sweep_id']}/cancel")
            idle(client)
    return out


def print_latency(args: argparse.Namespace, out: dict[str, list[Latency]]) -> None:
    print(f"\nPOST to the first training step, median (min–max) of {args.repeats}, {args.size} px, {args.device}")
    print(f"{'request':<20}{'answered s':>18}{'claimed s':>18}{'first step s':>18}")
    for name, rows in out.items():
        cells = [
            f"{statistics.median(v):.2f} ({min(v):.2f}–{max(v):.2f})"
            for v in ([r.posted_s for r in rows], [r.running_s for r in rows], [r.first_step_s for r in rows])
        ]
        print(f"{name:<20}" + "".join(f"{c:>18}" for c in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--latency", action="store_true", help="POST to first training step, sweep vs run")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if args.latency:
        with tempfile.TemporaryDirectory() as scratch:
            print_latency(args, measure_latency(args, linked_root(args.data, Path(scratch))))
        return
    with tempfile.TemporaryDirectory() as scratch:
        root = linked_root(args.data, Path(scratch))
        arms = [run_arm(args, root, "none"), run_arm(args, root, "successive_halving")]
    plain, halved = arms
    print(f"\n{args.trials} trials × ≤{args.epochs} epochs, {args.size} px, TPE seed {args.seed}, {args.device}")
    print(f"{'pruner':<20}{'epochs trained':>15}{'wall s':>10}{'best val acc':>14}{'pruned':>8}")
    for arm in arms:
        print(f"{arm.pruner:<20}{arm.epochs_trained:>15}{arm.wall_s:>10.1f}{arm.best_val_acc:>14.4f}{arm.pruned:>8}")
    print(f"{'ratio pruned/none':<20}{halved.epochs_trained / plain.epochs_trained:>15.2f}"
          f"{halved.wall_s / plain.wall_s:>10.2f}{(halved.best_val_acc - plain.best_val_acc) * 100:>+13.1f}pt")  # fmt: skip


if __name__ == "__main__":
    main()
