#!/usr/bin/env bash
# gpu-build.sh -- run ON THE GPU MACHINE (device tool, nvidia-h200 kind), from any cwd.
#
# Configures, builds and tests tandem against the machine's own LibTorch 2.11
# (CUDA build, from the torch pip wheel in the image's python3 venv) and the
# Debian 12 prefix made by scripts/fetch-gpu-deps.sh (CAF 0.17.6, yaml-cpp 0.7,
# GoogleTest 1.12); docs/gpu-build.md explains the recipe.
#
# Prerequisite, here on Debian 12:  bash scripts/fetch-gpu-deps.sh
# Then, through the device tool (one call does configure + build + tests):
#   run(carry=[".gpu-deps/prefix"], timeout_s=540,
#       command="set -o pipefail; bash scripts/gpu-build.sh 2>&1 | tee $OUT/log")
#
# Arguments are passed to ctest; with none, it runs every test except the long
# e2e_learning (`-E e2e_learning`). The GPU paths among them:
# nccl_broadcast_gpu_test and nccl_run_kill_test (2 GPUs, else skipped) and
# e2e_gpu_run (decode + learn on a GPU through `tandem run`; with
# TANDEM_REQUIRE_GPU=1, set here, it fails instead of skipping when it finds
# no GPU or a build without CUDA). Environment knobs (defaults in brackets):
#   TANDEM_GPU_DEPS   prefix from fetch-gpu-deps.sh   [<repo>/.gpu-deps/prefix]
#   TANDEM_GPU_BUILD  build directory                 [<repo>/build-gpu]
#   TANDEM_JOBS       ninja jobs                      [nproc]
#   TANDEM_CTEST_JOBS ctest -j                        [4]
#   OMP_NUM_THREADS   LibTorch intra-op threads/test  [4]  (4 tests x 4 threads = 16 cores)
#   TANDEM_PYTHON     python that has torch           [python3]
# The build is RelWithDebInfo with -DTANDEM_WITH_CUDA=ON. Ninja runs with -k 0 so
# one call reports every compile error. Exit status: non-zero if configure, build,
# the runtime-library check or any test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DEPS=${TANDEM_GPU_DEPS:-$ROOT/.gpu-deps/prefix}
BUILD=${TANDEM_GPU_BUILD:-$ROOT/build-gpu}
JOBS=${TANDEM_JOBS:-$(nproc)}
PY=${TANDEM_PYTHON:-python3}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}
export TANDEM_REQUIRE_GPU=1
if [ $# -eq 0 ]; then set -- -E e2e_learning; fi

if [ ! -f "$DEPS/include/caf/all.hpp" ]; then
  echo "gpu-build: no prefix at $DEPS; run scripts/fetch-gpu-deps.sh on Debian 12 and carry .gpu-deps/prefix" >&2
  exit 2
fi

# The venv's bin/ holds cmake and ninja; nvcc must match torch's CUDA major.
PY_BIN=$(command -v "$PY")
export PATH="$("$PY" -c 'import sys; print(sys.prefix)')/bin:/usr/local/cuda/bin:$PATH"
export CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
TORCH_PREFIX=$("$PY" -c 'import torch; print(torch.utils.cmake_prefix_path)')
# NCCL for tandem_nccl: the wheel's nvidia/nccl (namespace package; lib/libnccl.so.2 only).
NCCL_ROOT=${TANDEM_NCCL_ROOT:-$("$PY" -c 'import nvidia.nccl as m; print(list(m.__path__)[0])' 2>/dev/null || true)}

echo "== gpu-build: environment"
uname -m; (. /etc/os-release && echo "$PRETTY_NAME") || true
g++ --version | head -1; cmake --version | head -1; echo "ninja $(ninja --version)"
nvcc --version | tail -2 | head -1 || true
"$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda,
  "cxx11abi", torch._C._GLIBCXX_USE_CXX11_ABI, "gpu", torch.cuda.is_available())'
echo "nproc $(nproc), jobs $JOBS, OMP_NUM_THREADS $OMP_NUM_THREADS"

t0=$SECONDS
echo "== gpu-build: configure"
cmake -S "$ROOT" -B "$BUILD" -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTANDEM_WITH_CUDA=ON \
  -DTANDEM_NCCL_ROOT="$NCCL_ROOT" \
  -DCMAKE_PREFIX_PATH="$DEPS;$TORCH_PREFIX" \
  -DCMAKE_CUDA_COMPILER="$CUDA_HOME/bin/nvcc" \
  -DTANDEM_CHARTJS="$DEPS/share/javascript/chart.js/chart.min.js" \
  -DPython3_EXECUTABLE="$PY_BIN"
grep -E '^(CAF_core_LIBRARY|CAF_INCLUDE_DIR|yaml-cpp_DIR|GTest_DIR|Torch_DIR|TANDEM_NCCL_LIBRARY|TANDEM_WITH_NCCL):' "$BUILD/CMakeCache.txt" || true
t1=$SECONDS

echo "== gpu-build: build (-j $JOBS)"
cmake --build "$BUILD" -j "$JOBS" -- -k 0
t2=$SECONDS

echo "== gpu-build: runtime libraries of build-gpu/app/tandem"
ldd "$BUILD/app/tandem" | grep -E 'caf|yaml|torch|c10|cudart|not found' || true
missing=$(ldd "$BUILD/app/tandem" "$BUILD"/tests/*_test 2>&1 | grep 'not found' || true)
if [ -n "$missing" ]; then
  echo "$missing"; echo "gpu-build: unresolved shared libraries" >&2
  exit 3
fi

echo "== gpu-build: ctest $*"
rc=0
(cd "$BUILD" && ctest --output-on-failure -j "${TANDEM_CTEST_JOBS:-4}" "$@") || rc=$?
t3=$SECONDS
echo "== gpu-build: configure $((t1 - t0)) s, build $((t2 - t1)) s, tests $((t3 - t2)) s, ctest rc=$rc"
exit $rc
