#!/usr/bin/env bash
# Builds the test suite with sanitizers in its own build directory and runs it.
#
#   scripts/sanitize.sh [asan|tsan|all] [extra ctest arguments...]
#
#   asan  build-asan/: AddressSanitizer + UndefinedBehaviorSanitizer (UBSan
#         findings abort the test); LeakSanitizer on.
#   tsan  build-tsan/: ThreadSanitizer.
#   all   both, asan first.
#
# Which tests each mode runs, the suppressions and why, the findings and the
# timings are in docs/sanitizers.md. Suppression files: scripts/sanitizers/.
# Environment: TANDEM_JOBS (build jobs, default 2), CXX (compiler; GCC 12 by
# default; clang++-14 untried), CCACHE_* (ccache is used when installed).
# Exit status: non-zero when a build or a test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
supp=$root/scripts/sanitizers

mode=${1:-asan}
shift || true
case $mode in asan|tsan|all) ;; *)
  echo "usage: scripts/sanitize.sh [asan|tsan|all] [ctest args...]" >&2; exit 2;;
esac

# Tests left out of every sanitized run: the e2e tests drive the tandem binary
# through Python for minutes each, mostly through LibTorch (uninstrumented),
# and their deadlines are tuned for an unsanitized build; the console page and
# tmux tests need Chromium / tmux and test no C++ of ours that the unit tests
# do not; the bench smokes time things. See docs/sanitizers.md.
common_exclude='^(e2e_|console_page_test$|top_tmux_test$|bench_)'
# TSan runs the tests that neither compute with LibTorch nor start the tandem
# binary (an allowlist, so that a new test is added here on purpose). LibTorch
# computes on an OpenMP pool (libgomp, uninstrumented): its threads hand
# tensors over through synchronisation TSan cannot see, and a TSan-built
# LibTorch is not packaged. The tests left out (policy, learner, loss, HF
# import/export, batch generation, the binary-driven ones) run under asan.
# control_endpoint_test is left out too: it forks child processes that start
# an actor system, and TSan refuses threads started after a fork of a
# multi-threaded process ("starting new threads after multi-threaded fork is
# not supported"); the handshake and listener it drives are in
# control_handshake_test, which TSan runs.
tsan_tests=(
  tasks_test overlong_penalty_test math_grader_test http_scorer_test command_scorer_test
  bpe_tokenizer_test text_tokenizer_test prompt_format_test json_reader_test json_writer_test
  file_system_test atomic_file_test checkpoint_store_test run_lock_test tfevents_test
  advantages_test learner_state_test lr_schedule_test safetensors_test
  config_loader_test cluster_test prompt_config_test hf_run_config_test
  work_buffer_test actor_registry_test health_cell_test weights_blob_test protocol_test
  reward_plugin_test pipeline_failure_test dynamic_sampling_test durable_test gate_test
  sampler_reset_test head_link_test sampler_test evaluator_test prompt_filter_test
  transport_test sim_test nccl_actor_test wiring_test evaluation_test cli_flags_test
  run_journal_test weight_roster_test supervisor_test broadcast_test
  pipeline_figures_test request_replay_test staleness_bench_test reward_bench_test
  watchdog_test prometheus_text_test top_view_test top_command_test health_monitor_test
  console_state_test console_stream_test bounded_task_queue_test http_console_test
  entropy_control_test utf8_test yaml_guard_test join_ledger_test run_secret_test
  data_plane_auth_test control_handshake_test
)
tsan_regex="^($(IFS='|'; echo "${tsan_tests[*]}"))\$"

launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi

# build <dir> <sanitizer> [targets...]: configure, then build the targets
# (default: everything but the header check).
build() {
  local dir=$1 san=$2
  shift 2
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DTANDEM_SANITIZERS="$san" -DTANDEM_HEADER_CHECK=OFF "${launcher[@]}"
  local targets=()
  (($#)) && targets=(--target "$@")
  cmake --build "$dir" -j "${TANDEM_JOBS:-2}" "${targets[@]}"
}

run_asan() {
  local t0=$SECONDS
  build build-asan address
  local t1=$SECONDS
  export ASAN_OPTIONS="detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1"
  export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
  # halt_on_error=1: the one recoverable UBSan check (null, CMakeLists.txt)
  # still aborts unless ubsan.supp names it.
  export UBSAN_OPTIONS="suppressions=$supp/ubsan.supp:print_stacktrace=1:halt_on_error=1"
  local rc=0
  ctest --test-dir build-asan --output-on-failure -j 1 -E "$common_exclude" "$@" || rc=$?
  echo "asan: build $((t1 - t0)) s, tests $((SECONDS - t1)) s, exit $rc"
  return $rc
}

run_tsan() {
  local t0=$SECONDS
  build build-tsan thread "${tsan_tests[@]}"
  local t1=$SECONDS
  export TSAN_OPTIONS="suppressions=$supp/tsan.supp:second_deadlock_stack=1:halt_on_error=0:exitcode=66:history_size=4"
  # Cases that bound wall-clock time (linear-time checks on 10 MB inputs,
  # 0.5 s) cannot hold under TSan's 5-15x slowdown; asan runs them.
  export GTEST_FILTER='-GradeAdversarial.*:R1Reward.AdversarialTextScoresInLinearTime'
  local rc=0
  ctest --test-dir build-tsan --output-on-failure -j 1 -R "$tsan_regex" "$@" || rc=$?
  echo "tsan: build $((t1 - t0)) s, tests $((SECONDS - t1)) s, exit $rc"
  return $rc
}

status=0
case $mode in
  asan) run_asan "$@" || status=$?;;
  tsan) run_tsan "$@" || status=$?;;
  all) run_asan "$@" || status=$?; run_tsan "$@" || status=$?;;
esac
exit $status
