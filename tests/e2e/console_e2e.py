#!/usr/bin/env python3
"""The monitoring console on a real multi-process run (tandem run: a head and
a worker process, each with a sampler).

  browser   the page in headless Chromium shows every actor's row with its
            live version; SIGKILL of the worker turns its rows dead within
            2 s; a screenshot is saved; /metrics passes `promtool check
            metrics`; control requests without / with a wrong token get
            401 / 403 and change nothing; with the token, scale works from
            the page.
  top       `tandem top RUN_DIR` under tmux shows the same rows and quits.
  restart   SIGKILL of the head: its supervisor restarts it on the same
            console port, and the open page reconnects by itself and shows
            the new incarnation with its actors.

usage: console_e2e.py TANDEM_BINARY CHECK [OUT_DIR]
Exit 77 (skipped) when Chromium, chromedriver, promtool or tmux is missing
(scripts/install-deps.sh installs them).
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
DATA = os.path.join(HERE, "..", "data")

from e2e import check, start, worker_pids, progress  # noqa: E402
from webdriver import WebDriver  # noqa: E402

CONSOLE = re.compile(r"console: (http://[0-9.]+:\d+/)#token=([0-9a-f]+)")


def need(*tools):
    for t in tools:
        if shutil.which(t) is None:
            print("SKIP: %s not found (scripts/install-deps.sh installs it)" % t)
            sys.exit(77)


def http(url, data=None, token=None, timeout=5):
    """(status, body) of one request; a JSON body is sent as POST."""
    req = urllib.request.Request(url, data=None if data is None else json.dumps(data).encode(),
                                 method="GET" if data is None else "POST")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token is not None:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def actors(url):
    status, body = http(url + "api/actors")
    if status != 200:
        check(False, "GET /api/actors answers 200 (%d)" % status)
    return json.loads(body)["actors"]


def start_run(binary, out):
    p, err = start([binary, "run", os.path.join(DATA, "e2e_console.yaml"), "--output", out])
    m = err.wait(lambda l: CONSOLE.search(l), 60, "the console's URL")
    url, token = m.group(1), m.group(2)
    pids = worker_pids(err)
    err.wait(lambda l: (progress(l) or (0, 0))[0] >= 5, 120, "5 trained steps")
    with open(os.path.join(out, "console.url")) as f:
        check(f.read().strip() == url, "RUN_DIR/console.url names the console")
    mode = os.stat(os.path.join(out, "console.token")).st_mode & 0o777
    check(mode == 0o600, "RUN_DIR/console.token is private (mode %o)" % mode)
    return p, err, url, token, pids


WANT_ROLES = {"controller", "learner", "sampler", "reward", "broadcaster"}


def wait_listed(url, pids):
    """/api/actors once every role and the worker process have reported (the
    first beats arrive within one 500 ms interval; 10 s allowed)."""
    end = time.monotonic() + 10
    while True:
        listed = actors(url)
        if ({a["role"] for a in listed} >= WANT_ROLES and any(a["pid"] == pids[0] for a in listed)
                or time.monotonic() > end):
            return listed
        time.sleep(0.1)


def stop_run(p, err):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
    try:
        err.rest(timeout=120)
    except subprocess.TimeoutExpired:
        p.kill()


def wait_rows(wd, names, timeout):
    """Every name's row appears (the table is virtualized: each is filtered to
    so that its row is rendered)."""
    end = time.monotonic() + timeout
    for n in names:
        wd.execute("const f = document.getElementById('filter-text'); f.value = arguments[0];"
                   "f.dispatchEvent(new Event('input'));", n)
        left = max(0.1, end - time.monotonic())
        wd.wait_until("const r = document.querySelector('tr[data-name=\"' + CSS.escape("
                      "arguments[0]) + '\"]'); return r && r.dataset.state;", n, timeout=left)
    wd.execute("const f = document.getElementById('filter-text'); f.value = '';"
               "f.dispatchEvent(new Event('input'));")


def row_state(wd, name):
    return wd.execute("const r = document.querySelector('tr[data-name=\"' + CSS.escape("
                      "arguments[0]) + '\"]'); return r ? r.dataset.state : null;", name)


def page_version(wd, name):
    """The version cell of `name`'s row on the page (the table's 6th column),
    with the table filtered to it so that the row is rendered."""
    wd.execute("const f = document.getElementById('filter-text'); f.value = arguments[0];"
               "f.dispatchEvent(new Event('input'));", name)
    return wd.wait_until(
        "const r = document.querySelector('tr[data-name=\"' + CSS.escape(arguments[0]) + '\"]');"
        "const t = r ? r.children[5].textContent : ''; return /^[0-9]+$/.test(t) ? Number(t)"
        " : null;", name, timeout=10)


def controls_need_the_token(url, token):
    before = [a["name"] for a in actors(url) if a["role"] == "sampler" and a["state"] != "dead"]
    s1, _ = http(url + "api/scale", {"role": "sampler", "count": 5})
    s2, _ = http(url + "api/scale", {"role": "sampler", "count": 5}, token="0" * 32)
    s3, _ = http(url + "api/stop", {}, token="wrong")
    check(s1 == 401 and s2 == 403 and s3 == 403,
          "scale and stop without the token: 401, with a wrong one: 403 (%d %d %d)"
          % (s1, s2, s3))
    time.sleep(1.5)  # the monitor's next publishes would show a change
    after = [a["name"] for a in actors(url) if a["role"] == "sampler" and a["state"] != "dead"]
    check(sorted(before) == sorted(after), "refused requests changed nothing (%s -> %s)"
          % (before, after))


def promtool_passes(url, out_dir):
    status, text = http(url + "metrics")
    check(status == 200 and "tandem_actor_up" in text, "GET /metrics answers with actor series")
    path = os.path.join(out_dir, "metrics.txt")
    with open(path, "w") as f:
        f.write(text)
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=60)
    check(r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(),
          "promtool check metrics passes on /metrics scraped during the run (%s%s)"
          % (r.stdout[-500:], r.stderr[-500:]))


def browser(binary, out_dir):
    need("chromium", "chromedriver", "promtool")
    run_dir = tempfile.mkdtemp(prefix="tandem-console-")
    p, err, url, token, pids = start_run(binary, run_dir)
    try:
        listed = wait_listed(url, pids)
        for key in ("role", "name", "node", "pid", "state", "version"):
            check(all(key in a for a in listed), "every /api/actors entry has '%s'" % key)
        roles = sorted({a["role"] for a in listed})
        check(set(roles) >= WANT_ROLES,
              "the head's and the worker's actors are listed (%s)" % roles)
        worker = [a for a in listed if a["pid"] == pids[0]]
        check(len(worker) >= 1, "the worker process's sampler reports (%s)"
              % [a["name"] for a in worker])
        names = [a["name"] for a in listed]
        with WebDriver(window="1600,1000") as wd:
            wd.get(url + "#token=" + token)
            wait_rows(wd, names, 20)
            check(True, "every actor's row is on the page (%d rows)" % len(names))
            v1 = page_version(wd, "learner")
            v2 = wd.wait_until(
                "const r = document.querySelector('tr[data-name=\"learner\"]');"
                "const v = r ? Number(r.children[5].textContent) : 0;"
                "return v > arguments[0] + 2 ? v : null;", v1, timeout=20)
            check(v2 > v1, "the learner's row shows its live version (v%d -> v%d, pushed)"
                  % (v1, v2))
            sampler_v = page_version(wd, next(a["name"] for a in listed
                                              if a["role"] == "sampler"))
            check(sampler_v >= 0, "a sampler's row shows the version it holds (v%d)" % sampler_v)
            wd.execute("const f = document.getElementById('filter-text'); f.value = '';"
                       "f.dispatchEvent(new Event('input'));")
            wd.screenshot(os.path.join(out_dir, "console.png"))
            promtool_passes(url, out_dir)
            controls_need_the_token(url, token)
            # SIGKILL the worker: its rows turn dead on the page within 2 s.
            gone = [a["name"] for a in worker]
            os.kill(pids[0], signal.SIGKILL)
            t0 = time.monotonic()
            wd.execute("const f = document.getElementById('filter-text'); f.value = arguments[0];"
                       "f.dispatchEvent(new Event('input'));", "")
            wd.wait_until(
                "return arguments[0].every(n => { const r = document.querySelector("
                "'tr[data-name=\"' + CSS.escape(n) + '\"]'); return !r || r.dataset.state === "
                "'dead'; }) && arguments[0].some(n => document.querySelector("
                "'tr[data-name=\"' + CSS.escape(n) + '\"]'));", gone, timeout=10, interval=0.02)
            seen = time.monotonic() - t0
            states = {a["name"]: a["state"] for a in actors(url)}
            check(all(states[n] == "dead" for n in gone),
                  "/api/actors lists the killed worker's actors as dead (%s)"
                  % {n: states[n] for n in gone})
            check(seen <= 2.0, "the killed worker's rows turned dead on the page %.2f s after "
                  "SIGKILL (limit 2 s)" % seen)
            wd.screenshot(os.path.join(out_dir, "console-worker-dead.png"))
            # Scale from the page, with the token from the URL fragment.
            wd.execute("const i = document.getElementById('scale-sampler'); i.value = '3';"
                       "i.dataset.edited = '1'; i.dispatchEvent(new Event('input'));"
                       "document.getElementById('btn-scale-sampler').click();")
            reply = wd.wait_until("const t = document.getElementById('control-reply')"
                                  ".textContent; return t && t.length ? t : null;", timeout=15)
            end = time.monotonic() + 90
            alive = 0
            while time.monotonic() < end:
                alive = len([a for a in actors(url) if a["role"] == "sampler"
                             and a["state"] not in ("dead", "starting")])
                if alive >= 3:
                    break
                time.sleep(0.5)
            check(alive >= 3, "scale from the page brought the run to 3 samplers (%d; reply %r)"
                  % (alive, reply))
            wd.screenshot(os.path.join(out_dir, "console-scaled.png"))
            errors = [m for m in wd.browser_log() if m.get("level") == "SEVERE"
                      and "favicon" not in m.get("message", "")]
            check(not errors, "no script errors on the page (%s)" % errors[:3])
    finally:
        stop_run(p, err)


def tmux(*args):
    return subprocess.run(["tmux"] + list(args), capture_output=True, text=True, timeout=30)


def top(binary, out_dir):
    need("tmux")
    run_dir = tempfile.mkdtemp(prefix="tandem-console-top-")
    p, err, url, token, pids = start_run(binary, run_dir)
    session = "tandem-top-%d" % os.getpid()
    try:
        names = [a["name"] for a in wait_listed(url, pids)]
        check(len(names) >= 6, "the run lists its actors (%s)" % names)
        tmux("new-session", "-d", "-s", session, "-x", "200", "-y", "50",
             "%s top %s; echo TOP-EXIT=$?; sleep 30" % (binary, run_dir))
        screen = ""
        end = time.monotonic() + 20
        while time.monotonic() < end:
            screen = tmux("capture-pane", "-p", "-t", session).stdout
            if all(n in screen for n in names):
                break
            time.sleep(0.2)
        with open(os.path.join(out_dir, "top.txt"), "w") as f:
            f.write(screen)
        check(all(n in screen for n in names), "tandem top shows every actor's row (%s)"
              % [n for n in names if n not in screen])
        check("learner" in screen and "sampler" in screen, "roles shown")
        tmux("send-keys", "-t", session, "q")
        end = time.monotonic() + 10
        while time.monotonic() < end:
            screen = tmux("capture-pane", "-p", "-t", session).stdout
            if "TOP-EXIT=" in screen:
                break
            time.sleep(0.1)
        check("TOP-EXIT=0" in screen, "q quits tandem top with exit 0")
    finally:
        tmux("kill-session", "-t", session)
        stop_run(p, err)


def restart(binary, out_dir):
    need("chromium", "chromedriver")
    run_dir = tempfile.mkdtemp(prefix="tandem-console-restart-")
    p, err, url, token, pids = start_run(binary, run_dir)
    try:
        wait_listed(url, pids)
        err.wait(lambda l: (progress(l) or (0, 0))[0] >= 60, 120, "a checkpoint (step 50)")
        with WebDriver(window="1600,1000") as wd:
            wd.get(url + "#token=" + token)
            wd.wait_until("return document.getElementById('stat-incarnation').textContent"
                          " === '1'", timeout=20)
            with open(os.path.join(run_dir, "head.json")) as f:
                head = json.load(f)["pid"]
            os.kill(head, signal.SIGKILL)
            wd.wait_until("return document.getElementById('conn').dataset.conn !== 'live'",
                          timeout=10, interval=0.02)
            check(True, "the page noticed the head was gone")
            wd.wait_until("return document.getElementById('stat-incarnation').textContent"
                          " === '2' && document.getElementById('conn').dataset.conn === 'live'",
                          timeout=90, interval=0.2)
            with open(os.path.join(run_dir, "console.url")) as f:
                check(f.read().strip() == url, "the restarted head serves the same URL")
            check(True, "the open page reconnected by itself to incarnation 2")
            wait_rows(wd, [a["name"] for a in wait_listed(url, pids)], 20)
            check(True, "the new head's actors, and the worker that rejoined it, are listed")
            wd.screenshot(os.path.join(out_dir, "console-restarted.png"))
    finally:
        stop_run(p, err)


if __name__ == "__main__":
    out = sys.argv[3] if len(sys.argv) > 3 else tempfile.mkdtemp(prefix="tandem-console-out-")
    os.makedirs(out, exist_ok=True)
    {"browser": browser, "top": top, "restart": restart}[sys.argv[2]](sys.argv[1], out)
    print("output in", out)
