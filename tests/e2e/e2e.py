#!/usr/bin/env python3
"""End-to-end checks of the real tandem binary (run by ctest).

usage: e2e.py TANDEM_BINARY CHECK
  learning     configs/basic/run.yaml, as shipped, learns the addition table
               (accuracy far above what one fixed answer can score)
  basic_smoke  configs/basic/run.yaml runs a few steps and writes every output
  two_process  a run whose only sampler (and reward) live in worker processes
  interrupt    Ctrl-C (SIGINT) ends a multi-process run cleanly; a killed head
               leaves no worker process behind either
  worker_hung  a worker process that stops answering (SIGSTOP) is dropped by
               the middleman's heartbeats, long before any request deadline
  gpu_run      decode and learn on a GPU through `tandem run` (skipped without one)
  bad_config   config mistakes exit 2 with file:line:col and start nothing
  worker_killed  a worker process is killed mid-run; training finishes anyway
  local_3proc  the one-machine cluster topology: head + 2 sampler processes
  scale        samplers scaled 1 -> 4 -> 2 during a run with `tandem scale`
  two_node_netns  head and worker node in two network namespaces (needs root)
  control_attacks  malformed handshakes on a training head's control port (a
               BASP header announcing 1 GiB, garbage, silence, a wrong proof,
               a flood, an authenticated 1 GiB announcement): training goes
               on, no worker is lost, the head's memory stays flat
  hf           a short run from the tiny Qwen2 checkpoint with its tokenizer.json
  head_killed  the head is SIGKILLed mid-run: the supervisor restarts it from
               its checkpoint, the same workers rejoin, the audit is clean
  durable_failures  unwritable checkpoints (reported; required: the run stops),
               the run lock, a resume under another model shape refused
  chaos        tandem chaos kills workers and the head for 18 s; clean audit
  exact_resume a synchronous run SIGKILLed and resumed ends with weights
               byte-identical to the uninterrupted run
  worker_rejoin  a worker process outlives its killed head and rejoins a new
               one on the same address; with no head coming back it exits 1
               after timeouts.rejoin_s
  export       tandem export writes a run's checkpoint as a Hugging Face
               directory holding that checkpoint's weights bit for bit
  reward_http  reward.kind: http against a python reward server: a run of 20
               steps ends ok; a server answering garbage to some calls makes
               the run count reward_invalid and go on; one answering only
               garbage never gets a step done, and its stop names why
  reward_command  reward.kind: command with configs/reward/my_reward.py
  hf_eval      a run from the tiny Qwen2 fixture with a chat template, eval.every
               and eval.samples_every: Hugging Face copies of each checkpoint
               and of the final weights, eval.jsonl, samples.jsonl and the
               eval fields of metrics.jsonl; `tandem generate` and `tandem
               eval` on them and on a checkpoint of configs/basic/run.yaml
  prompt_formats  task.format: r1 on the arithmetic task (starts, scores,
               writes metrics with the lr schedule and top-k), the Qwen2.5
               example config on the tiny fixture, a GSM8K-style file,
               over-long prompts dropped and counted, and a source with no
               prompt short enough stopping with a clear error

Every wait has a deadline (subprocess timeout); the summary JSON and
metrics.jsonl written by the run are the evidence.
"""
import array
import codecs
import glob
import json
import math
import os
import random
import re
import select
import selectors
import socket
import shutil
import signal
import struct
import time
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data")
BASIC = os.path.join(HERE, "..", "..", "configs", "basic", "run.yaml")


