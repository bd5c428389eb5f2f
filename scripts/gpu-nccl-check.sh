#!/usr/bin/env bash
# gpu-nccl-check.sh -- run ON A 2-GPU MACHINE (device tool, nvidia-h200-x2 kind),
# from any cwd. Builds the NCCL weight-broadcast targets and runs:
#   1. broadcast_test            the CPU suite of runtime/nccl (fakes; seconds)
#   2. nccl_broadcast_gpu_test   real NCCL, rank 0 on GPU 0 + a child process
#                                as rank 1 on GPU 1: 1 GiB bucketed, pipelined
#                                broadcast (content + GB/s + ratio to raw
#                                ncclBroadcast), a child SIGKILLed mid-version
#                                (typed error naming the bucket within its
#                                deadline, then a rebuilt epoch with a fresh
#                                child), init deadline.
#   3. tandem bench broadcast --bytes 8G --gpus 2
#                                builds the tandem binary (links LibTorch, so
#                                it comes after 1-2) and measures send_version
#                                against raw ncclBroadcast of the same 8 GiB
#                                on one communicator: GB/s, ratio, wall ms.
#   4. a short sweep (skipped when TANDEM_BENCH_SWEEP=0 or time is short):
#      the same bench with --depth 1 (no pipelining), --bucket-mb 256 and 1024.
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
#   TANDEM_BENCH_BYTES   --bytes of the bench                [8G]
#   TANDEM_BENCH_SWEEP   1: run step 4 when time allows      [1]
# NCCL_NVLS_ENABLE is forced to 0 unless set: NVLink multicast stays off.
#
# Output: every step starts with "== gpu-nccl-check:"; each bench run prints
# a line "BENCH-BROADCAST bytes=... ratio=... wall_ms=..."; the last line is
#   GPU-NCCL-CHECK: PASS | FAIL (<step>) | SKIP (<why>)
# PASS needs steps 1-3 to succeed; the bench's goals (ratio >= 0.8, 8 GB in
# <= 50 ms) are printed by the bench, not enforced here.
# Exit status: 0 pass, 77 skipped (fewer than 2 GPUs), anything else a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DEPS=${TANDEM_GPU_DEPS:-$ROOT/.gpu-deps/prefix}
BUILD=${TANDEM_GPU_BUILD:-$ROOT/build-gpu}
JOBS=${TANDEM_JOBS:-$(nproc)}
PY=${TANDEM_PYTHON:-python3}
BENCH_BYTES=${TANDEM_BENCH_BYTES:-8G}
SWEEP=${TANDEM_BENCH_SWEEP:-1}
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
  0) ;;
  77) finish 77 "SKIP (fewer than 2 GPUs visible: $GPUS)" ;;
  *) finish 7 "FAIL (nccl_broadcast_gpu_test exit $rc; lines with FAIL or WATCHDOG above say which check)" ;;
esac

say "build tandem (-j $JOBS; links LibTorch)"
t0=$SECONDS
cmake --build "$BUILD" -j "$JOBS" --target tandem > "$BUILD.tandem-build.log" 2>&1
rc=$?
grep -E 'error' "$BUILD.tandem-build.log" | head -40
echo "tandem build: exit $rc after $((SECONDS - t0)) s"
[ $rc -eq 0 ] || { tail -40 "$BUILD.tandem-build.log"; finish 8 "FAIL (tandem build, see above)"; }

BENCH_LOG=$BUILD.bench.log
: > "$BENCH_LOG"
bench() { # bench <extra flags...>; its output also goes to $BENCH_LOG
  echo "-- tandem bench broadcast --bytes $BENCH_BYTES --gpus 2 $*"
  local t=$SECONDS
  timeout -k 10 240 "$BUILD/app/tandem" bench broadcast --bytes "$BENCH_BYTES" --gpus 2 "$@" \
    2>&1 | tee -a "$BENCH_LOG"
  local r=${PIPESTATUS[0]}
  echo "tandem bench broadcast $*: exit $r after $((SECONDS - t)) s"
  return "$r"
}

say "bench: tandem bench broadcast --bytes $BENCH_BYTES --gpus 2"
bench || finish 9 "FAIL (tandem bench broadcast; its message above names the rank and error)"

# Informative only: what pipelining and the bucket size buy on this machine.
if [ "$SWEEP" = 1 ] && [ $SECONDS -lt 420 ]; then
  say "sweep: depth 1 (unpipelined), bucket 256 MiB, bucket 1024 MiB"
  bench --depth 1
  bench --bucket-mb 256
  bench --bucket-mb 1024
else
  say "sweep skipped (TANDEM_BENCH_SWEEP=$SWEEP, $SECONDS s used)"
fi
say "bench summary (first line: the default run)"
grep '^BENCH-BROADCAST' "$BENCH_LOG"
finish 0 "PASS"
