#!/usr/bin/env bash
# The one script a GPU session runs for issue 6: the CUDA-only tests, then the training
# throughput and frozen-prefix benchmarks on CUDA. About 6 minutes; the hard limits sum to 9.
#
# Prepare on the CPU machine (both land in the ignored .gpu-data/, ~34 MB together):
#   .venv/bin/python bench/pack_data.py pack     # .gpu-data/images.npz: Ants & Bees + CIFAR-10-4000 + 2,000 test
#   .venv/bin/python -m pip download --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux2014_x86_64 -d .gpu-data/wheels pydantic==2.14.4 pydantic_core==2.50.5 \
#       typing-inspection annotated-types typing-extensions   # the GPU image has torch but no pydantic
# Then, with the device tool: run(command="bash bench/gpu_check.sh", carry=[".gpu-data"], timeout_s=600)
# Outputs (in $OUT when set, else bench/out/gpu): env.txt, pytest_cuda.log, throughput.log, throughput.json,
# frozen_prefix.log.
# Record the numbers in docs/benchmarks.md ("Training throughput (issue 6)") with date and card.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR="${OUT:-bench/out/gpu}"
mkdir -p "$OUT_DIR"
PY="${PYTHON:-python3}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # the repo is not pip-installed there

{
    date -u
    git rev-parse HEAD 2>/dev/null
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    echo "cpus: $(nproc)"
    "$PY" -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__)"
} >"$OUT_DIR/env.txt" 2>&1
cat "$OUT_DIR/env.txt"

"$PY" -c "import pydantic" 2>/dev/null || "$PY" -m pip install --quiet --no-index --find-links .gpu-data/wheels pydantic
"$PY" bench/pack_data.py unpack .gpu-data/images.npz .gpu-data/datasets || exit 1

# Only these two files: the rest of tests/unit imports the web stack, which the GPU image lacks.
timeout 210 "$PY" -m pytest -q -m cuda -p no:cacheprovider \
    tests/unit/test_fast_path_cuda.py tests/unit/test_transforms.py 2>&1 | tee "$OUT_DIR/pytest_cuda.log"
tests_rc=${PIPESTATUS[0]}

timeout 240 "$PY" bench/train_throughput.py --device cuda --data-dir .gpu-data/datasets \
    --workers 16 --epochs 8 --batch-size 64 --ceiling-steps 30 \
    --json "$OUT_DIR/throughput.json" 2>&1 | tee "$OUT_DIR/throughput.log"
bench_rc=${PIPESTATUS[0]}

# Frozen-prefix cuts against the whole model (bench/frozen_prefix.py), two families at 224 px.
timeout 75 "$PY" bench/frozen_prefix.py --device cuda --data-dir .gpu-data/datasets \
    --backbones resnet50 efficientnet_b0 --epochs 4 --batch-size 64 2>&1 | tee "$OUT_DIR/frozen_prefix.log"
prefix_rc=${PIPESTATUS[0]}

echo "cuda tests rc=$tests_rc, benchmark rc=$bench_rc, frozen-prefix benchmark rc=$prefix_rc"
exit $((tests_rc != 0 || bench_rc != 0 || prefix_rc != 0))
