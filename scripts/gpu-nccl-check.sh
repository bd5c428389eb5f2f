#!/usr/bin/env bash
# gpu-nccl-check.sh -- run ON A 2-GPU MACHINE (device tool, nvidia-h200-x2 kind),
# from any cwd. Builds only the NCCL weight-broadcast targets and runs:
#   1. broadcast_test            the CPU suite of runtime/nccl (fakes; seconds)
#   2. nccl_broadcast_gpu_test   real NCCL, rank 0 on GPU 0 + a child process
#                                as rank 1 on GPU 1: 1 GiB bucketed broadcast
#                                (content + GB/s + ratio to raw ncclBroadcast),
#                                a child SIGKILLed mid-broadcast (typed error
#                                within the bucket deadline, then a rebuilt
#                                epoch with a fresh child), init deadline.
#
# Prerequisite, on Debian 12 (this repo's dev box): bash scripts/fetch-gpu-deps.sh
# (configuring the project needs CAF, yaml-cpp, GTest, zmq from that prefix).
# Then, through the device tool, ONE call:
#   run(kind="nvidia-h200-x2", carry=[".gpu-deps/prefix"], timeout_s=600,
#       command="set -o pipefail; bash scripts/gpu-nccl-check.sh 2>&1 | tee $OUT/log")
#
# Knobs (defaults in brackets):
#   TANDEM_GPU_DEPS   prefix from fetch-gpu-deps.sh     [<repo>/.gpu-deps/prefix]
#   TANDEM_GPU_BUILD  build directory                   [<repo>/build-gpu]
#   TANDEM_JOBS       ninja jobs                        [nproc]
#   TANDEM_PYTHON     python with torch and nvidia.nccl [python3]
#   TANDEM_NCCL_ROOT  NCCL folder (include/, lib/)      [the nvidia-nccl wheel's]
#   NCCL_DEBUG        e.g. WARN or INFO for NCCL's own log [unset]
# NCCL_NVLS_ENABLE is forced to 0 unless set: NVLink multicast stays off.
#
# Output: every step starts with "== gpu-nccl-check:"; the last line is
#   GPU-NCCL-CHECK: PASS | FAIL (<step>) | SKIP (<why>)
# Exit status: 0 pass, 77 skipped (fewer than 2 GPUs), anything else a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DEPS=${TANDEM_GPU_DEPS:-$ROOT/.gpu-deps/prefix}
BUILD=${TANDEM_GPU_BUILD:-$ROOT/build-gpu}
JOBS=${TANDEM_JOBS:-$(nproc)}
PY=${TANDEM_PYTHON:-python3}
export NCCL_NVLS_ENABLE=${NCCL_NVLS_ENABLE:-0}

say() { echo "== gpu-nccl-check: $*"; }
finish() { # finish <exit code> <last line>
  echo "GPU-NCCL-CHECK: $2"
  exit "$1"
}

if [ ! -f "$DEPS/include/caf/all.hpp" ]; then
  echo "no prefix at $DEPS: run scripts/fetch-gpu-deps.sh on Debian 12 and carry .gpu-deps/prefix" >&2
  finish 2 "FAIL (missing .gpu-deps/prefix)"
fi

say "environment"
export PATH="$("$PY" -c 'import sys; print(sys.prefix)')/bin:/usr/local/cuda/bin:$PATH"
export CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
NCCL_ROOT=${TANDEM_NCCL_ROOT:-$("$PY" -c 'import nvidia.nccl as m; print(list(m.__path__)[0])' 2>/dev/null)}
TORCH_PREFIX=$("$PY" -c 'import torch; print(torch.utils.cmake_prefix_path)') \
  || finish 2 "FAIL (python $PY has no torch)"
echo "NCCL root: ${NCCL_ROOT:-<not found>}"; ls "${NCCL_ROOT:-/nonexistent}/lib" 2>/dev/null
echo "NCCL_NVLS_ENABLE=$NCCL_NVLS_ENABLE  NCCL_DEBUG=${NCCL_DEBUG:-<unset>}"
nvidia-smi -L || true
nvidia-smi topo -m 2>/dev/null | head -5 || true
GPUS=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
echo "GPUs: $GPUS"

say "configure ($BUILD)"
cmake -S "$ROOT" -B "$BUILD" -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTANDEM_WITH_CUDA=ON \
  -DTANDEM_WITH_NCCL=ON \
  -DTANDEM_NCCL_ROOT="$NCCL_ROOT" \
  -DCMAKE_PREFIX_PATH="$DEPS;$TORCH_PREFIX" \
  -DCMAKE_CUDA_COMPILER="$CUDA_HOME/bin/nvcc" \
  -DPython3_EXECUTABLE="$(command -v "$PY")" > "$BUILD.configure.log" 2>&1
rc=$?
grep -E 'tandem_nccl|Error|error' "$BUILD.configure.log" | head -40
[ $rc -eq 0 ] || { tail -40 "$BUILD.configure.log"; finish 3 "FAIL (configure, see above)"; }
grep -E '^(TANDEM_NCCL_LIBRARY|TANDEM_NCCL_INCLUDE_DIR|TANDEM_WITH_NCCL):' "$BUILD/CMakeCache.txt"

say "build broadcast_test nccl_broadcast_gpu_test (-j $JOBS)"
cmake --build "$BUILD" -j "$JOBS" --target broadcast_test nccl_broadcast_gpu_test \
  > "$BUILD.nccl-build.log" 2>&1
rc=$?
grep -E 'error|warning' "$BUILD.nccl-build.log" | head -40
[ $rc -eq 0 ] || { tail -40 "$BUILD.nccl-build.log"; finish 4 "FAIL (build, see above)"; }

say "runtime libraries of nccl_broadcast_gpu_test"
ldd "$BUILD/tests/nccl_broadcast_gpu_test" | grep -E 'nccl|cudart|caf|not found'
if ldd "$BUILD/tests/nccl_broadcast_gpu_test" | grep -q 'not found'; then
  finish 5 "FAIL (unresolved shared libraries)"
fi

say "CPU suite: broadcast_test"
"$BUILD/tests/broadcast_test" --gtest_brief=1 || finish 6 "FAIL (broadcast_test)"

say "GPU check: nccl_broadcast_gpu_test"
t0=$SECONDS
"$BUILD/tests/nccl_broadcast_gpu_test"
rc=$?
echo "nccl_broadcast_gpu_test: exit $rc after $((SECONDS - t0)) s"
case $rc in
  0) finish 0 "PASS" ;;
  77) finish 77 "SKIP (fewer than 2 GPUs visible: $GPUS)" ;;
  *) finish 7 "FAIL (nccl_broadcast_gpu_test exit $rc; lines with FAIL or WATCHDOG above say which check)" ;;
esac
