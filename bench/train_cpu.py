"""CPU training throughput: `train_throughput.py --device cpu` at sizes two shared cores finish in minutes.

    python bench/train_cpu.py [any train_throughput.py option, e.g. --ants-size 112 --epochs 4]

Same baseline (`plain_loop.py`), same Stagewise runs, same table as `train_throughput.py`;
only the defaults shrink: Ants & Bees at 64 px, CIFAR-10-200 (100 val, 100 test), 3 epochs,
batch 32.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: train_throughput sits beside it
from train_throughput import main

CPU_DEFAULTS = [
    "--device", "cpu", "--ants-size", "64", "--cifar-train", "200", "--cifar-val", "100",
    "--cifar-test", "100", "--epochs", "3", "--batch-size", "32", "--ceiling-steps", "5",
]  # fmt: skip

if __name__ == "__main__":
    main([*CPU_DEFAULTS, *sys.argv[1:]])  # later options win: the caller's override these
