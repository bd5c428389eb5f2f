#!/usr/bin/env bash
# profile-decode.sh -- run ON THE GPU MACHINE after scripts/gpu-build.sh:
# times every kernel node of one captured decode step with Nsight Compute
# (ncu; clocks left alone) and prints them grouped by kernel, with calls per
# step, microseconds per call and per step (docs/decode-kernels.md).
#
#   bash scripts/profile-decode.sh [extra `tandem bench decode` flags]
#
# Defaults: the Qwen2-0.5B shape, batch 64, prompt 128, G = 16, 3 new tokens
# (the profile needs one whole step, not a rate). Each kernel is timed on its
# own, so every duration includes its ramp-up: the sum is an upper bound of
# the step's time inside the CUDA graph. Environment: TANDEM_GPU_BUILD
# (build directory, default build-gpu), NCU (path to ncu).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${TANDEM_GPU_BUILD:-build-gpu}
NCU=${NCU:-$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1 || true)}
if [ -z "$NCU" ]; then
  echo "profile-decode: no ncu on this machine (set NCU=/path/to/ncu)" >&2
  exit 2
fi
out=$(mktemp /tmp/tandem-ncu-XXXXXX.csv)
"$NCU" --clock-control none --graph-profiling node --metrics gpu__time_duration.sum \
  --csv --page raw "$BUILD/app/tandem" bench decode --shape qwen2-0.5b --batch 64 \
  --prompt-len 128 --new-tokens 3 --group-size 16 --repeats 1 "$@" > "$out"
python3 scripts/ncu_step_table.py "$out"
