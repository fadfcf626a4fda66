#!/usr/bin/env bash
# One prepared GPU check (about 3 minutes on an H100/H200): the CUDA path end to end on the
# built-in photos, then training-step throughput and FLOP utilisation (bench_gpu.py).
# Writes into $OUT (or benchmarks/gpu_out): gpu.txt, train_cuda.log, bench_gpu.md.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-benchmarks/gpu_out}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
# Register the entry points without touching the machine's own torch (nothing is downloaded).
python3 -m pip install -q --no-deps --no-build-isolation -e . >/dev/null 2>&1 || \
  python3 -m pip install -q --no-deps --no-build-isolation -e .
# 1. The CUDA path: prepare, train 2 epochs, evaluate on val, write samples; --set device=cuda
python3 -m colorbench train --plugin unet --preset quick --set epochs=2 --set device=cuda \
  --out "$OUT/runs" --cache-dir "${TMPDIR:-/tmp}/colorbench-cache" 2>&1 | tee "$OUT/train_cuda.log"
python3 - "$OUT" <<'PY' | tee -a "$OUT/train_cuda.log"
import json, pathlib, sys
(summary,) = pathlib.Path(sys.argv[1], "runs").glob("*/summary.json")
s = json.loads(summary.read_text())
print("status", s["status"], "device", s["device_name"], "precision", s["precision"],
      "images/s", round(s["images_per_s"], 1))
PY
# 2. Throughput and model FLOP utilisation at 256 px, batch 16 and 64
python3 benchmarks/bench_gpu.py --out "$OUT/bench_gpu.md"
