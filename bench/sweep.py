"""A sweep with and without successive-halving pruning: epochs trained, wall time, best val accuracy.

    python bench/sweep.py [--trials 12] [--epochs 6] [--size 48] [--device cpu] [--data DIR]

Classifier LR × feature LR (conv1–conv5 as one stage group) × freeze depth on the real Ants &
Bees photos (Stagewise's seeded 50/25/25 split, ResNet-18 from scratch: no ImageNet weights
are downloaded), TPE with the same seed in both arms, trials one after another. Each trial is
`fit` with the sweep's `on_epoch` (report to the Optuna trial, stop when its pruner says so),
exactly what a worker runs for a trial; the queue and the database are left out so the
numbers are the search's, not the machine's load on a server.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import optuna

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: train_throughput sits beside it
from train_throughput import linked_root

from app.schemas.sweeps import SweepSpec
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


def spec(args: argparse.Namespace, pruner: str) -> SweepSpec:
    return SweepSpec.model_validate({
        "base": {"config": {
            "backbone": "resnet18", "weights": "none", "epochs": args.epochs, "batch_size": 16,
            "image_size": args.size, "test_every": 1000, "augment": "flip",
            "dataset": {"name": "hymenoptera", "fractions": [0.5, 0.25, 0.25], "split_seed": 0},
            "optimizer": {"name": "sgd", "lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4},
            "schedule": {"name": "cosine"},
        }},
        "space": SPACE, "sampler": "tpe", "pruner": pruner, "trials": args.trials, "seed": args.seed,
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "datasets")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
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
