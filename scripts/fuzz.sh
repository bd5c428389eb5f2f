#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ (clang, ASan + UBSan, no LibTorch) in
# build-fuzz/ and runs each for a while on its seed corpus (fuzz/corpus/<t>/).
#
#   scripts/fuzz.sh [--seconds N] [--target T]... [--runs N] [--seed S] [--build-only]
#
# --seconds N  time per target (default 20); --runs N stops after N executions
# instead (both may be given: the first reached ends the run).
# --target T   run only fuzz_T (repeatable; default: every target).
# FUZZ_BUILD_JOBS (environment): build jobs, default 1.
# --seed S     libFuzzer's random seed (default: a new one each run); with
#              --runs, a fixed seed makes the run repeatable (CI uses it).
# Prints per target: executions, exec/s, crashes. Exits 1 when any target
# crashed (ASan/UBSan report, abort, timeout, out of memory); the crashing
# input is kept under build-fuzz/crashes/<target>/. New inputs found while
# running go to build-fuzz/corpus/<target>/ (the committed seeds stay as they
# are). Needs clang++ and libFuzzer (Debian: clang, libfuzzer-14-dev).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=20
runs=0
seed=0
build_only=0
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --target) targets+=("$2"); shift 2 ;;
    --build-only) build_only=1; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "fuzz.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "fuzz.sh: --seconds wants a whole number, got '$seconds'" >&2; exit 2; }
[[ "$runs" =~ ^[0-9]+$ ]] || { echo "fuzz.sh: --runs wants a whole number, got '$runs'" >&2; exit 2; }
[[ "$seed" =~ ^[0-9]+$ ]] || { echo "fuzz.sh: --seed wants a whole number, got '$seed'" >&2; exit 2; }

all_targets=()
for f in fuzz/fuzz_*.cpp; do
  t="${f#fuzz/fuzz_}"; all_targets+=("${t%.cpp}")
done
if [ "${#targets[@]}" -eq 0 ]; then targets=("${all_targets[@]}"); fi
for t in "${targets[@]}"; do
  [ -f "fuzz/fuzz_$t.cpp" ] || { echo "fuzz.sh: no target '$t' (have: ${all_targets[*]})" >&2; exit 2; }
done

CXX="${CXX:-$(command -v clang++ || command -v clang++-14 || true)}"
[ -n "$CXX" ] || { echo "fuzz.sh: clang++ not found (apt-get install clang libfuzzer-14-dev)" >&2; exit 2; }
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
start=$(date +%s)
if [ ! -f build-fuzz/build.ninja ]; then
  cmake -S . -B build-fuzz -G Ninja -DTANDEM_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER="$CXX" "${launcher[@]}" >/dev/null
fi
cmake --build build-fuzz -j "${FUZZ_BUILD_JOBS:-1}" --target "${targets[@]/#/fuzz_}"
echo "fuzz.sh: build took $(( $(date +%s) - start )) s"
[ "$build_only" -eq 1 ] && exit 0

failed=0
printf '%-20s %12s %10s %8s\n' target executions exec/s crashes
for t in "${targets[@]}"; do
  corpus=build-fuzz/corpus/$t crashes=build-fuzz/crashes/$t log=build-fuzz/logs/$t.log
  mkdir -p "$corpus" "$crashes" "$(dirname "$log")"
  seeds=()
  [ -d "fuzz/corpus/$t" ] && seeds=("fuzz/corpus/$t")
  args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536
        -artifact_prefix="$crashes/" -print_final_stats=1)
  [ "$runs" -gt 0 ] && args+=(-runs="$runs")
  [ "$seed" -gt 0 ] && args+=(-seed="$seed")
  [ -f "fuzz/corpus/$t.dict" ] && args+=(-dict="fuzz/corpus/$t.dict")
  stamp=build-fuzz/logs/$t.start; touch "$stamp"
  rc=0
  ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" UBSAN_OPTIONS="print_stacktrace=1" \
    "build-fuzz/fuzz/fuzz_$t" "${args[@]}" "$corpus" "${seeds[@]}" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  n_crashes=$(find "$crashes" -type f -newer "$stamp" | wc -l)
  if [ "$rc" -ne 0 ] && [ "$n_crashes" -eq 0 ]; then n_crashes=1; fi
  printf '%-20s %12s %10s %8s\n' "$t" "${execs:-?}" "${speed:-?}" "$n_crashes"
  if [ "$rc" -ne 0 ] || [ "$n_crashes" -ne 0 ]; then
    failed=1
    echo "  fuzz_$t failed (exit $rc): see $log; inputs in $crashes/" >&2
    grep -m1 -A12 "ERROR: \|runtime error\|deadly signal" "$log" >&2 || tail -20 "$log" >&2
  fi
done
echo "fuzz.sh: total $(( $(date +%s) - start )) s"
exit "$failed"
