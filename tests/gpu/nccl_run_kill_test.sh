#!/usr/bin/env bash
# nccl_run_kill_test.sh TANDEM_BINARY REPO_ROOT -- a two-GPU training run
# (configs/gpu-2/nccl.yaml: learner on GPU 0, sampler process on GPU 1,
# weights over NCCL) whose sampler process is SIGKILLed in the middle of the
# broadcast of version 5 (TANDEM_FAULT_NCCL_DIE=5:3: right before it posts
# bucket 4 of 44). Checks, from the run's own log and metrics:
#   1. the learner reports a typed error (collective_timeout or peer_down)
#      naming epoch 1 and version 5, within the bucket's deadline (2 s base +
#      16 MiB at 1 GB/s) plus 3 s of slack after the kill;
#   2. a replacement sampler process (started here, as an operator would)
#      joins, and the learner opens a new epoch (2 or later) with it;
#   3. versions after the failure still travel over NCCL (the sampler
#      installs them), and the run finishes all its steps: nothing lost.
# Exit 0 pass, 77 skip (fewer than 2 GPUs), 1 fail. Every wait has a deadline.
set -uo pipefail
TANDEM=${1:?tandem binary}
ROOT=${2:?repo root}
GPUS=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
if [ "${GPUS:-0}" -lt 2 ]; then
  echo "SKIP: needs 2 GPUs (found ${GPUS:-0})"
  exit 77
fi
export NCCL_NVLS_ENABLE=${NCCL_NVLS_ENABLE:-0}
WORK=$(mktemp -d)
RUN= REPL=
cleanup() {
  # Only the pids this script started (an empty list must not become "kill 0").
  local pids="$RUN $REPL"
  if [ -n "${pids// /}" ]; then
    kill $pids 2>/dev/null; sleep 1; kill -9 $pids 2>/dev/null
  fi
  [ -n "${TANDEM_TEST_LOG_DIR:-}" ] && cp "$WORK/run.log" "$TANDEM_TEST_LOG_DIR/nccl_run_kill_test.log" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
STEPS=40
# A 181M-parameter model (689 MiB per version, 44 buckets of 16 MiB): a
# version far larger than NCCL's staging buffers between two GPUs (tens of
# MiB), so the learner's broadcast cannot complete into them and must notice
# the dead receiver. (A version that fits in those buffers completes on the
# learner's side without the receiver; the control plane's down message then
# drops the sampler instead.)
sed -e "s#output_dir: runs/gpu-2-nccl#output_dir: $WORK/out#" \
    -e "s#hidden_size: 512#hidden_size: 1024#" -e "s#num_layers: 8#num_layers: 16#" \
    -e "s#intermediate_size: 1408#intermediate_size: 2816#" \
    -e "s#steps: 400#steps: $STEPS#" -e "s#target_reward: 0.95#target_reward: 0#" \
    "$ROOT/configs/gpu-2/nccl.yaml" > "$WORK/run.yaml"
LOG=$WORK/run.log
fail() { echo "FAIL: $*"; echo "---- run log (tail)"; tail -60 "$LOG"; exit 1; }

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# Waits until `pattern` appears in the log (sets WAITED_MS) or the deadline
# passes.
wait_for() { # wait_for <pattern> <deadline s>
  local start=$(now_ms)
  while ! grep -qE "$1" "$LOG" 2>/dev/null; do
    if ! kill -0 "$RUN" 2>/dev/null; then echo "(the run exited)"; return 2; fi
    if [ $(( $(now_ms) - start )) -gt $(( $2 * 1000 )) ]; then return 1; fi
    sleep 0.05
  done
  WAITED_MS=$(( $(now_ms) - start ))
}

TANDEM_FAULT_NCCL_DIE=5:3 "$TANDEM" run "$WORK/run.yaml" --quiet > "$LOG" 2>&1 &
RUN=$!
wait_for 'SIGKILL mid-broadcast: version 5, bucket 3' 240 || fail "the sampler never reached version 5 over NCCL"
echo "sampler process killed mid-broadcast of version 5"
wait_for 'nccl: (collective_timeout|peer_down): epoch 1, version 5' 8 \
  || fail "no typed error from the learner within 8 s of the kill"
echo "learner: typed error ${WAITED_MS} ms after the kill (bucket budget 2017 ms + 3 s slack)"
[ "$WAITED_MS" -le 5100 ] || fail "error came ${WAITED_MS} ms after the kill (> 5.1 s)"
grep -E 'nccl: (collective_timeout|peer_down): epoch 1, version 5' "$LOG" | head -1

env -u TANDEM_FAULT_NCCL_DIE "$TANDEM" worker --config "$WORK/run.yaml" --head 127.0.0.1:4250 \
  --process sampler-gpu1 >> "$LOG" 2>&1 &
REPL=$!
wait_for 'nccl: epoch [2-9][0-9]* open with 1 member' 120 \
  || fail "no new NCCL epoch with the replacement sampler"
grep -E 'nccl: epoch [0-9]+ open' "$LOG"

for i in $(seq 1 600); do kill -0 "$RUN" 2>/dev/null || break; sleep 0.5; done
kill -0 "$RUN" 2>/dev/null && fail "run still going after 300 s"
wait "$RUN"; rc=$?
[ "$rc" -eq 0 ] || fail "tandem run exited $rc"
steps=$(grep -c '"version"' "$WORK/out/metrics.jsonl" || true)
[ "$steps" -ge "$STEPS" ] || fail "metrics.jsonl has $steps steps, expected $STEPS"
last=$(grep -o '"mismatch_tokens":[0-9]*' "$WORK/out/metrics.jsonl" | tail -1)
echo "run finished: $steps steps; last step $last"
grep -c 'nccl: collective_timeout\|nccl: peer_down' "$LOG" | xargs echo "typed NCCL errors logged:"
echo "PASS"
