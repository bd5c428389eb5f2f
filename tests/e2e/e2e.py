#!/usr/bin/env python3
"""End-to-end checks of the real tandem binary (run by ctest).

usage: e2e.py TANDEM_BINARY CHECK
  learning     a short run from random weights improves the reward
  two_process  a run whose only sampler (and reward) live in worker processes
  bad_config   config mistakes exit 2 with file:line:col and start nothing
  worker_killed  a worker process is killed mid-run; training finishes anyway

Every wait has a deadline (subprocess timeout); the summary JSON and
metrics.jsonl written by the run are the evidence.
"""
import json
import os
import re
import signal
import time
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data")


def run(binary, args, timeout):
    p = subprocess.run([binary] + args, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def metrics(out_dir):
    with open(os.path.join(out_dir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def summary(out_dir):
    with open(os.path.join(out_dir, "summary.json")) as f:
        return json.loads(f.read())


def mean(xs):
    return sum(xs) / max(1, len(xs))


def check(cond, msg):
    if not cond:
        print("FAIL: " + msg)
        sys.exit(1)
    print("ok: " + msg)


def learning(binary):
    out = tempfile.mkdtemp(prefix="tandem-e2e-")
    rc, so, se = run(binary, ["run", os.path.join(DATA, "e2e_learning.yaml"),
                              "--output", out, "--quiet"], timeout=600)
    check(rc == 0, "run exits 0 (rc=%d, stderr tail: %s)" % (rc, se[-500:]))
    rows = metrics(out)
    s = summary(out)
    check(s["groups_consumed"] == s["steps"] * 16, "every step consumed its 16 groups")
    check(s["staleness_violations"] == 0, "staleness bound held")
    check(all(r["staleness_max"] <= 1 for r in rows), "no token older than eta=1")
    first = mean([r["reward_mean"] for r in rows[:10]])
    last = mean([r["reward_mean"] for r in rows[-10:]])
    check(last >= first + 0.2, "reward improved: first 10 steps %.3f -> last 10 %.3f" % (first, last))
    check(os.path.getsize(os.path.join(out, "weights.tndm")) > 1000, "final weights written")


def two_process(binary):
    out = tempfile.mkdtemp(prefix="tandem-e2e2-")
    rc, so, se = run(binary, ["run", os.path.join(DATA, "e2e_two_process.yaml"),
                              "--output", out, "--quiet"], timeout=600)
    check(rc == 0, "two-process run exits 0 (rc=%d, stderr tail: %s)" % (rc, se[-800:]))
    check("worker process" in se, "head launched worker processes")
    s = summary(out)
    rows = metrics(out)
    check(s["steps"] == 120 and len(rows) == 120, "trained all 120 steps through the worker")
    check(all(r["samplers"] == 1 for r in rows), "the only sampler was the remote one")
    first = mean([r["reward_mean"] for r in rows[:10]])
    last = mean([r["reward_mean"] for r in rows[-10:]])
    check(last >= first + 0.05, "reward improved through the remote sampler: %.3f -> %.3f" % (first, last))


def wait_for(pred, deadline_s, what):
    """Polls a condition on files the run writes, with a deadline."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.05)
    check(False, "timed out waiting for " + what)


def worker_killed(binary):
    out = tempfile.mkdtemp(prefix="tandem-e2e4-")
    err_path = os.path.join(out, "stderr.log")
    with open(err_path, "w") as err:
        p = subprocess.Popen([binary, "run", os.path.join(DATA, "e2e_worker_killed.yaml"),
                              "--output", out, "--quiet"], stdout=subprocess.PIPE,
                             stderr=err, text=True)
    pids = []

    def worker_pid():
        m = re.search(r"pids ([0-9 ]+)", open(err_path).read())
        if m:
            pids.extend(int(x) for x in m.group(1).split())
        return bool(pids)

    def steps_done():
        path = os.path.join(out, "metrics.jsonl")
        return os.path.exists(path) and sum(1 for _ in open(path)) >= 10

    wait_for(worker_pid, 60, "the worker pid")
    wait_for(steps_done, 120, "10 trained steps")
    os.kill(pids[0], signal.SIGKILL)
    try:
        so, _ = p.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        p.kill()
        check(False, "run did not finish after the worker was killed")
    check(p.returncode == 0, "run finished after the worker was killed (rc=%d)" % p.returncode)
    s = summary(out)
    rows = metrics(out)
    check(s["steps"] == 120, "all 120 steps trained")
    check(s["groups_consumed"] == 120 * 8, "every group consumed exactly once (%d)" % s["groups_consumed"])
    check(rows[0]["samplers"] == 2, "training started once both samplers had joined")
    check(rows[-1]["samplers"] == 1, "the killed sampler left the pool")
    check(s["staleness_violations"] == 0, "staleness bound held")


def bad_config(binary):
    bad = os.path.join(DATA, "bad_run.yaml")
    out = tempfile.mkdtemp(prefix="tandem-e2e3-")
    os.rmdir(out)
    rc, so, se = run(binary, ["validate", bad], timeout=60)
    check(rc == 2, "validate exits 2 on a bad file (rc=%d)" % rc)
    lines = [l for l in se.splitlines() if l.startswith(bad + ":")]
    check(len(lines) == 3, "all three mistakes reported with file:line:col (%r)" % se)
    check("learner.lrr" in se and "did you mean 'lr'" in se, "typo named with a suggestion")
    rc, so, se = run(binary, ["run", bad, "--output", out], timeout=60)
    check(rc == 2, "run refuses a bad file with exit 2")
    check(not os.path.exists(out), "nothing was started or written")
    rc, so, se = run(binary, ["run", os.path.join(DATA, "missing.yaml")], timeout=60)
    check(rc == 2 and "missing.yaml" in se, "missing file named")
    out2 = tempfile.mkdtemp(prefix="tandem-e2e5-")
    os.rmdir(out2)
    rc, so, se = run(binary, ["run", os.path.join(DATA, "jsonl_too_long.yaml"), "--output", out2],
                     timeout=60)
    check(rc == 2 and "model.max_seq_len" in se and not os.path.exists(out2),
          "a dataset prompt longer than max_seq_len is refused before start (%r)" % se[-300:])
    rc, so, se = run(binary, ["--help"], timeout=60)
    check(rc == 0 and "tandem run CONFIG" in so, "--help lists the commands")


if __name__ == "__main__":
    {"learning": learning, "two_process": two_process, "bad_config": bad_config,
     "worker_killed": worker_killed}[sys.argv[2]](sys.argv[1])