def run(binary, args, timeout):
    p = subprocess.run([binary] + args, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def metrics(out_dir):
    with open(os.path.join(out_dir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def proto_fields(buf):
    """(field number, value) of a protobuf message: ints for varints,
    bytes for fixed64/fixed32/length-delimited fields."""
    i, out = 0, []
    while i < len(buf):
        key, shift = 0, 0
        while True:
            b = buf[i]; i += 1
            key |= (b & 0x7F) << shift; shift += 7
            if not b & 0x80:
                break
        field, wire = key >> 3, key & 7
        if wire == 0:
            v, shift = 0, 0
            while True:
                b = buf[i]; i += 1
                v |= (b & 0x7F) << shift; shift += 7
                if not b & 0x80:
                    break
        elif wire in (1, 5):
            n = 8 if wire == 1 else 4
            v = buf[i:i + n]; i += n
        elif wire == 2:
            n, shift = 0, 0
            while True:
                b = buf[i]; i += 1
                n |= (b & 0x7F) << shift; shift += 7
                if not b & 0x80:
                    break
            v = buf[i:i + n]; i += n
        else:
            raise ValueError("wire type %d" % wire)
        out.append((field, v))
    return out


def require(cond, msg):
    """check() that prints only a failure (checks inside loops)."""
    if not cond:
        check(False, msg)


def tensorboard_scalars(out_dir):
    """{step: {tag: value}} of every RUN_DIR/tb/events.out.tfevents.* file,
    each record's masked CRC32Cs checked; the first record of each file
    carries file_version "brain.Event:2" (Event fields: 1 wall_time, 2 step,
    3 file_version, 5 summary; Summary.value 1; Value: 1 tag, 2 simple_value)."""
    files = sorted(glob.glob(os.path.join(out_dir, "tb", "events.out.tfevents.*")))
    check(files, "TensorBoard event files in %s/tb" % out_dir)
    scalars = {}
    for path in files:
        with open(path, "rb") as f:
            data = f.read()
        at, first = 0, True
        while at < len(data):
            require(len(data) - at >= 12, "%s: whole record header at %d" % (path, at))
            head = data[at:at + 8]
            (n,) = struct.unpack("<Q", head)
            require(struct.unpack("<I", data[at + 8:at + 12])[0] == masked_crc32c(head),
                  "%s: length CRC at %d" % (path, at))
            body = data[at + 12:at + 12 + n]
            require(len(body) == n and len(data) >= at + 16 + n,
                  "%s: whole record at %d" % (path, at))
            require(struct.unpack("<I", data[at + 12 + n:at + 16 + n])[0] == masked_crc32c(body),
                  "%s: data CRC at %d" % (path, at))
            event = proto_fields(body)
            if first:
                require((3, b"brain.Event:2") in event, "%s starts with its file_version" % path)
            step = next((v for k, v in event if k == 2), 0)
            for k, summary in event:
                if k != 5:
                    continue
                for _, value in proto_fields(summary):
                    fields = dict(proto_fields(value))
                    scalars.setdefault(step, {})[fields[1].decode()] = \
                        struct.unpack("<f", fields[2])[0]
            at += 16 + n
            first = False
        check(not first, "%s: every record whole, its CRCs right" % os.path.basename(path))
    return scalars


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


def accuracy(rows):
    return mean([r["accuracy"] for r in rows])


# A policy that ignores the prompt and always answers one number is right on
# at most 5 of the 25 problems of the 0..4 addition table (sum 4), i.e. an
# accuracy of 0.2 and a reward of 0.9 * 0.2 + 0.1 = 0.28; an untrained one
# scores about 0.
ONE_ANSWER_ACCURACY = 0.2


def learning(binary):
    # The default config as shipped (seed 1, lr 3e-4, 16 x 16 samples per
    # step, two samplers, eta 1), capped at 600 steps to bound CI time.
    # Measured on the 2-core CI machine type while other work shared it:
    # last-10 accuracy at step 600 was 0.61, 0.71, 0.72 and 0.73 in four
    # runs, reached after 47 to 79 s (the uncapped run goes on to its 0.95
    # target). A policy that cannot see the question (a mutation tried while
    # writing this check) ends at 0.205 and a reward of 0.23.
    out = tempfile.mkdtemp(prefix="tandem-e2e-")
    steps = 600
    rc, so, se = run(binary, ["run", BASIC, "--steps", str(steps), "--output", out, "--quiet"],
                     timeout=800)
    check(rc == 0, "run exits 0 (rc=%d, stderr tail: %s)" % (rc, se[-500:]))
    rows = metrics(out)
    s = summary(out)
    check(len(rows) == steps and s["groups_consumed"] == steps * 16,
          "%d steps, each consumed its 16 groups" % len(rows))
    check(s["staleness_violations"] == 0, "staleness bound held")
    check(all(r["staleness_max"] <= 1 for r in rows), "no token older than eta=1")
    first, last = accuracy(rows[:10]), accuracy(rows[-10:])
    check(first <= 0.1, "the untrained policy is (nearly) never right: accuracy %.3f" % first)
    check(last >= 2 * ONE_ANSWER_ACCURACY,
          "learned the table: last-10 accuracy %.3f, at least twice the %.1f of any one "
          "fixed answer" % (last, ONE_ANSWER_ACCURACY))
    r0, r1 = mean([r["reward_mean"] for r in rows[:10]]), mean([r["reward_mean"] for r in rows[-10:]])
    check(r1 >= r0 + 0.3, "reward rose with it: %.3f -> %.3f" % (r0, r1))
    check(os.path.getsize(os.path.join(out, "weights.tndm")) == 32 + 4 * 102592,
          "final weights written")


def basic_smoke(binary):
    out = tempfile.mkdtemp(prefix="tandem-e2e10-")
    rc, so, se = run(binary, ["run", BASIC, "--steps", "5", "--output", out, "--quiet"],
                     timeout=120)
    check(rc == 0, "configs/basic/run.yaml runs (rc=%d, %s)" % (rc, se[-500:]))
    s = summary(out)
    rows = metrics(out)
    check(s["ok"] == 1 and s["reason"] == "trained all steps" and s["steps"] == 5,
          "summary: 5 steps, ok")
    check(len(rows) == 5 and all(0 <= r["accuracy"] <= 1 and r["samplers"] == 2 for r in rows),
          "5 metric rows with accuracy, from both samplers")
    check(s["groups_consumed"] == 5 * 16, "every step consumed its 16 groups")
    # RUN_DIR/tb/: the same records as TensorBoard scalars (CRCs checked),
    # every numeric field but step, as metrics.jsonl has it to float32.
    tb = tensorboard_scalars(out)
    f32 = lambda x: struct.unpack("<f", struct.pack("<f", x))[0]
    numeric = lambda r: {k: f32(v) for k, v in r.items()
                         if k != "step" and isinstance(v, (int, float))}
    check(sorted(tb) == [1, 2, 3, 4, 5] and all("reward_mean" in tb[r["step"]] for r in rows),
          "tb/ holds reward_mean of steps 1..5")
    check(all(tb[r["step"]] == numeric(r) for r in rows),
          "tb/ holds every numeric field of metrics.jsonl, same values (float32)")
    # 102,592 float32 parameters (README) after the 32-byte header.
    check(os.path.getsize(os.path.join(out, "weights.tndm")) == 32 + 4 * 102592,
          "final weights of the 102,592-parameter policy written")
    # The effective config: overrides applied, paths absolute; a restarted
    # head and `tandem resume` read it, whatever happens to the original.
    with open(os.path.join(out, "config.yaml")) as f:
        eff = f.read()
    check(re.search(r"steps: 5\b", eff) and ("output_dir: " + out) in eff,
          "the run directory holds the effective config (--steps 5, absolute output_dir)")
    # A result that cannot be written is a failed run, never "ok": a
    # directory where the writer's temporary file must go blocks each file.
    for blocked, says in (("weights.tndm.tmp", "final weights could not be written"),
                          ("summary.json.tmp", "summary.json"),
                          ("config.yaml.tmp", "config.yaml")):
        out2 = tempfile.mkdtemp(prefix="tandem-e2e10b-")
        os.mkdir(os.path.join(out2, blocked))
        rc, so, se = run(binary, ["run", BASIC, "--steps", "2", "--output", out2, "--quiet"],
                         timeout=120)
        check(rc == 1 and says in so + se,
              "%s unwritable: exit 1, named (rc=%d, %s)" % (blocked, rc, (so + se)[-300:]))
        if blocked == "weights.tndm.tmp":
            check(summary(out2)["ok"] == 0, "the summary says the run did not succeed")
    # The TensorBoard copy cannot be written (a file where tb/ goes): the run
    # trains on, but does not end ok.
    out3 = tempfile.mkdtemp(prefix="tandem-e2e10c-")
    open(os.path.join(out3, "tb"), "w").close()
    rc, so, se = run(binary, ["run", BASIC, "--steps", "2", "--output", out3, "--quiet"],
                     timeout=120)
    s3 = summary(out3)
    check(rc == 1 and s3["ok"] == 0 and "TensorBoard copy" in s3["reason"]
          and s3["run"]["steps"] == 2,
          "tb/ unwritable: 2 steps trained, exit 1, not ok (rc=%d, %s)" % (rc, s3))


def two_process(binary):
    out = tempfile.mkdtemp(prefix="tandem-e2e2-")
    rc, so, se = run(binary, ["run", os.path.join(DATA, "e2e_two_process.yaml"),
                              "--output", out, "--quiet"], timeout=600)
    check(rc == 0, "two-process run exits 0 (rc=%d, stderr tail: %s)" % (rc, se[-800:]))
    check("worker process" in se, "head launched worker processes")
    s = summary(out)
    rows = metrics(out)
    steps = s["steps"]
    check(len(rows) == steps and s["groups_consumed"] == steps * 16,
          "trained all %d steps through the worker" % steps)
    check(all(r["samplers"] == 1 for r in rows), "the only sampler was the remote one")
    # Accuracy, not reward: the format reward alone lifts the reward from 0
    # to 0.1 without the policy learning any sum.
    first, last = accuracy(rows[:10]), accuracy(rows[-10:])
    check(last >= 0.35 and last >= first + 0.3,
          "accuracy rose through the remote sampler: %.3f -> %.3f (one fixed answer: %.1f)"
          % (first, last, ONE_ANSWER_ACCURACY))


PROGRESS = re.compile(r"step (\d+)/\d+ .*\| (\d+) samplers \|")


class Output:
    """The stderr of a running tandem process, read line by line as it comes
    (select with a deadline: the test reacts to what the run reports). Reads
    the pipe itself: lines that arrive together must not wait in a Python
    buffer that select cannot see."""

    def __init__(self, proc):
        self.proc = proc
        self.lines = []
        self.pending = ""
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.fd = proc.stderr.fileno()
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.fd, selectors.EVENT_READ)

    def next_line(self, end):
        """The next whole line ("" at the end of the output), None at `end`."""
        while "\n" not in self.pending:
            left = end - time.monotonic()
            if left <= 0 or not self.sel.select(timeout=left):
                return None
            chunk = os.read(self.fd, 65536)
            if not chunk:
                line, self.pending = self.pending, ""
                return line
            self.pending += self.decoder.decode(chunk)
        line, self.pending = self.pending.split("\n", 1)
        return line + "\n"

    def wait(self, pred, deadline_s, what):
        """Returns the first truthy pred(line) of the lines still to come."""
        end = time.monotonic() + deadline_s
        while True:
            line = self.next_line(end)
            if line is None:
                check(False, "timed out waiting for " + what)
            if not line:
                check(False, "the run ended before " + what + ":\n" + "".join(self.lines[-20:]))
            self.lines.append(line)
            got = pred(line)
            if got:
                return got

    def rest(self, timeout):
        """Waits for the process to end; returns all of its stderr."""
        self.sel.unregister(self.fd)
        _, err = self.proc.communicate(timeout=timeout)
        self.lines.append(self.pending + err)
        self.pending = ""
        return "".join(self.lines)


def progress(line):
    """(step, samplers) of a progress line, else None."""
    m = PROGRESS.search(line)
    return (int(m.group(1)), int(m.group(2))) if m else None


def start(cmd, env=None, session=False):
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                         start_new_session=session)
    return p, Output(p)


def worker_killed(binary):
    out = tempfile.mkdtemp(prefix="tandem-e2e4-")
    p, err = start([binary, "run", os.path.join(DATA, "e2e_worker_killed.yaml"), "--output", out])
    try:
        pids = err.wait(lambda l: re.search(r"pids ([0-9 ]+)", l), 60, "the worker pid")
        err.wait(lambda l: (progress(l) or (0, 0))[0] >= 11, 120, "11 trained steps")
        os.kill(int(pids.group(1).split()[0]), signal.SIGKILL)
        err.rest(timeout=300)
    finally:
        if p.poll() is None:
            p.kill()
    check(p.returncode == 0, "run finished after the worker was killed (rc=%d)" % p.returncode)
    s = summary(out)
    rows = metrics(out)
    check(s["steps"] == 400, "all 400 steps trained")
    check(s["groups_consumed"] == 400 * 8, "every group consumed exactly once (%d)" % s["groups_consumed"])
    check(rows[0]["samplers"] == 2, "training started once both samplers had joined")
    check(any(r["samplers"] == 1 for r in rows), "the killed sampler left the pool")
    ev = events(out)
    check([e["event"] for e in ev].count("worker_start") == 2
          and any(e["event"] == "worker_exit" and e["code"] == 128 + 9 for e in ev),
          "the supervisor logged the worker's death and started a replacement")
    check(rows[-1]["samplers"] == 2, "the replacement joined the pool")
    check(s["staleness_violations"] == 0, "staleness bound held")


def alive(pid):
    """True while `pid` runs (a zombie waiting to be reaped counts as gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def wait_gone(pids, deadline_s):
    """True once every pid has exited, within the deadline. The kernel tells
    us (a pidfd becomes readable when its process exits), nothing polls."""
    fds = []
    try:
        for p in pids:
            try:
                fds.append(os.pidfd_open(p))
            except ProcessLookupError:
                pass  # already gone
        end = time.monotonic() + deadline_s
        pending = list(fds)
        while pending:
            left = end - time.monotonic()
            if left <= 0:
                return False
            ready, _, _ = select.select(pending, [], [], left)
            pending = [f for f in pending if f not in ready]
        return True
    finally:
        for f in fds:
            os.close(f)


def worker_pids(err):
    m = err.wait(lambda l: re.search(r"worker process\(es\), pids ([0-9 ]+)", l), 60,
                 "the worker pids")
    return [int(x) for x in m.group(1).split()]


def interrupt(binary):
    cfg = os.path.join(DATA, "e2e_two_process.yaml")
    # Ctrl-C: the head finishes the run, writes its outputs, stops its workers.
    out = tempfile.mkdtemp(prefix="tandem-e2e11-")
    p, err = start([binary, "run", cfg, "--steps", "100000", "--output", out])
    try:
        pids = worker_pids(err)
        check(len(pids) == 2 and all(alive(x) for x in pids), "two worker processes: %s" % pids)
        err.wait(lambda l: (progress(l) or (0, 0))[0] >= 11, 120, "11 trained steps")
        p.send_signal(signal.SIGINT)
        se = err.rest(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    # An interrupted run is not a success to a scheduler: 130 after SIGINT.
    check(p.returncode == 130, "SIGINT: exit 130 (rc=%d, %s)" % (p.returncode, se[-300:]))
    check("interrupted: finishing the run" in se, "the head said it was finishing")
    s = summary(out)
    rows = metrics(out)
    check(s["reason"] == "interrupted" and s["interrupted"] == 1 and s["ok"] == 0,
          "summary.json: interrupted")
    check(11 <= s["steps"] < 100000 and len(rows) == s["steps"],
          "the metrics of all %d trained steps were kept" % s["steps"])
    # One consistent step: the final checkpoint and the weights are the
    # summary's step (the batch in training was finished and counted).
    with open(os.path.join(out, "weights.tndm"), "rb") as f:
        version = struct.unpack("<8sQ", f.read(16))[1]
    check(version == s["steps"], "weights v%d == summary steps %d" % (version, s["steps"]))
    check(s["checkpoint_step"] == s["steps"], "final checkpoint at step %d" % s["checkpoint_step"])
    check(os.path.getsize(os.path.join(out, "weights.tndm")) == 32 + 4 * 102592,
          "final weights written")
    check(not any(alive(x) for x in pids), "no worker process left behind")
    # A supervisor killed outright cannot stop its children: the head and the
    # workers notice on their own (parent-death signal) and leave.
    out = tempfile.mkdtemp(prefix="tandem-e2e12-")
    p, err = start([binary, "run", cfg, "--steps", "100000", "--output", out])
    try:
        pids = worker_pids(err)
        err.wait(lambda l: (progress(l) or (0, 0))[0] >= 11, 120, "11 trained steps")
        p.kill()
        p.wait(timeout=30)
        gone = wait_gone(pids, 15)
    finally:
        if p.poll() is None:
            p.kill()
        for x in pids:  # never leave one behind, whatever the outcome
            if alive(x):
                os.kill(x, signal.SIGKILL)
    check(gone, "SIGKILL of the head: its workers exited within 15 s")
    # A head that dies before its worker armed PR_SET_PDEATHSIG: the worker
    # sees its parent is not the head that started it and leaves at once.
    env = dict(os.environ, TANDEM_PARENT_PID="999999999")
    w = subprocess.run([binary, "worker", "--config", os.path.join(DATA, "e2e_two_process.yaml"),
                        "--head", "127.0.0.1:9", "--process", "sampler-p0"],
                       capture_output=True, text=True, timeout=30, env=env)
    check(w.returncode == 1 and "is gone" in w.stderr,
          "a worker whose head died before it started exits at once (rc=%d)" % w.returncode)


def worker_hung(binary):
    # 600 steps: the healthy sampler alone trains ~40 steps/s on a fast host,
    # so the run outlasts the heartbeat timeout by far (120 steps did not).
    # generate_s is 120 s in this config: only the middleman's heartbeats
    # (500 ms interval, 2 s connection timeout; wiring/actor_system.cpp) can drop
    # the stopped worker within the 15 s allowed here.
    out = tempfile.mkdtemp(prefix="tandem-e2e13-")
    p, err = start([binary, "run", os.path.join(DATA, "e2e_worker_hung.yaml"), "--output", out])
    pids = []
    try:
        pids = worker_pids(err)
        err.wait(lambda l: (progress(l) or (0, 0))[0] >= 11, 120, "11 trained steps")
        os.kill(pids[0], signal.SIGSTOP)
        t0 = time.monotonic()
        err.wait(lambda l: (progress(l) or (0, 0))[1] == 1, 15,
                 "the hung worker's sampler to leave the pool")
        took = time.monotonic() - t0
        se = err.rest(timeout=300)
    finally:
        if p.poll() is None:
            p.kill()
        for x in pids:
            if alive(x):
                os.kill(x, signal.SIGKILL)
    print("hung worker dropped %.1f s after SIGSTOP" % took)
    check(took < 15, "the hung worker was dropped %.1f s after it stopped (generate_s: 120 s)"
          % took)
    check(p.returncode == 0, "run finished (rc=%d, %s)" % (p.returncode, se[-300:]))
    s = summary(out)
    rows = metrics(out)
    check(s["steps"] == 600 and len(rows) == 600, "all 600 steps trained")
    check(s["groups_consumed"] == 600 * 8, "every group consumed exactly once (%d)"
          % s["groups_consumed"])
    check(s["groups_requeued"] > 0 and s["groups_dropped"] == 0,
          "the hung sampler's groups were requeued (%d), none dropped" % s["groups_requeued"])
    check(rows[0]["samplers"] == 2 and rows[-1]["samplers"] == 1,
          "training started with both samplers and ended with the healthy one")


def audit(binary, out):
    rc, so, se = run(binary, ["audit", out, "--json"], timeout=60)
    check(rc in (0, 1), "tandem audit ran (rc=%d, %s)" % (rc, (so + se)[-300:]))
    return rc, json.loads(so.strip().splitlines()[-1])


def events(out):
    with open(os.path.join(out, "events.jsonl")) as f:
        return [json.loads(l) for l in f if l.strip()]


def head_killed(binary):
    # Done means: a SIGKILL of the head from outside, mid-run; the run
    # finishes under the same `tandem run`, nothing lost or duplicated, the
    # workers are the same processes.
    out = tempfile.mkdtemp(prefix="tandem-e2e14-")
    p, err = start([binary, "run", os.path.join(DATA, "e2e_head_killed.yaml"), "--output", out])
    try:
        pids = worker_pids(err)
        err.wait(lambda l: (progress(l) or (0, 0))[0] >= 51, 180, "51 trained steps")
        with open(os.path.join(out, "head.json")) as f:
            head = json.load(f)["pid"]
        with open(os.path.join(out, "secret")) as f:
            secret_before = f.read()
        os.kill(head, signal.SIGKILL)
        t0 = time.monotonic()
        err.wait(lambda l: "restarting it from the newest checkpoint" in l, 30,
                 "the supervisor to restart the head")
        err.wait(lambda l: "resuming from" in l, 60, "the new head to resume")
        se = err.rest(timeout=600)
    finally:
        if p.poll() is None:
            p.kill()
    check(p.returncode == 0, "the run finished under the same command (rc=%d, %s)"
          % (p.returncode, se[-600:]))
    check(not alive(head), "the killed head is gone")
    s = summary(out)
    rows = metrics(out)
    check(s["ok"] == 1 and s["steps"] == 160, "summary: 160 steps, ok")
    check([r["step"] for r in rows] == list(range(1, 161)),
          "metrics.jsonl: steps 1..160, each once, across the restart")
    ev = events(out)
    starts = [e for e in ev if e["event"] == "worker_start"]
    check(sorted(e["pid"] for e in starts) == sorted(pids) and len(starts) == 2,
          "the workers were never restarted: same pids %s" % pids)
    check(sum(1 for e in ev if e["event"] == "head_start") == 2, "one head restart")
    check(se.count("rejoined") >= 2, "both workers rejoined the restarted head")
    check_run_secret(out)
    with open(os.path.join(out, "secret")) as f:
        check(f.read() == secret_before, "the restarted head reused RUN_DIR/secret")
    rc, a = audit(binary, out)
    check(rc == 0 and a["duplicated_problems"]["count"] == 0 and a["lost_problems"]["count"] == 0
          and a["skipped_problems"]["count"] == 0 and a["regenerated"] > 0,
          "audit: 0 lost, 0 duplicated, 0 skipped, %d regenerated after the restart (%s)"
          % (a["regenerated"], a))
    print("head killed at step >= 51; run finished %.1f s later; audit %s"
          % (time.monotonic() - t0, a))


def exact_resume(binary):
    # Done means: byte-identical final weights for the uninterrupted
    # synchronous run and the same run SIGKILLed and resumed.
    cfg = os.path.join(DATA, "e2e_exact_resume.yaml")
    a = tempfile.mkdtemp(prefix="tandem-e2e15a-")
    rc, so, se = run(binary, ["run", cfg, "--output", a, "--quiet"], timeout=300)
    check(rc == 0, "uninterrupted run (rc=%d, %s)" % (rc, se[-400:]))
    b = tempfile.mkdtemp(prefix="tandem-e2e15b-")
    p = subprocess.Popen([binary, "run", cfg, "--output", b], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    err = Output(p)
    try:
        err.wait(lambda l: (progress(l) or (0, 0))[0] >= 31, 180, "31 trained steps")
        os.killpg(p.pid, signal.SIGKILL)  # supervisor and head at once: no checkpoint on exit
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    check(not os.path.exists(os.path.join(b, "summary.json")), "the killed run wrote no summary")
    # The newest checkpoint is damaged (a flipped byte): resume names it,
    # skips it and starts from the one before; the result is the same.
    ckdir = os.path.join(b, "checkpoints")
    steps = sorted(d for d in os.listdir(ckdir) if d.startswith("step-"))
    check(len(steps) >= 2, "at least two checkpoints before the kill: %s" % steps)
    with open(os.path.join(ckdir, steps[-1], "weights.bin"), "r+b") as f:
        f.seek(100)
        byte = f.read(1)
        f.seek(100)
        f.write(bytes([byte[0] ^ 0x40]))
    # A run secret that group members may read is refused, not reused.
    secret = os.path.join(b, "secret")
    with open(secret) as f:
        secret_before = f.read()
    os.chmod(secret, 0o640)
    rc, so, se = run(binary, ["resume", b, "--quiet"], timeout=300)
    check(rc == 2 and secret in se and "group or others" in se,
          "resume refuses a group-readable RUN_DIR/secret (rc=%d, %s)" % (rc, se[-300:]))
    os.chmod(secret, 0o600)
    rc, so, se = run(binary, ["resume", b, "--quiet"], timeout=300)
    check(rc == 0, "tandem resume finished the run (rc=%d, %s)" % (rc, se[-400:]))
    with open(secret) as f:
        check(f.read() == secret_before, "the resumed run kept its secret")
    check(("skipping checkpoint %s: weights.bin: checksum mismatch" % steps[-1]) in se
          and ("resuming from %s" % os.path.join(ckdir, steps[-2])) in se,
          "the damaged %s was skipped, %s used: %s" % (steps[-1], steps[-2], se[-300:]))
    with open(os.path.join(a, "weights.tndm"), "rb") as f1, \
         open(os.path.join(b, "weights.tndm"), "rb") as f2:
        check(f1.read() == f2.read(), "final weights are byte-identical")
    rows = metrics(b)
    check([r["step"] for r in rows] == list(range(1, 61)), "metrics: steps 1..60 once each")
    rc, au = audit(binary, b)
    check(rc == 0 and au["duplicated_problems"]["count"] == 0
          and au["lost_problems"]["count"] == 0 and au["incarnations"] == 2,
          "audit clean over both incarnations: %s" % au)
    # A finished run: resume says so and exits 0; a directory that is not a
    # run: exit 2 with the reason; a run directory is not reused silently.
    rc, so, se = run(binary, ["resume", b], timeout=60)
    check(rc == 0 and "already finished" in se, "resume of a finished run (rc=%d)" % rc)
    rc, so, se = run(binary, ["resume", tempfile.mkdtemp()], timeout=60)
    check(rc == 2 and "not a tandem run" in se, "resume of a non-run: exit 2 (rc=%d)" % rc)
    rc, so, se = run(binary, ["run", cfg, "--output", b, "--quiet"], timeout=60)
    check(rc == 2 and "holds another run" in se, "a run directory is not reused (rc=%d)" % rc)


def chaos(binary):
    # A short schedule of the chaos harness: workers and the head SIGKILLed
    # for 40 s; the run must finish with a clean audit.
    out = tempfile.mkdtemp(prefix="tandem-e2e16-")
    # 3,000 steps outlast the 18 s of kills on the CI machine type (~45
    # steps/s); a machine fast enough to finish first still sees the first
    # kills, due after 2-6 s (workers) and 3-9 s (head).
    rc, so, se = run(binary, ["chaos", os.path.join(DATA, "e2e_chaos.yaml"), "--minutes", "0.3",
                              "--kill-worker-every", "4", "--kill-head-every", "6", "--seed", "3",
                              "--steps", "3000", "--output", out], timeout=800)
    print(so)
    check(rc == 0, "chaos run finished with a clean audit (rc=%d, %s)" % (rc, (so + se)[-800:]))
    kills = re.search(r"kills:\s+(\d+) head, (\d+) worker", so)
    check(kills and int(kills.group(1)) >= 1 and int(kills.group(2)) >= 1,
          "it killed the head and workers: %s" % (kills.group(0) if kills else so[-300:]))
    check(re.search(r"duplicated prompts:\s+0\b", so) and re.search(r"lost prompts:\s+0\b", so),
          "0 prompts lost, 0 duplicated")
    check(summary(out)["ok"] == 1 and len(metrics(out)) == 3000, "3000 steps, ok")


def durable_failures(binary):
    cfg = os.path.join(DATA, "e2e_checkpoint_fail.yaml")
    # A checkpoint that cannot be written is reported, the run goes on and
    # says so in its summary; with run.checkpoint_required it stops (exit 1).
    out = tempfile.mkdtemp(prefix="tandem-e2e17-")
    open(os.path.join(out, "checkpoints"), "w").close()  # a file where the directory goes
    rc, so, se = run(binary, ["run", cfg, "--output", out, "--quiet"], timeout=120)
    s = summary(out)
    check(rc == 0 and s["ok"] == 1 and s["checkpoint_failures"] == 3 and s["checkpoint_step"] == -1,
          "unwritable checkpoints (steps 5, 10, the final 12): reported, run finished (rc=%d, %s)" % (rc, s))
    check("checkpoint of step 5 failed" in se and "checkpoints" in se,
          "the failure is named on stderr: %s" % se[-300:])
    req = os.path.join(tempfile.mkdtemp(prefix="tandem-e2e17r-"), "required.yaml")
    with open(cfg) as f:
        text = f.read().replace("checkpoint_every: 5}", "checkpoint_every: 5, checkpoint_required: true}")
    with open(req, "w") as f:
        f.write(text)
    out = tempfile.mkdtemp(prefix="tandem-e2e17b-")
    open(os.path.join(out, "checkpoints"), "w").close()
    rc, so, se = run(binary, ["run", req, "--output", out, "--quiet"], timeout=120)
    s = summary(out)
    check(rc == 1 and s["ok"] == 0 and "run.checkpoint_required" in s["reason"] and 5 <= s["steps"] < 12,
          "checkpoint_required: the run stopped after step 5 (rc=%d, %s)" % (rc, s))
    # Resuming under a config of another model shape is refused, naming the
    # field; a second process on a live run directory is refused by the lock.
    out = tempfile.mkdtemp(prefix="tandem-e2e17c-")
    p, err = start([binary, "run", cfg, "--steps", "100000", "--output", out], session=True)
    try:
        err.wait(lambda l: (progress(l) or (0, 0))[0] >= 21, 120, "21 trained steps")
        rc, so, se = run(binary, ["run", cfg, "--output", out, "--overwrite", "--quiet"], timeout=60)
        check(rc == 1 and "in use by another tandem process" in se,
              "a live run directory is locked (rc=%d, %s)" % (rc, se[-200:]))
        os.killpg(p.pid, signal.SIGKILL)
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    path = os.path.join(out, "config.yaml")
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text.replace("hidden_size: 64", "hidden_size: 32"))
    rc, so, se = run(binary, ["resume", out, "--quiet"], timeout=60)
    check(rc == 2 and "model.hidden_size: 64 in the checkpoint, 32 now" in se,
          "resume under another model shape refused, field named (rc=%d, %s)" % (rc, se[-300:]))


def zmtp_null_probe(port):
    """Speaks ZMTP 3.0 with the NULL mechanism (no key at all) to
    127.0.0.1:port: (the mechanism the server's greeting names, whether the
    server then closed the connection)."""
    greeting = (b"\xff" + b"\0" * 8 + b"\x7f" + b"\x03\x00" + b"NULL".ljust(20, b"\0")
                + b"\0" * 32)
    with socket.create_connection(("127.0.0.1", port), 5) as s:
        s.settimeout(5)
        # Signature and major version first: libzmq then sends the rest of
        # its greeting (it hangs up before that once it has read a whole
        # greeting naming another mechanism).
        s.sendall(greeting[:11])
        got = b""
        try:
            while len(got) < 64:
                chunk = s.recv(64 - len(got))
                if not chunk:
                    break
                got += chunk
            # The rest of the NULL greeting and a NULL READY command (socket
            # type PUSH): a NULL server would answer READY; this one must
            # hang up instead.
            body = b"\x05READY" + b"\x0bSocket-Type" + struct.pack(">I", 4) + b"PUSH"
            s.sendall(greeting[11:] + b"\x04" + bytes([len(body)]) + body)
            closed = s.recv(1024) == b""
        except (ConnectionResetError, BrokenPipeError):
            closed = True  # a hang-up with our bytes unread: a reset
        except socket.timeout:
            closed = False
    return got[12:32].rstrip(b"\0").decode("ascii", "replace"), closed


def local_3proc(binary):
    out = tempfile.mkdtemp(prefix="tandem-e2e6-")
    cfg = os.path.join(HERE, "..", "..", "configs", "local-3proc", "run.yaml")
    p, err = start([binary, "run", cfg, "--steps", "40", "--output", out, "--quiet"])
    try:
        ports = err.wait(lambda l: re.search(r"data plane: rollouts tcp://127.0.0.1:(\d+), "
                                             r"weights tcp://127.0.0.1:(\d+)", l),
                         120, "the data plane's ports")
        # A local process without the run's secret: both ZeroMQ ports answer
        # only CURVE and hang up on a client that offers no key.
        for port in (int(ports.group(1)), int(ports.group(2))):
            mechanism, closed = zmtp_null_probe(port)
            check(mechanism == "CURVE" and closed,
                  "port %d requires CURVE and drops a keyless client (%s, closed=%s)"
                  % (port, mechanism, closed))
        se = err.rest(timeout=600)
    finally:
        if p.poll() is None:
            p.kill()
    rc = p.returncode
    check(rc == 0, "3-process topology run exits 0 (rc=%d, %s)" % (rc, se[-500:]))
    check(se.count("joined") == 2, "both sampler processes joined the head")
    rows = metrics(out)
    check(len(rows) == 40 and all(r["samplers"] == 2 for r in rows),
          "all 40 steps trained with the two remote samplers")
    check("data plane: rollouts tcp://127.0.0.1:" in se, "the head bound the ZeroMQ data plane")
    check_run_secret(out)
    s = summary(out)
    check(s["groups_consumed"] > 0 and s["data_plane_groups"] >= s["groups_consumed"],
          "every consumed group arrived over ZeroMQ (%d of %d)"
          % (s["data_plane_groups"], s["groups_consumed"]))


def phase_rates(rows, per_step):
    """samples/s of each run of consecutive steps with the same sampler count,
    leaving out the first 3 steps of each (the transition)."""
    phases, start = [], 0
    for i in range(1, len(rows) + 1):
        if i == len(rows) or rows[i]["samplers"] != rows[start]["samplers"]:
            seg = rows[start + 3:i]
            if len(seg) >= 5:
                t = seg[-1]["elapsed_s"] - seg[0]["elapsed_s"]
                phases.append((rows[start]["samplers"], (len(seg) - 1) * per_step / t))
            start = i
    return phases


def scale(binary):
    out = tempfile.mkdtemp(prefix="tandem-e2e8-")
    cfg = os.path.join(DATA, "e2e_scale.yaml")
    p, err = start([binary, "run", cfg, "--output", out])

    def phase(samplers, min_step):
        def pred(line):
            pr = progress(line)
            return pr if pr and pr[1] == samplers and pr[0] >= min_step else None
        return pred

    try:
        head = err.wait(lambda l: re.search(r"head on (\S+),", l), 60, "the head address").group(1)
        err.wait(phase(1, 31), 120, "30 steps with 1 sampler")
        check_run_secret(out)
        # Without the run's secret, status and scale are refused before they
        # connect (exit 2); with --run-dir they read RUN_DIR/secret.
        for cmd in (["status", head], ["scale", head, "sampler=4"]):
            rc, so, se = run(binary, cmd, timeout=60)
            check(rc == 2 and "no secret given" in se,
                  "%s without a secret: exit 2 and why (rc=%d, %s)" % (cmd[0], rc, se.strip()))
        rc, so, se = run(binary, ["status", head, "--run-dir", out], timeout=60)
        check(rc == 0 and so.startswith("{"), "status with --run-dir (rc=%d, %s%s)"
              % (rc, so.strip(), se.strip()))
        rc, so, se = run(binary, ["scale", head, "sampler=4", "--run-dir", out], timeout=60)
        check(rc == 0 and so.startswith("starting 3"), "scale to 4 accepted: " + so.strip() + se)
        first4 = err.wait(phase(4, 0), 120, "the 4 samplers")[0]
        err.wait(phase(4, first4 + 60), 120, "60 steps with 4 samplers")
        rc, so, se = run(binary, ["scale", head, "sampler=2", "--run-dir", out], timeout=60)
        check(rc == 0 and so.startswith("retiring 2"), "scale to 2 accepted: " + so.strip() + se)
        se = err.rest(timeout=300)
    finally:
        if p.poll() is None:
            p.kill()
    check(p.returncode == 0, "run finished (rc=%d, %s)" % (p.returncode, se[-300:]))
    rows = metrics(out)
    s = summary(out)
    per_step = 16 * 4
    rates = dict(phase_rates(rows, per_step))
    print("samples/s by sampler count: %s" % {k: round(v) for k, v in rates.items()})
    check(1 in rates and 4 in rates and 2 in rates, "phases with 1, 4 and 2 samplers")
    check(rates[4] > 1.8 * rates[1], "throughput rose from 1 to 4 samplers")
    check(rates[2] > 1.3 * rates[1], "2 samplers still outpace 1")
    check(s["groups_consumed"] == s["steps"] * 16 and s["reports_rejected"] == 0,
          "every group consumed exactly once (%d groups, %d rejected reports)"
          % (s["groups_consumed"], s["reports_rejected"]))
    check(s["staleness_violations"] == 0 and all(r["staleness_max"] <= 1 for r in rows),
          "staleness bound held throughout")


def check_run_secret(out):
    """A run whose config names no secret has RUN_DIR/secret, mode 0600."""
    path = os.path.join(out, "secret")
    mode = os.stat(path).st_mode & 0o777
    check(mode == 0o600, "%s has mode %o (want 600)" % (path, mode))
    with open(path) as f:
        check(len(f.read().strip()) >= 64, "the generated secret holds 32 random bytes (hex)")


def free_ports():
    """A free TCP port for the control endpoint and a free pair (p, p + 1)
    for the data plane on loopback, below the ephemeral range: a client
    connecting again and again to a dead port in that range can be given
    the same port as its source, and TCP then connects the socket to itself."""
    def bindable(port):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return True
            except OSError:
                return False

    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    rng = random.Random(os.getpid())
    for _ in range(200):
        control = rng.randrange(20000, low - 3)
        data = control + 1
        if all(bindable(p) for p in (control, data, data + 1)):
            return control, data
    check(False, "found free ports for the head below %d" % low)


def rejoin_config(tmp, control, data, rejoin_s):
    with open(os.path.join(DATA, "e2e_worker_rejoin.yaml")) as f:
        text = f.read()
    text = text.replace("control_port: 47610, data_port: 47611",
                        "control_port: %d, data_port: %d" % (control, data))
    text = text.replace("rejoin_s: 60", "rejoin_s: %g" % rejoin_s)
    # The worker outlives its run and joins the next run's head: both runs
    # must name the same secret (a run that names none gets its own in
    # RUN_DIR/secret, which the next run would not share).
    secret = os.path.join(tmp, "secret")
    if not os.path.exists(secret):
        fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, b"e2e-rejoin-secret-0123456789abcdef\n")
        os.close(fd)
    transports = "  transports: {rollouts: zmq, weights: zmq}\n"
    check(transports in text, "the rejoin config has its transports line")
    text = text.replace(transports, transports + "  security: {secret_file: %s}\n" % secret)
    path = os.path.join(tmp, "rejoin_%g.yaml" % rejoin_s)
    with open(path, "w") as f:
        f.write(text)
    return path


def kill_head_under(binary, cfg, out, worker_name, min_step):
    """Starts a head on `cfg`, a sampler worker joining it by hand, waits
    until its sampler took weights and the head trained `min_step` steps
    with both samplers, SIGKILLs the head. Returns the worker (still
    running) and its Output."""
    # The supervisor and its head in a session of their own, both SIGKILLed
    # at once: no restart, no shutdown message — the head just vanishes.
    head, herr = start([binary, "run", cfg, "--steps", "100000", "--output", out], session=True)
    w, ready = None, False
    try:
        addr = herr.wait(lambda l: re.search(r"head on (\S+),", l), 60, "the head").group(1)
        w, werr = start([binary, "worker", "--role", "sampler", "--name", worker_name,
                         "--config", cfg, "--head", addr])
        werr.wait(lambda l: "worker %s joined" % worker_name in l, 60, "the worker to join")
        two = lambda n: lambda l: (progress(l) is not None and progress(l)[0] >= n
                                   and progress(l)[1] == 2)
        herr.wait(two(min_step), 120, "%d steps, the worker's sampler among them" % min_step)
        # The sampler must hold weights when the head dies (one still
        # without any, on a loaded machine, would forget v-1), and steps
        # past its first version: it has taken newer ones since.
        first = int(werr.wait(lambda l: re.search(r"\[%s\] took its first weights, v(\d+)"
                                                  % worker_name, l), 60,
                              "the worker's sampler to take weights").group(1))
        herr.wait(two(first + 3), 120, "3 steps past v%d" % first)
        ready = True
    finally:
        os.killpg(head.pid, signal.SIGKILL)
        head.wait(timeout=30)
        if w is not None and not ready:
            w.kill()
    return w, werr


def worker_rejoin(binary):
    tmp = tempfile.mkdtemp(prefix="tandem-e2e15-")
    control, data = free_ports()
    # 1. The head is killed; a new one (a fresh run: version 0, older than
    # anything the worker held) comes up on the same ports; the same worker
    # process rejoins it and its sampler trains there.
    cfg = rejoin_config(tmp, control, data, 60)
    w, werr = kill_head_under(binary, cfg, os.path.join(tmp, "run1"), "s9", 41)
    try:
        werr.wait(lambda l: "worker s9 lost its head 127.0.0.1:%d" % control in l, 15,
                  "the worker to notice the head is gone")
        forgot = werr.wait(lambda l: re.search(r"\[s9\] reset: .* forgot v(-?\d+)", l), 15,
                           "the sampler's reset")
        out2 = os.path.join(tmp, "run2")
        head2, h2err = start([binary, "run", cfg, "--output", out2])
        rejoined = werr.wait(lambda l: re.search(r"worker s9 rejoined 127.0.0.1:%d after "
                                                 r"([0-9.]+) s" % control, l), 60, "the rejoin")
        check(w.poll() is None, "the same worker process (pid %d) rejoined the new head after "
              "%s s" % (w.pid, rejoined.group(1)))
        took = werr.wait(lambda l: re.search(r"\[s9\] took v(\d+) after its reset", l), 60,
                         "the sampler's first weights from the new head")
        se2 = h2err.rest(timeout=300)
        check(head2.returncode == 0, "the new head's run finished (rc=%d, %s)"
              % (head2.returncode, se2[-300:] if head2.returncode else "ok"))
        t0 = time.monotonic()
        wse = werr.rest(timeout=20)
        check(w.returncode == 0, "the worker exited 0 %.1f s after the run finished, without "
              "waiting for a rejoin (rc=%d%s)" % (time.monotonic() - t0, w.returncode,
                                                  ", " + wse[-300:] if w.returncode else ""))
    finally:
        if w.poll() is None:
            w.kill()
    s, rows = summary(out2), metrics(out2)
    # The new run is at version 0 when the worker rejoins (41 or more below
    # what the worker held): its sampler must take that older version.
    check(int(took.group(1)) < int(forgot.group(1)),
          "the sampler forgot v%s of the lost head and took v%s of the new one"
          % (forgot.group(1), took.group(1)))
    check(s["ok"] == 1 and s["steps"] == 150 and s["groups_consumed"] == 150 * 8,
          "150 steps, every group consumed once")
    check(any(r["samplers"] == 2 for r in rows) and s["data_plane_groups"] > 0,
          "the rejoined sampler trained in the new run (%d groups over its ZeroMQ outbox)"
          % s["data_plane_groups"])
    check(s["staleness_violations"] == 0 and all(r["staleness_max"] <= 1 for r in rows),
          "staleness bound held")
    # The sampler/learner log-prob gap of tokens of the learner's own version:
    # well below 0.02 in runs like this one (low-probability tokens make the
    # noise), 0.18 when the rejoined sampler kept the lost head's weights.
    worst = max(r["mismatch_logp_abs"] for r in rows)
    check(worst < 0.05, "tokens came from weights the new learner knows (max |dlogp| %.2g)"
          % worst)
    # 2. No head comes back: the worker gives up after timeouts.rejoin_s.
    cfg = rejoin_config(tmp, control, data, 3)
    w, werr = kill_head_under(binary, cfg, os.path.join(tmp, "run3"), "s8", 1)
    try:
        t0 = time.monotonic()
        wse = werr.rest(timeout=30)
        waited = time.monotonic() - t0
    finally:
        if w.poll() is None:
            w.kill()
    check(w.returncode == 1 and "no head came back at 127.0.0.1:%d" % control in wse
          and 3 <= waited <= 10, "with no head back the worker exits 1 after rejoin_s = 3 s "
          "(%.1f s, rc=%d): %s" % (waited, w.returncode, wse.strip().splitlines()[-1][:120]))


SKIP = 77  # ctest SKIP_RETURN_CODE


def sh(*cmd):
    subprocess.run(list(cmd), check=True, capture_output=True, timeout=30)


def two_node_netns(binary):
    if os.geteuid() != 0 or shutil.which("ip") is None:
        print("SKIP: needs root and iproute2 to create network namespaces")
        sys.exit(SKIP)
    tag = str(os.getpid() % 100000)
    ns_h, ns_w = "tdmh" + tag, "tdmw" + tag
    out = tempfile.mkdtemp(prefix="tandem-e2e7-")
    env = dict(os.environ, TANDEM_SECRET="e2e-shared-secret-0123456789")
    procs = []
    try:
        sh("ip", "netns", "add", ns_h)
        sh("ip", "netns", "add", ns_w)
        sh("ip", "link", "add", "tva" + tag, "type", "veth", "peer", "name", "tvb" + tag)
        sh("ip", "link", "set", "tva" + tag, "netns", ns_h)
        sh("ip", "link", "set", "tvb" + tag, "netns", ns_w)
        for ns, dev, addr in ((ns_h, "tva" + tag, "10.77.0.1/24"), (ns_w, "tvb" + tag, "10.77.0.2/24")):
            sh("ip", "-n", ns, "addr", "add", addr, "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        cfg = os.path.join(DATA, "e2e_two_node.yaml")
        head, herr = start(["ip", "netns", "exec", ns_h, binary, "run", cfg, "--output", out],
                           env=env)
        node = subprocess.Popen(["ip", "netns", "exec", ns_w, binary, "node", cfg, "--node",
                                 "worker"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        procs = [head, node]
        herr.wait(lambda l: (progress(l) or (0, 0))[0] >= 11, 120, "11 trained steps")
        # A peer without the secret is refused at the control port's
        # handshake, before any of its bytes reaches CAF; so are raw garbage
        # and a BASP header announcing 1 GiB (docs/control-auth.md).
        with open(os.path.join(out, "head.json")) as f:
            head_pid = json.load(f)["pid"]
        rss0 = vm_rss_kib(head_pid)
        bad_env = dict(os.environ, TANDEM_SECRET="not-the-secret-but-long-enough")
        rogue = subprocess.run(["ip", "netns", "exec", ns_w, binary, "worker", "--config", cfg,
                                "--head", "10.77.0.1:47400", "--role", "sampler", "--name",
                                "rogue"], env=bad_env, capture_output=True, text=True, timeout=60)
        check(rogue.returncode != 0 and "join refused" in rogue.stderr,
              "a worker with the wrong secret is refused (%s)" % rogue.stderr.strip()[-200:])
        garbage = ("import socket; s = socket.create_connection(('10.77.0.1', 47400), 5); "
                   "s.sendall(bytes(range(256)) * 64); s.close()")
        sh("ip", "netns", "exec", ns_w, sys.executable, "-c", garbage)
        gib = ("import socket, struct, time; "
               "h = struct.pack('>BBBBIQQQ', 1, 0, 0, 0, 1 << 30, 0, 0, 0) + bytes(8); "
               "[socket.create_connection(('10.77.0.1', 47400), 5).sendall(h) "
               "for _ in range(10)]")
        sh("ip", "netns", "exec", ns_w, sys.executable, "-c", gib)
        # The same garbage on both ZeroMQ data ports (CURVE: the handshake
        # fails and libzmq drops the connection; the run goes on).
        for port in (47401, 47402):
            sh("ip", "netns", "exec", ns_w, sys.executable, "-c",
               garbage.replace("47400", str(port)))
        rss1 = vm_rss_kib(head_pid)
        print("head VmRSS: %d KiB before the attacks, %d KiB after" % (rss0, rss1))
        check(rss1 - rss0 < 64 * 1024, "head memory stayed flat (+%d KiB)" % (rss1 - rss0))
        se = herr.rest(timeout=300)
        check(head.returncode == 0, "head in namespace %s exits 0 (%s)" % (ns_h, se[-500:]))
        _, nse = node.communicate(timeout=60)
        check(node.returncode == 0, "node in namespace %s exits 0 after the head (%s)"
              % (ns_w, nse[-300:]))
        rows = metrics(out)
        check(len(rows) == 200 and all(r["samplers"] == 2 for r in rows),
              "all 200 steps trained by the 2 samplers on 10.77.0.2, the rogue never joined")
        check("control port: refused 10.77.0.2" in se, "the head logged the refusals")
        s = summary(out)
        check(s["staleness_violations"] == 0, "staleness bound held")
        check(s["data_plane_groups"] >= s["groups_consumed"] > 0,
              "rollouts crossed the namespaces over ZeroMQ (CURVE), weights too")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        for ns in (ns_h, ns_w):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)


CONTROL_SECRET = "e2e-control-secret-0123456789"


def control_mac(secret, label, nonce_c, nonce_s):
    """The control handshake's proof (runtime/transport/control_handshake.hpp)."""
    import hashlib
    key = hashlib.blake2b(b"tandem/control/key/v1", key=secret.encode()[:64],
                          digest_size=32).digest()
    return hashlib.blake2b(label + nonce_c + nonce_s, key=key, digest_size=32).digest()


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def control_client(host, port, secret):
    """A socket that passed the control handshake holding `secret`, or None
    when the head refused (it checks the head's proof first, as tandem does,
    but sends its own proof regardless)."""
    s = socket.create_connection((host, port), 5)
    s.settimeout(10)
    nonce_c = os.urandom(32)
    s.sendall(b"TNDMCH01" + nonce_c)
    hello = recv_exact(s, 72)
    if hello is None or hello[:8] != b"TNDMSH01":
        s.close()
        return None
    nonce_s = hello[8:40]
    s.sendall(control_mac(secret, b"tandem/control/client/v1", nonce_c, nonce_s))
    ok = recv_exact(s, 8)
    if ok != b"TNDMOK01":
        s.close()
        return None
    return s


def closed_within(s, seconds):
    """True when the head closes `s` within `seconds` (whatever it sent first)."""
    s.settimeout(seconds)
    try:
        while s.recv(65536):
            pass
        return True
    except socket.timeout:
        return False
    except OSError:
        return True
    finally:
        s.close()


def vm_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def listening_ports(pid):
    """The TCP ports process `pid` listens on (/proc: its socket inodes in
    LISTEN state, IPv4 and IPv6)."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/%d/net/tcp" % pid, "/proc/%d/net/tcp6" % pid):
        with open(table) as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if cols[3] == "0A" and cols[9] in inodes:
                    ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


def control_attacks(binary):
    tmp = tempfile.mkdtemp(prefix="tandem-e2e-ctl-")
    out = os.path.join(tmp, "run")
    cfg = derived_config(os.path.join(HERE, "..", "..", "configs", "local-3proc", "run.yaml"), tmp,
                         [("  transports:\n    rollouts: zmq",
                           "  security: {secret_env: TANDEM_SECRET}\n"
                           "  transports:\n    rollouts: zmq"),
                          ("target_reward: 0.95", "target_reward: 0")])
    env = dict(os.environ, TANDEM_SECRET=CONTROL_SECRET)
    p, err = start([binary, "run", cfg, "--steps", "400", "--output", out], env=env)
    try:
        addr = err.wait(lambda l: re.search(r"head on (\S+),", l), 60, "the head address").group(1)
        host, port = addr.rsplit(":", 1)
        port = int(port)
        step0 = err.wait(lambda l: (progress(l) or (0, 0))[0] >= 10 and progress(l), 180,
                         "10 trained steps")[0]
        with open(os.path.join(out, "head.json")) as f:
            info = json.load(f)
        head_pid = info["pid"]
        # The head's only listeners: the control port (tandem's own), the two
        # ZeroMQ ports (CURVE) and the console; no CAF doorman anywhere.
        expected = {port, info["data_port"], info["weights_port"], info["console_port"]}
        check(listening_ports(head_pid) <= expected,
              "the head listens on %s only (%s)" % (sorted(expected),
                                                    sorted(listening_ports(head_pid))))
        rss0 = vm_rss_kib(head_pid)
        gib_header = struct.pack(">BBBBIQQQ", 1, 0, 0, 0, 1 << 30, 0, 0, 0)
        # 1. The issue's packet: a BASP header announcing 1 GiB, 10 times.
        for _ in range(10):
            s = socket.create_connection((host, port), 5)
            s.sendall(gib_header + b"\0" * 8)
            check(closed_within(s, 10), "a 1 GiB BASP header is answered by a closed connection")
        # 2. Garbage, 256 KiB of it.
        s = socket.create_connection((host, port), 5)
        try:
            s.sendall(bytes(range(256)) * 1024)
        except OSError:
            pass  # the head may close before taking it all
        check(closed_within(s, 10), "garbage is answered by a closed connection")
        # 3. Silence: closed at the handshake deadline (5 s), not held open.
        s = socket.create_connection((host, port), 5)
        t = time.monotonic()
        check(closed_within(s, 15) and time.monotonic() - t < 12,
              "a silent peer is closed at the handshake deadline")
        # 4. A proof made with another secret.
        check(control_client(host, port, "not-the-secret-but-long-enough") is None,
              "a peer with another secret is refused")
        # 5. A flood: 200 idle connections (the head holds 64 handshakes).
        flood = [socket.create_connection((host, port), 5) for _ in range(200)]
        for s in flood:
            s.close()
        # 6. A peer that holds the secret and announces 1 GiB: the relay cuts it.
        # The flood's handshake slots free as the head reads their closes; a
        # connection before that may be reset, so it tries until a deadline.
        s, end = None, time.monotonic() + 10
        while s is None and time.monotonic() < end:
            try:
                s = control_client(host, port, CONTROL_SECRET)
            except (ConnectionResetError, BrokenPipeError):
                time.sleep(0.05)
        check(s is not None, "a peer holding the secret passes the handshake")
        s.sendall(gib_header)
        check(closed_within(s, 10), "an authenticated 1 GiB announcement is cut off")
        rss1 = vm_rss_kib(head_pid)
        # `tandem status` passes with the secret and is refused without it.
        st = subprocess.run([binary, "status", addr, "--secret-env", "TANDEM_SECRET"],
                            capture_output=True, text=True, timeout=60, env=env)
        check(st.returncode == 0 and st.stdout.startswith("{"),
              "tandem status with the secret answers (%s%s)"
              % (st.stdout.strip()[:80], st.stderr.strip()[-200:]))
        rc, so, se = run(binary, ["status", addr], timeout=60)
        check(rc == 2 and "no secret given" in se,
              "tandem status without a secret stops before connecting (rc=%d, %s)"
              % (rc, se.strip()[-200:]))
        wrong = os.path.join(out, "wrong-secret")
        with open(wrong, "w") as f:
            f.write("not-the-run-secret-0123456789abcdef\n")
        os.chmod(wrong, 0o600)
        rc, so, se = run(binary, ["status", addr, "--secret-file", wrong], timeout=60)
        check(rc != 0 and "join refused" in se,
              "tandem status with another secret is refused (rc=%d, %s)" % (rc, se.strip()[-200:]))
        err.wait(lambda l: (progress(l) or (0, 0))[0] >= step0 + 20 and progress(l), 180,
                 "20 more trained steps after the attacks")
        se = err.rest(timeout=600)
    finally:
        if p.poll() is None:
            p.kill()
    check(p.returncode == 0, "the run finished (rc=%d, %s)" % (p.returncode, se[-500:]))
    print("head VmRSS: %d KiB before the attacks, %d KiB after" % (rss0, rss1))
    check(rss1 - rss0 < 64 * 1024, "head memory stayed flat (+%d KiB)" % (rss1 - rss0))
    rows = metrics(out)
    check(len(rows) == 400 and all(r["samplers"] == 2 for r in rows),
          "all 400 steps trained with both samplers: no worker was lost")
    check("control port: refused" in se, "the head logged the refused peers")
    check("announced 1073741824 payload bytes" in se, "the head logged the cut-off peer")


def safetensor(path, name):
    """The float32 values of tensor `name` in a safetensors file."""
    with open(path, "rb") as f:
        blob = f.read()
    n = struct.unpack("<Q", blob[:8])[0]
    t = json.loads(blob[8:8 + n])[name]
    assert t["dtype"] == "F32", t["dtype"]
    begin, end = t["data_offsets"]
    values = array.array("f")
    values.frombytes(blob[8 + n + begin:8 + n + end])
    return values


def hf(binary):
    out = tempfile.mkdtemp(prefix="tandem-e2e9-")
    cfg = os.path.join(DATA, "e2e_hf.yaml")
    rc, so, se = run(binary, ["run", cfg, "--steps", "5", "--output", out, "--quiet"],
                     timeout=300)
    check(rc == 0, "run from the checkpoint exits 0 (rc=%d, stderr tail: %s)" % (rc, se[-500:]))
    s = summary(out)
    rows = metrics(out)
    check(s["ok"] == 1 and s["steps"] == 5 and len(rows) == 5, "trained 5 steps, summary ok")
    check(s["groups_consumed"] == 5 * 4 and s["reports_rejected"] == 0,
          "every group consumed once; no reward rejected a BPE token")
    check(all(0 < r["completion_len"] <= 8 for r in rows), "completions within max_new_tokens")
    # The untrained fixture earns no reward (e2e_hf.yaml says why): the
    # gradient comes from the entropy bonus, and its objective must rise.
    check(all(r["grad_norm"] > 0 for r in rows),
          "every step had a gradient (grad_norm %s)" % [r["grad_norm"] for r in rows])
    ent = [r["entropy"] for r in rows]
    check(all(b > a for a, b in zip(ent, ent[1:])), "entropy rose at every step: %s" % ent)
    # The blob starts with embed_tokens (models/internal/transformer.cpp). Five
    # AdamW steps at lr 5e-4 move a weight by about 5 x 5e-4 at most; a random
    # initialisation would differ everywhere by about the weights' own size.
    ckpt = safetensor(os.path.join(DATA, "hf", "tiny-qwen2", "model.safetensors"),
                      "model.embed_tokens.weight")
    with open(os.path.join(out, "weights.tndm"), "rb") as f:
        final = array.array("f")
        final.frombytes(f.read()[32:32 + 4 * len(ckpt)])
    check(len(final) == len(ckpt), "the final weights hold embed_tokens")
    deltas = [abs(a - b) for a, b in zip(ckpt, final)]
    moved = sum(1 for d in deltas if d > 1e-5) / len(deltas)
    check(max(deltas) < 5e-3, "the learner started from the checkpoint (max |dW| %.2g)"
          % max(deltas))
    check(max(deltas) > 5e-4 and moved > 0.9,
          "and trained it: %.0f%% of embed_tokens moved, max |dW| %.2g" % (100 * moved, max(deltas)))
    bad = os.path.join(out, "bad_hf.yaml")
    with open(bad, "w") as f:
        f.write("model:\n  hf_path: %s\n  hidden_size: 64\n" % os.path.join(DATA, "hf", "tiny-qwen2"))
    rc, so, se = run(binary, ["validate", bad], timeout=60)
    check(rc == 2 and (bad + ":3:16: model.hidden_size: set by model.hf_path") in se
          and "task.tokenizer: required with model.hf_path" in se,
          "shape fields next to hf_path and a missing tokenizer are refused at FILE:LINE:COL (%r)"
          % se[-400:])


def safetensors_blob(path):
    """The tensor names of a safetensors file and their bytes concatenated,
    both in file order; every tensor must be F32."""
    with open(path, "rb") as f:
        blob = f.read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    header.pop("__metadata__", None)
    order = sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0])
    check(all(t["dtype"] == "F32" for _, t in order), "%s: float32 tensors" % path)
    data = b"".join(blob[8 + n + t["data_offsets"][0]:8 + n + t["data_offsets"][1]]
                    for _, t in order)
    return [k for k, _ in order], data


def derived_config(src, tmp, replacements):
    """`src` with each (old, new) replaced (every old must occur), in `tmp`."""
    with open(src) as f:
        text = f.read()
    for old, new in replacements:
        check(old in text, "%s holds %r" % (src, old))
        text = text.replace(old, new)
    path = os.path.join(tmp, os.path.basename(src))
    with open(path, "w") as f:
        f.write(text)
    return path


def logits_of(binary, model, tmp):
    out = os.path.join(tmp, "logits-%d.bin" % random.randrange(1 << 30))
    rc, so, se = run(binary, ["logits", "--model", model, "--ids", "1,2,3", "--out", out], timeout=120)
    check(rc == 0, "tandem logits reads %s (rc=%d, %s)" % (model, rc, (so + se)[-300:]))
    values = array.array("f")
    with open(out, "rb") as f:
        values.frombytes(f.read())
    return values


def export_checkpoint(binary, run_dir, out, step=None):
    args = ["export", run_dir, "--out", out] + (["--step", str(step)] if step else [])
    rc, so, se = run(binary, args, timeout=120)
    check(rc == 0, "tandem export %s (rc=%d, %s)" % (" ".join(args[1:]), rc, (so + se)[-400:]))
    return so, se


def export(binary):
    # Done means: `tandem export` writes a run's checkpoint (the newest, or
    # step N) as a Hugging Face directory whose tensors are that checkpoint's
    # weights.bin bit for bit (weights.bin is the float32 parameters in
    # export order; save_hf writes them in the same order), under the
    # checkpoint's names, with its config and tokenizer, and tandem's HF
    # loader reads it back (python here has no torch for transformers).
    tmp = tempfile.mkdtemp(prefix="tandem-e2e-export-")
    cfg = derived_config(
        os.path.join(HERE, "..", "..", "configs", "debug", "hf-tiny.yaml"), tmp,
        [("../../tests/data", os.path.abspath(DATA)),
         ("steps: 200,", "steps: 8, checkpoint_every: 3, keep_checkpoints: 5,"),
         ("sampler: {count: 2,", "sampler: {count: 1, threads: 1,"),
         # The untrained fixture earns no reward, so without the entropy
         # bonus no weight would move (e2e_hf.yaml says why).
         ("learner: {lr: 0.001}", "learner: {lr: 0.001, entropy_coef: 0.01}")])
    out = os.path.join(tmp, "run")
    rc, so, se = run(binary, ["run", cfg, "--output", out, "--quiet"], timeout=300)
    check(rc == 0, "hf-tiny ran 8 steps (rc=%d, %s)" % (rc, se[-400:]))
    ckpts = os.path.join(out, "checkpoints")
    written = sorted(os.listdir(ckpts))
    check({"step-00000003", "step-00000006"} <= set(written),
          "checkpoints at steps 3 and 6: %s" % written)
    newest = int(written[-1][len("step-"):])
    fixture = os.path.join(DATA, "hf", "tiny-qwen2")
    names0, data0 = safetensors_blob(os.path.join(fixture, "model.safetensors"))
    blobs = {}
    for step, name in ((None, "newest"), (3, "step3")):
        d = os.path.join(tmp, name)
        so, se = export_checkpoint(binary, out, d, step)
        want = newest if step is None else step
        check("step-%08d" % want in so, "exported step %d: %s" % (want, so.strip()))
        check(sorted(os.listdir(d)) == ["config.json", "model.safetensors", "tokenizer.json"],
              "%s: config.json, model.safetensors, tokenizer.json (%s)" % (name, os.listdir(d)))
        names, data = safetensors_blob(os.path.join(d, "model.safetensors"))
        with open(os.path.join(ckpts, "step-%08d" % want, "weights.bin"), "rb") as f:
            check(data == f.read(), "%s: the tensors are step %d's weights.bin bit for bit"
                  % (name, want))
        check(sorted(names) == sorted(names0), "%s: the fixture's tensor names" % name)
        blobs[name] = data
        with open(os.path.join(d, "config.json")) as f1, \
             open(os.path.join(fixture, "config.json")) as f2:
            got, ref = json.load(f1), json.load(f2)
        for k in ("model_type", "hidden_size", "num_hidden_layers", "num_attention_heads",
                  "num_key_value_heads", "intermediate_size", "vocab_size",
                  "tie_word_embeddings", "rms_norm_eps"):
            check(got.get(k) == ref.get(k), "%s: config.json %s %r (fixture %r)"
                  % (name, k, got.get(k), ref.get(k)))
        theta = ref.get("rope_theta") or ref.get("rope_parameters", {}).get("rope_theta")
        check(got["rope_theta"] == theta, "%s: rope theta %r (fixture %r)"
              % (name, got["rope_theta"], theta))
        with open(os.path.join(d, "tokenizer.json"), "rb") as f1, \
             open(os.path.join(DATA, "hf", "tokenizer-qwen2", "tokenizer.json"), "rb") as f2:
            check(f1.read() == f2.read(), "%s: the run's tokenizer.json" % name)
    check(blobs["newest"] != blobs["step3"] and blobs["step3"] != data0,
          "steps 3 and %d differ from each other and from the fixture" % newest)
    l0 = logits_of(binary, fixture, tmp)
    l6 = logits_of(binary, os.path.join(tmp, "newest"), tmp)
    check(len(l6) == len(l0) == 3 * 384 and all(math.isfinite(x) for x in l6),
          "the exported model gives finite logits over 384 ids at 3 positions")
    gap = max(abs(a - b) for a, b in zip(l0, l6))
    check(0 < gap < 1, "%d steps at lr 1e-3 moved the logits a little: max |dlogit| %.3g"
          % (newest, gap))
    # Refusals: exit 2 for what the user asked wrong, 1 for a damaged step.
    rc, so, se = run(binary, ["export", out, "--out", os.path.join(tmp, "newest")], timeout=60)
    check(rc == 2 and "not an empty directory" in se, "a non-empty --out is refused (rc=%d)" % rc)
    rc, so, se = run(binary, ["export", out, "--out", os.path.join(tmp, "x"), "--step", "4"],
                     timeout=60)
    check(rc == 2 and "no checkpoint of step 4" in se, "a missing step is named (rc=%d, %s)"
          % (rc, se.strip()))
    rc, so, se = run(binary, ["export", tmp, "--out", os.path.join(tmp, "x")], timeout=60)
    check(rc == 2 and "holds no checkpoints" in se, "a non-run is refused (rc=%d)" % rc)
    with open(os.path.join(ckpts, "step-00000003", "weights.bin"), "r+b") as f:
        f.seek(100)
        b = f.read(1)
        f.seek(100)
        f.write(bytes([b[0] ^ 0x5a]))
    rc, so, se = run(binary, ["export", out, "--out", os.path.join(tmp, "x"), "--step", "3"],
                     timeout=60)
    check(rc == 1 and "step-00000003: weights.bin: checksum mismatch" in se
          and not os.path.exists(os.path.join(tmp, "x")),
          "a damaged step is named and nothing is written (rc=%d, %s)" % (rc, se.strip()))
    # A run from random init exports too: a Llama config of its shape, no
    # tokenizer (the built-in character tokenizer has no Hugging Face form).
    cfg = derived_config(BASIC, tmp, [("  steps: 3000\n", "  steps: 3\n  checkpoint_every: 1\n")])
    out = os.path.join(tmp, "basic")
    rc, so, se = run(binary, ["run", cfg, "--output", out, "--quiet"], timeout=120)
    check(rc == 0, "configs/basic/run.yaml ran 3 steps (rc=%d, %s)" % (rc, se[-400:]))
    newest = sorted(os.listdir(os.path.join(out, "checkpoints")))[-1]
    d = os.path.join(tmp, "basic-hf")
    so, se = export_checkpoint(binary, out, d)
    check("holds no tokenizer" in se and sorted(os.listdir(d)) == ["config.json",
                                                                    "model.safetensors"],
          "random init: config.json and weights, no tokenizer, said on stderr (%s)" % se.strip())
    names, data = safetensors_blob(os.path.join(d, "model.safetensors"))
    check(newest in so, "random init: exported %s (%s)" % (newest, so.strip()))
    with open(os.path.join(out, "checkpoints", newest, "weights.bin"), "rb") as f:
        check(data == f.read() and len(data) == 4 * 102592,
              "random init: the 102,592 parameters of %s bit for bit" % newest)
    with open(os.path.join(d, "config.json")) as f:
        check(json.load(f)["model_type"] == "llama", "random init: a Llama config")
    logits_of(binary, d, tmp)


def skip_unless_required(why):
    """Skip, unless the GPU suite (scripts/gpu-build.sh sets
    TANDEM_REQUIRE_GPU=1) needs this check to run."""
    if os.environ.get("TANDEM_REQUIRE_GPU"):
        check(False, "TANDEM_REQUIRE_GPU is set but " + why)
    print("SKIP: " + why)
    sys.exit(SKIP)


def gpu_run(binary):
    try:
        gpus = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True,
                              timeout=30).stdout.count("GPU ")
    except (OSError, subprocess.TimeoutExpired):
        gpus = 0
    if gpus == 0:
        skip_unless_required("no GPU")
    out = tempfile.mkdtemp(prefix="tandem-e2e14-")
    rc, so, se = run(binary, ["run", os.path.join(DATA, "e2e_gpu_run.yaml"), "--output", out,
                              "--quiet"], timeout=300)
    if rc != 0 and "this build has no CUDA" in se:
        skip_unless_required("this tandem was built without CUDA")
    check(rc == 0, "run on the GPU exits 0 (rc=%d, %s)" % (rc, se[-500:]))
    s = summary(out)
    rows = metrics(out)
    check(s["ok"] == 1 and s["steps"] == 8 and len(rows) == 8, "8 steps trained, summary ok")
    check(s["groups_consumed"] == 8 * 16 and s["staleness_violations"] == 0,
          "every group consumed once, staleness bound held")
    # tokens_generated counts what was decoded during a step's interval; with
    # eta = 1 a fast learner may consume groups decoded in an earlier interval,
    # so single intervals can be 0. Every trained group had completions.
    generated = [r["tokens_generated"] for r in rows]
    check(sum(generated) >= 8 * 16 * 2 and all(r["completion_len"] > 0 for r in rows),
          "the CUDA sampler decoded the run's completions: tokens per step %s" % generated)
    check(all(r["grad_norm"] > 0 for r in rows), "the CUDA learner had a gradient at every step")
    ent = [r["entropy"] for r in rows]
    check(ent[-1] > ent[0], "its objective moved the policy: entropy %.4f -> %.4f" % (ent[0], ent[-1]))
    same = [r for r in rows if r["mismatch_tokens"] > 0]
    check(len(same) > 0 and all(r["mismatch_logp_abs"] < 0.1 for r in same),
          "sampler (bf16) and learner (fp32) agree on tokens of the same version: mean |dlogp| %s"
          % [round(r["mismatch_logp_abs"], 5) for r in same])


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


# --- reward plug-ins (reward.kind: http | command) ---------------------------

def reward_server(mode):
    """A python reward server on an ephemeral port; mode 'ok', 'some_garbage'
    (every 3rd call answers HTML) or 'garbage'. Returns (server, url)."""
    import http.server
    import threading
    calls = [0]

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive
        disable_nagle_algorithm = True  # headers and body are two writes

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            calls[0] += 1
            if mode == "garbage" or (mode == "some_garbage" and calls[0] % 3 == 0):
                out = b"<html>not a reward</html>"
            else:
                rewards = [1.0 if q[len(p):].strip().startswith(a) else 0.0
                           for q, p, a in zip(body["query"], body["prompts"], body["labels"])]
                out = json.dumps({"rewards": rewards, "server": "e2e"}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, "http://127.0.0.1:%d/score" % srv.server_address[1]


REWARD_RULES = "reward:\n  accuracy_weight: 0.9\n  format_weight: 0.1\n"


def reward_http(binary):
    tmp = tempfile.mkdtemp(prefix="tandem-e2e-rh-")
    for mode in ("ok", "some_garbage"):
        srv, url = reward_server(mode)
        cfg = derived_config(BASIC, tmp, [(REWARD_RULES,
            "reward:\n  kind: http\n  url: %s\n  timeout_s: 5\n  retries: 1\n" % url)])
        out = os.path.join(tmp, "out-" + mode)
        rc, so, se = run(binary, ["run", cfg, "--steps", "20", "--output", out, "--quiet"],
                         timeout=300)
        srv.shutdown()
        s = summary(out)
        rows = metrics(out)
        check(rc == 0 and s["ok"] == 1 and s["steps"] == 20,
              "%s server: 20 steps, ok (rc=%d, %s)" % (mode, rc, se[-300:]))
        invalid = sum(r["reward_invalid"] for r in rows)
        if mode == "ok":
            check(invalid == 0 and sum(r["reward_error"] for r in rows) == 0,
                  "ok server: no failed scoring")
        else:
            check(invalid > 0 and s["groups_requeued"] > 0,
                  "garbage answers counted as reward_invalid (%d) and requeued (%d), "
                  "never scored 0" % (invalid, s["groups_requeued"]))
    # Only garbage: no group is ever scored and no step completes. The run
    # does not stop by itself (the server may be fixed while it waits): the
    # watchdog names the failing scorer within seconds, and Ctrl-C ends the
    # run, not ok, with no step trained.
    srv, url = reward_server("garbage")
    cfg = derived_config(BASIC, tmp, [(REWARD_RULES,
        "reward:\n  kind: http\n  url: %s\n  timeout_s: 5\n  retries: 1\n" % url)])
    out = os.path.join(tmp, "out-garbage")
    p, err = start([binary, "run", cfg, "--steps", "3", "--output", out])
    try:
        line = err.wait(lambda l: re.search(r"reward_failing: .*invalid [1-9]", l), 60,
                        "the watchdog's reward_failing line")
        p.send_signal(signal.SIGINT)
        err.rest(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
        srv.shutdown()
    s = summary(out)
    check(line is not None and s["ok"] == 0 and s["steps"] == 0,
          "only garbage: the watchdog names the invalid scorings, no step, not ok (%s)"
          % s["reason"])


def reward_command(binary):
    out = tempfile.mkdtemp(prefix="tandem-e2e-rc-")
    root = os.path.join(HERE, "..", "..")
    cfg = os.path.join(root, "configs", "reward", "command.yaml")
    p = subprocess.run([binary, "run", cfg, "--steps", "20", "--output", out, "--quiet"],
                       capture_output=True, text=True, timeout=300, cwd=root)
    s = summary(out)
    rows = metrics(out)
    check(p.returncode == 0 and s["ok"] == 1 and s["steps"] == 20 and len(rows) == 20,
          "configs/reward/command.yaml: 20 steps, ok (rc=%d, %s)" % (p.returncode, p.stderr[-300:]))
    check(sum(r["reward_invalid"] + r["reward_error"] + r["reward_timeout"] for r in rows) == 0,
          "no failed scoring")
    check("[reward command #1] my_reward ready" in p.stderr,
          "the program's stderr is in the run log, prefixed")


CHAT_TEMPLATE = ("{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] "
                 "+ '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}"
                 "{{ '<|im_start|>assistant\\n' }}{% endif %}")


def chat_fixture(tmp):
    """tests/data/hf/tiny-qwen2 with the files a chat model ships beside its
    weights: tokenizer_config.json (its chat template) and generation_config.json."""
    d = os.path.join(tmp, "tiny-qwen2-chat")
    shutil.copytree(os.path.join(DATA, "hf", "tiny-qwen2"), d)
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "eos_token": "<|im_end|>",
                   "pad_token": "<|endoftext|>", "chat_template": CHAT_TEMPLATE}, f)
    with open(os.path.join(d, "generation_config.json"), "w") as f:
        json.dump({"eos_token_id": 2, "do_sample": True}, f)
    return d


def tandem_ok(binary, args, what, timeout=120):
    rc, so, se = run(binary, args, timeout=timeout)
    check(rc == 0, "%s (rc=%d, %s)" % (what, rc, (so + se)[-400:]))
    return so


def jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def check_hf_copy(d, fixture, weights):
    """An HF copy: the fixture's config and tensor names, `weights` (the
    float32 blob it was written from) bit for bit, the tokenizer files."""
    names0, _ = safetensors_blob(os.path.join(fixture, "model.safetensors"))
    names, data = safetensors_blob(os.path.join(d, "model.safetensors"))
    check(sorted(names) == sorted(names0) and data == weights,
          "%s: the fixture's tensor names, the weights bit for bit" % d)
    for name in ("config.json", "tokenizer_config.json", "generation_config.json"):
        with open(os.path.join(d, name), "rb") as a, open(os.path.join(fixture, name), "rb") as b:
            check(a.read() == b.read(), "%s: %s as the input has it" % (d, name))
    with open(os.path.join(d, "tokenizer.json"), "rb") as a, \
         open(os.path.join(DATA, "hf", "tokenizer-qwen2", "tokenizer.json"), "rb") as b:
        check(a.read() == b.read(), "%s: the run's tokenizer.json" % d)


def hf_eval_run(binary, tmp):
    fixture = chat_fixture(tmp)
    cfg = derived_config(
        os.path.join(HERE, "..", "..", "configs", "debug", "hf-tiny.yaml"), tmp,
        [("../../tests/data/hf/tiny-qwen2", fixture),
         ("../../tests/data", os.path.abspath(DATA)),
         ("steps: 200,", "steps: 4, checkpoint_every: 2,"),
         ("sampler: {count: 2,", "sampler: {count: 1, threads: 1,"),
         ("learner: {lr: 0.001}", "learner: {lr: 0.001, entropy_coef: 0.01}\n"
          "eval: {every: 2, size: 10, k: 2, samples_every: 2, samples_count: 3}")])
    out = os.path.join(tmp, "run")
    rc, so, se = run(binary, ["run", cfg, "--output", out, "--quiet"], timeout=300)
    check(rc == 0 and summary(out)["ok"] == 1, "hf-tiny with eval ran 4 steps (rc=%d, %s)"
          % (rc, se[-400:]))
    with open(os.path.join(out, "weights.tndm"), "rb") as f:
        check_hf_copy(os.path.join(out, "hf"), fixture, f.read()[32:])
    for step in (2, 4):
        ck = os.path.join(out, "checkpoints", "step-%08d" % step)
        with open(os.path.join(ck, "weights.bin"), "rb") as f:
            check_hf_copy(os.path.join(ck, "hf"), fixture, f.read())
    check(not glob.glob(os.path.join(out, "**", "*.tmp-hf"), recursive=True)
          and not glob.glob(os.path.join(out, "**", "*.old-hf"), recursive=True),
          "no temporary HF directory is left")
    return cfg, out


def hf_eval_files(out):
    evals = jsonl(os.path.join(out, "eval.jsonl"))
    check([e["version"] for e in evals] == [0, 2, 4]
          and all(e["step"] == e["version"] and e["problems"] == 10 and e["k"] == 2
                  and 0 <= e["greedy_acc"] <= 1 and 0 <= e["pass_at_k"] <= 1 for e in evals),
          "eval.jsonl: versions 0, 2, 4 (every 2 and the final), 10 problems, k 2: %s" % evals)
    samples = jsonl(os.path.join(out, "samples.jsonl"))
    keys = {"step", "version", "prompt", "completion", "reward", "correct", "answer"}
    check(len(samples) == 9 and [x["version"] for x in samples] == [0] * 3 + [2] * 3 + [4] * 3
          and all(keys <= set(x) and x["prompt"].endswith("=<answer>") for x in samples),
          "samples.jsonl: 3 completions at versions 0, 2, 4 with prompt, completion, "
          "reward, answer: %s" % samples[:2])
    rows = metrics(out)
    tagged = [r for r in rows if "eval_version" in r]
    check(len(rows) == 4 and [r["step"] for r in rows] == [1, 2, 3, 4]
          and tagged and all(r["eval_version"] <= r["step"] and "eval_greedy_acc" in r
                             and "eval_pass_at_k" in r for r in tagged),
          "metrics.jsonl: one record per step; %d carry the newest evaluation" % len(tagged))
    return evals


def hf_eval_commands(binary, cfg, out, evals):
    so = tandem_ok(binary, ["generate", os.path.join(out, "hf"), "--prompt", "3+4=", "--n", "2",
                            "--seed", "5"], "tandem generate on the run's HF directory")
    check("completion 1 of 2" in so and "completion 2 of 2" in so and "3+4=<answer>" in so,
          "it prints both completions of the framed prompt: %r" % so[-300:])
    so = tandem_ok(binary, ["generate", out, "--prompt", "1+1=", "--temperature", "0"],
                   "tandem generate on the run directory (its newest checkpoint)")
    check("step-00000004 (v4)" in so and "completion 1 of 1" in so, "from step 4: %r" % so[:200])
    so = tandem_ok(binary, ["eval", os.path.join(out, "checkpoints", "step-00000004"), cfg,
                            "--split", "10", "--k", "2"], "tandem eval on checkpoint 4")
    last = json.loads(so.strip().splitlines()[-1])
    check(last["problems"] == 10 and last["version"] == 4 and last["k"] == 2
          and last["greedy_acc"] == evals[-1]["greedy_acc"]
          and last["pass_at_k"] == evals[-1]["pass_at_k"]
          and "greedy accuracy" in so.splitlines()[0],
          "a readable line, then JSON equal to the run's own evaluation of v4: %s" % last)
    bare = os.path.join(DATA, "hf", "tiny-qwen2")
    rc, so, se = run(binary, ["generate", bare, "--prompt", "hi"], timeout=60)
    check(rc == 2 and "no tokenizer.json" in se, "an HF dir without tokenizer.json: exit 2")
    rc, so, se = run(binary, ["generate", out, "--prompt", "x", "--n", "0"], timeout=60)
    check(rc == 2 and "--n" in se, "a flag out of range: exit 2 (%s)" % se.strip()[-200:])
    rc, so, se = run(binary, ["generate", out], timeout=60)
    check(rc == 2 and "--prompt" in se, "no --prompt: exit 2")
    rc, so, se = run(binary, ["eval", DATA, cfg], timeout=60)
    check(rc == 2 and "is not a checkpoint" in se, "a directory that is no checkpoint: exit 2")
    rc, so, se = run(binary, ["eval", out, cfg, "--k", "3", "--n", "2"], timeout=60)
    check(rc == 2 and "below k" in se, "--n below --k: exit 2")


def hf_eval_basic(binary, tmp):
    cfg = derived_config(BASIC, tmp, [("  steps: 3000\n", "  steps: 2\n  checkpoint_every: 1\n")])
    out = os.path.join(tmp, "basic")
    rc, so, se = run(binary, ["run", cfg, "--output", out, "--quiet"], timeout=120)
    check(rc == 0, "configs/basic/run.yaml ran 2 steps (rc=%d, %s)" % (rc, se[-400:]))
    check(not os.path.exists(os.path.join(out, "hf")), "random init: no HF copy (tandem export)")
    ck = os.path.join(out, "checkpoints", "step-00000001")
    greedy = [tandem_ok(binary, ["generate", ck, "--prompt", "3+4=", "--temperature", "0"],
                        "tandem generate on a default-config checkpoint") for _ in range(2)]
    check(greedy[0] == greedy[1] and "completion 1 of 1" in greedy[0]
          and "<bos>3+4=<answer>" in greedy[0], "greedy output repeats: %r" % greedy[0])
    so = tandem_ok(binary, ["eval", out, cfg, "--split", "25", "--k", "2", "--samples", "2"],
                   "tandem eval on the default-config run")
    lines = so.strip().splitlines()
    summary_line = json.loads(lines[1])
    check(summary_line["problems"] == 25 and summary_line["version"] == 2 and len(lines) == 4
          and all("completion" in json.loads(x) for x in lines[2:]),
          "the whole 5x5 addition table, then 2 sample lines: %s" % summary_line)


def hf_eval(binary):
    tmp = tempfile.mkdtemp(prefix="tandem-e2e-hfeval-")
    cfg, out = hf_eval_run(binary, tmp)
    evals = hf_eval_files(out)
    hf_eval_commands(binary, cfg, out, evals)
    hf_eval_basic(binary, tmp)


def prompt_formats(binary):
    tmp = tempfile.mkdtemp(prefix="tandem-e2e-pf-")
    # r1 on the built-in tokenizer: <think> and </think> join the vocabulary.
    cfg = derived_config(BASIC, tmp, [
        ("  kind: arithmetic\n", "  kind: arithmetic\n  format: r1\n"),
        ("max_seq_len: 24", "max_seq_len: 32"),
        ("max_new_tokens: 6", "max_new_tokens: 12\n  top_k: 20"),
        ("  lr: 0.0003\n", "  lr: 0.0003\n  lr_schedule: cosine\n  warmup_steps: 2\n"
                          "  min_lr: 0.00003\n")])
    out = os.path.join(tmp, "r1")
    rc, so, se = run(binary, ["run", cfg, "--steps", "6", "--output", out, "--quiet"],
                     timeout=300)
    check(rc == 0, "task.format: r1 runs (rc=%d, %s)" % (rc, se[-500:]))
    s = summary(out)
    rows = metrics(out)
    check(s["ok"] == 1 and s["steps"] == 6 and len(rows) == 6, "r1: 6 steps, summary ok")
    check(all(0 <= r["reward_mean"] <= 1 and 0 <= r["format"] <= 1 for r in rows)
          and sum(r["reward_ok"] for r in rows) == s["groups_consumed"] == 6 * 16,
          "every group was scored once")
    # 102,592 parameters with 79 ids; two more ids add a row to the
    # embedding and to the output projection (64 each).
    check(os.path.getsize(os.path.join(out, "weights.tndm")) == 32 + 4 * (102592 + 2 * 2 * 64),
          "the policy has 81 ids (<think> and </think>)")
    # Cosine with warmup 2 over run.steps 6 (models/lr_schedule.hpp).
    want = [1.5e-4, 3e-4] + [3e-5 + 2.7e-4 * (1 + math.cos(math.pi * p / 4)) / 2
                             for p in range(4)]
    got = [r["lr"] for r in rows]
    check(len(got) == 6 and all(abs(a - b) <= 1e-5 * b for a, b in zip(got, want)),
          "lr follows the schedule (6 digits in metrics.jsonl): %s" % got)
    check(all(r["prompts_dropped_long"] == 0 for r in rows), "no prompt dropped")
    # The Qwen2.5 example on the tiny fixture.
    root = os.path.join(HERE, "..", "..")
    out = os.path.join(tmp, "qwen")
    p = subprocess.run([binary, "run", os.path.join(root, "configs", "debug", "qwen2.5-r1.yaml"),
                        "--steps", "3", "--output", out, "--quiet"],
                       capture_output=True, text=True, timeout=300, cwd=root)
    s = summary(out)
    check(p.returncode == 0 and s["ok"] == 1 and len(metrics(out)) == 3,
          "configs/debug/qwen2.5-r1.yaml: 3 steps, ok (rc=%d, %s)"
          % (p.returncode, p.stderr[-400:]))
    # A dataset with some prompts too long: they are dropped and counted.
    jsonl = os.path.join(root, "configs", "debug", "jsonl.yaml")
    cfg = derived_config(jsonl, tmp, [("max_seq_len: 96", "max_seq_len: 40"),
                                      ("path: data/arith-sample.jsonl",
                                       "path: %s" % os.path.join(root, "configs", "debug",
                                                                 "data", "arith-sample.jsonl"))])
    out = os.path.join(tmp, "long")
    rc, so, se = run(binary, ["run", cfg, "--steps", "3", "--output", out, "--quiet"],
                     timeout=300)
    rows = metrics(out) if rc == 0 else []
    check(rc == 0 and len(rows) == 3 and summary(out)["ok"] == 1,
          "prompts over the limit do not stop the run (rc=%d, %s)" % (rc, se[-300:]))
    check(rows and rows[-1]["prompts_dropped_long_total"] > 0
          and rows[-1]["prompts_dropped_long_total"]
          == sum(r["prompts_dropped_long"] for r in rows)
          and summary(out)["prompts_dropped_long"] >= rows[-1]["prompts_dropped_long_total"],
          "they are counted per step and in all (%s)"
          % [r["prompts_dropped_long"] for r in rows])
    # GSM8K-style rows, r1, graded by the math grader.
    with open(os.path.join(tmp, "gsm8k.yaml"), "w") as f:
        f.write("run: {steps: 2, groups_per_step: 4, group_size: 4}\n"
                "model: {max_seq_len: 96}\n"
                "task: {kind: gsm8k, path: %s, format: r1}\n"
                "sampler: {max_new_tokens: 12}\n" % os.path.join(DATA, "gsm8k_tiny.jsonl"))
    out = os.path.join(tmp, "gsm8k")
    rc, so, se = run(binary, ["run", os.path.join(tmp, "gsm8k.yaml"), "--output", out,
                              "--quiet"], timeout=300)
    check(rc == 0 and summary(out)["ok"] == 1 and len(metrics(out)) == 2,
          "task.kind: gsm8k runs (rc=%d, %s)" % (rc, se[-300:]))
    # No generated prompt fits: the run stops and says why, it does not spin.
    with open(os.path.join(tmp, "none_fit.yaml"), "w") as f:
        f.write("run: {steps: 2}\ntask: {max_prompt_tokens: 3}\n")
    out = os.path.join(tmp, "none_fit")
    rc, so, se = run(binary, ["run", os.path.join(tmp, "none_fit.yaml"), "--output", out,
                              "--quiet"], timeout=120)
    s = summary(out)
    check(rc != 0 and s["ok"] == 0 and "no usable prompt" in s["reason"]
          and "task.max_prompt_tokens" in s["reason"],
          "a source with no prompt short enough stops with a clear error (rc=%d, %s)"
          % (rc, s["reason"]))


def hf_families(binary):
    """Llama 3.1 (llama3 rope scaling), Qwen3 (q/k norms, head_dim 24) and
    Mistral checkpoints (tests/data/hf/family-*): each trains 2 steps from the
    checkpoint and `tandem export` writes its family back; the export loads
    to the same logits as the run's own hf/ copy."""
    tmp = tempfile.mkdtemp(prefix="tandem-e2e-fam-")
    with open(os.path.join(DATA, "e2e_hf.yaml")) as f:
        base = f.read()
    for fam, model_type, arch in (("llama31", "llama", "LlamaForCausalLM"),
                                  ("qwen3", "qwen3", "Qwen3ForCausalLM"),
                                  ("mistral", "mistral", "MistralForCausalLM")):
        cfg = os.path.join(tmp, fam + ".yaml")
        out, exp = os.path.join(tmp, fam), os.path.join(tmp, fam + "-export")
        hf_dir = os.path.abspath(os.path.join(DATA, "hf"))
        with open(cfg, "w") as f:
            f.write(base.replace("hf/tiny-qwen2", os.path.join(hf_dir, "family-" + fam))
                    .replace("hf/tokenizer-qwen2", os.path.join(hf_dir, "tokenizer-qwen2")))
        rc, so, se = run(binary, ["run", cfg, "--steps", "2", "--output", out, "--quiet"],
                         timeout=300)
        s = summary(out) if os.path.exists(os.path.join(out, "summary.json")) else {}
        check(rc == 0 and s.get("ok") == 1 and s.get("steps") == 2,
              "%s: trained 2 steps from the checkpoint (rc=%d, %s)" % (fam, rc, se[-300:]))
        rc, so, se = run(binary, ["export", out, "--out", exp], timeout=120)
        check(rc == 0, "%s: tandem export exits 0 (%s)" % (fam, se[-300:]))
        with open(os.path.join(exp, "config.json")) as f:
            c = json.load(f)
        check(c["model_type"] == model_type and c["architectures"] == [arch],
              "%s: the export says model_type %s, %s" % (fam, model_type, arch))
        logits = []
        for d in (exp, os.path.join(out, "hf")):
            path = os.path.join(tmp, "logits.bin")
            rc, so, se = run(binary, ["logits", "--model", d, "--ids", "1,17,250,3",
                                      "--out", path], timeout=60)
            check(rc == 0, "%s: %s loads (%s)" % (fam, d, se[-300:]))
            with open(path, "rb") as f:
                logits.append(f.read())
        check(logits[0] == logits[1], "%s: export and run hf/ give the same logits" % fam)


