#!/usr/bin/env bash
# One prepared GPU check, under 8 minutes with start-up on an H100/H200 (about 5 of them here):
# 1. the CUDA path end to end on the built-in photos (colorbench train, 2 epochs);
# 2. training-step throughput and FLOP utilisation at 256 px, batch 16 and 64, and the data path
#    (bench_gpu.py);
# 3. what a study at the paper's scale costs (bench_scale.py): single runs at batch 8/16/32 for both
#    generators with their share of the measured bf16 peak, packed throughput of N = 1, 2, 4, 8
#    runs per GPU, the checkpoint's share at 256 px, and the paper study's projected wall time on
#    1 and 8 GPUs.
# Writes into $OUT (or benchmarks/gpu_out): gpu.txt, train_cuda.log, bench_gpu.md, bench_scale.md.
#
# BENCH_DEVICE=cpu runs every step on the CPU at tiny sizes (no nvidia-smi, no reinstall), so the
# script can be checked end to end on a machine without a GPU; its figures mean nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-benchmarks/gpu_out}"
DEVICE="${BENCH_DEVICE:-cuda}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
started=$(date +%s)
if [ "$DEVICE" = cuda ]; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
  # Register the entry points without touching the machine's own torch (nothing is downloaded).
  python3 -m pip install -q --no-deps --no-build-isolation -e . >/dev/null 2>&1 || \
    python3 -m pip install -q --no-deps --no-build-isolation -e .
  TRAIN=(--preset quick --set epochs=2 --set device=cuda)
  GPU_ARGS=()
  SCALE_ARGS=(--device cuda)
else
  echo "BENCH_DEVICE=$DEVICE: smoke sizes on the CPU" | tee "$OUT/gpu.txt"
  TRAIN=(--preset smoke --set device=cpu)
  GPU_ARGS=(--quick)
  SCALE_ARGS=(--device cpu --smoke)
fi
# 1. The CUDA path: prepare, train 2 epochs, evaluate on val, write samples
python3 -m colorbench train --plugin unet "${TRAIN[@]}" \
  --out "$OUT/runs" --cache-dir "${TMPDIR:-/tmp}/colorbench-cache" 2>&1 | tee "$OUT/train_cuda.log"
python3 - "$OUT" <<'PY' | tee -a "$OUT/train_cuda.log"
import json, pathlib, sys
(summary,) = pathlib.Path(sys.argv[1], "runs").glob("*/summary.json")
s = json.loads(summary.read_text())
print("status", s["status"], "device", s["device_name"], "precision", s["precision"],
      "images/s", round(s["images_per_s"], 1))
PY
# 2. Throughput and model FLOP utilisation at 256 px, batch 16 and 64; the data path
python3 benchmarks/bench_gpu.py "${GPU_ARGS[@]}" --out "$OUT/bench_gpu.md" \
  --cache-dir "${TMPDIR:-/tmp}/colorbench-cache" | tee "$OUT/bench_gpu.log"
# 3. The paper study's scale: batches 8/16/32, packing, checkpoints, projection (bounded: the
#    whole script must stay under 8 minutes)
timeout 330 python3 benchmarks/bench_scale.py "${SCALE_ARGS[@]}" --out "$OUT/bench_scale.md"
echo "bench_gpu.sh took $(( $(date +%s) - started )) s"