def learner_ranks(binary):
    """learner.ranks 2 on the CPU: two learner ranks as threads of the head,
    gradients summed over the thread group, trains and checkpoints (ZeRO 0
    and 1; with 1 every checkpoint gathers the sharded AdamW state from both
    ranks); a ZeRO-1 run SIGKILLed mid-way resumes to the uninterrupted
    run's final weights, byte for byte."""
    tmp = tempfile.mkdtemp(prefix="tandem-e2e-ranks-")
    base = os.path.join(DATA, "e2e_exact_resume.yaml")
    cfgs = {}
    for zero in (0, 1):
        d = os.path.join(tmp, "zero%d" % zero)
        os.makedirs(d)
        cfgs[zero] = derived_config(base, d, [
            ("steps: 60", "steps: 30"),
            ("learner: {lr: 0.001}", "learner: {lr: 0.001, ranks: 2, zero_stage: %d}" % zero)])
    for zero in (0, 1):
        out = os.path.join(tmp, "run%d" % zero)
        rc, so, se = run(binary, ["run", cfgs[zero], "--output", out, "--quiet"], timeout=300)
        check(rc == 0, "zero_stage %d: 2 ranks finished the run (rc=%d, %s)"
              % (zero, rc, se[-400:]))
        check([r["step"] for r in metrics(out)] == list(range(1, 31)),
              "zero_stage %d: metrics hold steps 1..30" % zero)
        steps = sorted(os.listdir(os.path.join(out, "checkpoints")))
        check("step-000030" in steps or len(steps) >= 2,
              "zero_stage %d: checkpoints written: %s" % (zero, steps))
    b = os.path.join(tmp, "killed")
    p = subprocess.Popen([binary, "run", cfgs[1], "--output", b], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    err = Output(p)
    try:
        err.wait(lambda l: (progress(l) or (0, 0))[0] >= 21, 180, "21 trained steps")
        os.killpg(p.pid, signal.SIGKILL)
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    rc, so, se = run(binary, ["resume", b, "--quiet"], timeout=300)
    check(rc == 0 and "resuming from" in se,
          "the killed 2-rank run resumed from a checkpoint (rc=%d, %s)" % (rc, se[-400:]))
    check([r["step"] for r in metrics(b)] == list(range(1, 31)),
          "resumed: metrics hold steps 1..30 once each")
    with open(os.path.join(tmp, "run1", "weights.tndm"), "rb") as f1, \
         open(os.path.join(b, "weights.tndm"), "rb") as f2:
        check(f1.read() == f2.read(), "resumed 2-rank ZeRO-1 run: final weights byte-identical")
    print("learner.ranks 2: zero_stage 0 and 1 ran 30 steps; killed + resumed matches")


def learner_ranks_2proc(binary):
    """learner.ranks 2 with rank 1 in a worker process: trains 30 steps and
    ends with the weights of the same run with both ranks in the head, byte
    for byte, with ZeRO 0 and 1 (the socket collective adds in rank order
    like the thread group). SIGKILLing the rank's worker gives a typed error naming learner
    rank 1 within train_s / 3, the run stops failed with its checkpoints, and
    `tandem resume` (which builds fresh ranks) finishes it with the
    uninterrupted run's weights."""
    tmp = tempfile.mkdtemp(prefix="tandem-e2e-ranks2p-")
    spread = os.path.join(DATA, "e2e_learner_ranks_2proc.yaml")
    base = os.path.join(DATA, "e2e_exact_resume.yaml")
    for zero in (0, 1):
        d = os.path.join(tmp, "cfg%d" % zero)
        os.makedirs(d)
        together = derived_config(base, d, [
            ("steps: 60", "steps: 30"),
            ("learner: {lr: 0.001}",
             "learner: {lr: 0.001, ranks: 2, zero_stage: %d}" % zero)])
        apart = derived_config(spread, d, [
            ("learner: {lr: 0.001, ranks: 2}",
             "learner: {lr: 0.001, ranks: 2, zero_stage: %d}" % zero)])
        ref = os.path.join(tmp, "together%d" % zero)
        rc, so, se = run(binary, ["run", together, "--output", ref, "--quiet"], timeout=300)
        check(rc == 0, "zero %d: 2 ranks in the head finished (rc=%d, %s)" % (zero, rc, se[-400:]))
        out = os.path.join(tmp, "spread%d" % zero)
        rc, so, se = run(binary, ["run", apart, "--output", out, "--quiet"], timeout=300)
        check(rc == 0, "zero %d: 2 ranks in 2 processes finished (rc=%d, %s)"
              % (zero, rc, se[-600:]))
        check([r["step"] for r in metrics(out)] == list(range(1, 31)),
              "zero %d, 2 processes: metrics hold steps 1..30" % zero)
        with open(os.path.join(ref, "weights.tndm"), "rb") as f1, \
             open(os.path.join(out, "weights.tndm"), "rb") as f2:
            check(f1.read() == f2.read(), "zero %d, rank 1 in a worker process: final weights "
                  "byte-identical to the in-head pair" % zero)
    # Three ranks: two in the head (both on the socket collective), one in a
    # worker, rollouts and weights over ZeroMQ, the sampler in its own process.
    d = os.path.join(tmp, "cfg3")
    os.makedirs(d)
    together = derived_config(base, d, [("steps: 60", "steps: 30"),
                                        ("learner: {lr: 0.001}", "learner: {lr: 0.001, ranks: 3}")])
    apart = derived_config(spread, d, [
        ("learner: {lr: 0.001, ranks: 2}", "learner: {lr: 0.001, ranks: 3}"),
        ("        - {node: local, process: head}\n        - {node: local, process: rank-1}",
         "        - {node: local, process: head, instances: 2}\n"
         "        - {node: local, process: rank-2}"),
        ("  groups:", "  transports: {rollouts: zmq, weights: zmq}\n  groups:"),
        ("    - role: sampler\n      placements: [{node: local, process: head}]",
         "    - role: sampler\n      placements: [{node: local, process: samplers}]")])
    for name, cfg in (("together3", together), ("spread3", apart)):
        rc, so, se = run(binary, ["run", cfg, "--output", os.path.join(tmp, name), "--quiet"],
                         timeout=300)
        check(rc == 0, "3 ranks, %s: finished (rc=%d, %s)" % (name, rc, se[-600:]))
    with open(os.path.join(tmp, "together3", "weights.tndm"), "rb") as f1, \
         open(os.path.join(tmp, "spread3", "weights.tndm"), "rb") as f2:
        check(f1.read() == f2.read(), "3 ranks, 2 in the head + 1 in a worker, data plane on "
              "ZeroMQ: final weights byte-identical to 3 ranks in the head")
    ref = os.path.join(tmp, "together0")

    killed = os.path.join(tmp, "killed")
    p, err = start([binary, "run", spread, "--output", killed])
    try:
        pids = worker_pids(err)
        err.wait(lambda l: (progress(l) or (0, 0))[0] >= 12, 180, "12 trained steps")
        t0 = time.monotonic()
        os.kill(pids[0], signal.SIGKILL)
        err.rest(timeout=300)
    finally:
        if p.poll() is None:
            p.kill()
    reason = summary(killed)["reason"]
    check(p.returncode != 0, "the run stopped failed after its learner rank died (rc=%s)"
          % p.returncode)
    check(re.search(r"learner rank 1|rank 1 (did not join|left)", reason)
          and ("peer_down" in reason or "collective_timeout" in reason),
          "a typed error names learner rank 1: %s" % reason)
    check(time.monotonic() - t0 < 120, "the run stopped within its deadlines")
    steps = sorted(os.listdir(os.path.join(killed, "checkpoints")))
    check(any(s.startswith("step-0000") for s in steps), "checkpoints kept: %s" % steps)
    rc, so, se = run(binary, ["resume", killed, "--quiet"], timeout=300)
    check(rc == 0 and "resuming from" in se,
          "the stopped run resumed with fresh ranks (rc=%d, %s)" % (rc, se[-600:]))
    check([r["step"] for r in metrics(killed)] == list(range(1, 31)),
          "resumed: metrics hold steps 1..30 once each")
    with open(os.path.join(ref, "weights.tndm"), "rb") as f1, \
         open(os.path.join(killed, "weights.tndm"), "rb") as f2:
        check(f1.read() == f2.read(), "killed + resumed: final weights byte-identical")
    print("learner.ranks 2 in 2 processes: matches the in-head pair; a killed rank stops "
          "the run with a typed error; resume finishes it")


if __name__ == "__main__":
    {"learning": learning, "basic_smoke": basic_smoke, "two_process": two_process,
     "bad_config": bad_config, "worker_killed": worker_killed, "local_3proc": local_3proc,
     "two_node_netns": two_node_netns, "scale": scale, "hf": hf, "interrupt": interrupt,
     "worker_hung": worker_hung, "gpu_run": gpu_run, "head_killed": head_killed,
     "exact_resume": exact_resume, "chaos": chaos, "durable_failures": durable_failures,
     "worker_rejoin": worker_rejoin, "export": export, "reward_http": reward_http,
     "reward_command": reward_command, "hf_eval": hf_eval,
     "prompt_formats": prompt_formats, "control_attacks": control_attacks,
     "hf_families": hf_families, "learner_ranks": learner_ranks,
     "learner_ranks_2proc": learner_ranks_2proc}[sys.argv[2]](sys.argv[1])
