"""page_stub.py: a stand-in for the head's console server (Python 3 stdlib),
serving the real page files from console/web/ with fixture data, so the page
can be tested (tests/console/page_test.py) or looked at without a run:

    python3 tests/console/page_stub.py [--port 8000] [--samplers 1024]
    # prints http://127.0.0.1:PORT/#token=stub-token

Serves what console/http_console.hpp lists: /, /console.js, /console.css,
/chart.min.js (Debian's Chart.js), GET /api/actors, /api/run,
/api/events?after=ID, /api/metrics?after=STEP, /api/stream (SSE: "actors" and
"run" whenever the snapshot changes, "event" and "metrics" per new item;
?after_event / ?after_step resume) and POST /api/scale, /api/drain,
/api/stop with the bearer token (401 without, 403 wrong). Every response
carries the head's CSP (default-src 'self').

Fixture: `samplers` samplers, a learner, a controller, 8 reward workers, and
one sampler whose name is HTML (XSS_NAME). Every `tick_s` a ticker thread
bumps versions, heartbeat ages and busy/ready states of a few actors
(never those pinned by set_actor) and publishes a snapshot; with `grow`, a
metrics step every 2 ticks and an event every 4.

Python API (the test's): PageStub(...).start() -> base URL; set_actor(name,
**fields) (pins it); add_event(kind, **fields) -> id; add_step(); posts()
(recorded POSTs: path, authorization, body); restart(down_s) (stops
listening, closes the streams, listens again on the same port); stop().
"""

import argparse
import json
import math
import os
import random
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WEB_DIR = os.path.join(ROOT, "console", "web")
CHART_JS = "/usr/share/javascript/chart.js/chart.min.js"
XSS_NAME = "<img src=x onerror=window.__xss=1>"
CSP = "default-src 'self'"
STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/console.js": ("console.js", "text/javascript; charset=utf-8"),
    "/console.css": ("console.css", "text/css; charset=utf-8"),
}


def _actor(role, name, node, pid, state="busy", version=0, **extra):
    a = {"role": role, "name": name, "node": node, "pid": pid, "state": state,
         "reported_state": state if state not in ("stalled", "dead") else "busy",
         "version": version, "in_flight": 0, "queues": [], "tokens_per_s": 0.0,
         "nccl_epoch": 3, "deadline_breaches": 0, "heartbeat_age_ms": 120,
         "first_seen_age_ms": 3_600_000, "restarts": 0, "errors": 0, "last_error": ""}
    a.update(extra)
    return a


def make_actors(samplers, version):
    rng = random.Random(7)
    out = [_actor("controller", "controller", "head", 1000, "ready", version,
                  queues=[{"name": "work", "depth": 412, "capacity": 4096}]),
           _actor("learner", "learner-0", "gpu-0", 1001, "busy", version, phase="backward",
                  in_flight=1, tokens_per_s=51234.5,
                  queues=[{"name": "batches", "depth": 2, "capacity": 4}])]
    for i in range(8):
        a = _actor("reward", f"reward-{i:02d}", f"cpu-{i % 2}", 2000 + i, "ready", version,
                   in_flight=rng.randint(0, 8), queues=[{"name": "score", "depth": rng.randint(0, 30),
                                                         "capacity": 64}])
        if i == 3:
            a.update(errors=4, last_error="reward timed out after 30 s on group 1842",
                     last_error_age_ms=8200, state="busy")
        out.append(a)
    for i in range(samplers):
        v = version - rng.choice((0, 0, 0, 1, 1, 2))
        a = _actor("sampler", f"sampler-{i:04d}", f"gpu-{i % 16}", 3000 + i // 8,
                   rng.choice(("busy", "busy", "busy", "ready")), v,
                   in_flight=rng.randint(0, 16), tokens_per_s=round(rng.uniform(20, 90), 1),
                   heartbeat_age_ms=rng.randint(5, 480),
                   queues=[{"name": "prompts", "depth": rng.randint(0, 16), "capacity": 16},
                           {"name": "out", "depth": rng.randint(0, 4), "capacity": 8}])
        if i % 97 == 7:
            a.update(state="stalled", heartbeat_age_ms=rng.randint(1600, 9000))
        if i % 211 == 13:
            a.update(state="dead", restarts=1, errors=1, last_error="process exited: signal 9 (killed)",
                     last_error_age_ms=61000, heartbeat_age_ms=61000)
        if i % 131 == 50:
            a.update(state="waiting_for_weights", reported_state="waiting_for_weights", version=v - 3)
        out.append(a)
    out.append(_actor("sampler", XSS_NAME, "gpu-<b>x</b>", 9999, "ready", version,
                      last_error="<script>window.__xss=2</script>"))
    return out


def make_record(step, rng):
    t = step / 200.0
    hist = [int(4000 * math.exp(-k) * rng.uniform(0.8, 1.2)) for k in range(5)]
    total = sum(hist) or 1
    return {"step": step, "version": step, "elapsed_s": 2.1 * step,
            "reward_mean": 0.15 + 0.6 * (1 - math.exp(-step / 70)) + rng.gauss(0, 0.03),
            "accuracy": 0.1 + 0.55 * (1 - math.exp(-step / 80)) + rng.gauss(0, 0.025),
            "kl": 0.001 + 0.012 * t + abs(rng.gauss(0, 0.001)),
            "filtered_frac": max(0.0, 0.6 - 0.4 * t + rng.gauss(0, 0.02)),
            "entropy": 1.3 - 0.45 * t + rng.gauss(0, 0.02),
            "staleness_mean": sum(k * h for k, h in enumerate(hist)) / total,
            "staleness_max": max(k for k, h in enumerate(hist) if h > 0),
            "staleness_hist": hist,
            "tokens_per_s": 48000 + 4000 * math.sin(step / 9) + rng.gauss(0, 800),
            "samplers": 1024, "loss": rng.gauss(0, 0.1)}


class PageStub:
    def __init__(self, samplers=1024, token="stub-token", port=0, tick_s=0.5, grow=True,
                 cause=True):
        self.token = token
        self.tick_s = tick_s
        self.grow = grow
        self._port = port
        self._cond = threading.Condition()
        self._rng = random.Random(11)
        self._seq = 1
        self._generation = 0  # bumped by restart/stop: open streams end
        self._stopping = False
        self._pinned = set()
        self._posts = []
        self._events = []
        self._records = []
        self.actors = make_actors(samplers, 200)
        for s in range(1, 201):
            self._records.append(make_record(s, self._rng))
        self._fixture_events()
        self._run = {"status": "training", "run_dir": "/runs/stub", "incarnation": 2, "step": 200,
                     "steps": 1000, "version": 200, "elapsed_s": 4231.0, "reward_mean": 0.71,
                     "accuracy": 0.63, "tokens_per_s": 48211.0, "samplers": samplers, "rewards": 8,
                     "cause": None, "reward_outcomes": {"ok": 18233, "invalid": 41, "timeout": 4, "error": 2},
                     "console": {"stream_clients": 1, "dropped_clients": 0}}
        if cause:
            self._run["cause"] = {"kind": "staleness_gate_closed", "since_s": 42.0,
                                  "text": "The staleness gate has held sampling for 42 s: the learner is 3 "
                                          "versions behind the oldest in-flight rollout."}
        self._server = None
        self._threads = []

    # -- fixture ---------------------------------------------------------------

    def _fixture_events(self):
        now = time.time() - 600
        kinds = [("joined", "sampler-0001", "starting", "ready", ""),
                 ("joined", "reward-00", "starting", "ready", ""),
                 ("stalled", "sampler-0007", "busy", "stalled", ""),
                 ("recovered", "sampler-0104", "stalled", "busy", ""),
                 ("dead", "sampler-0013", "busy", "dead", "process exited: signal 9 (killed)"),
                 ("restarted", "sampler-0013", "dead", "starting", ""),
                 ("error", "reward-03", "busy", "busy", "reward timed out after 30 s on group 1842"),
                 ("deadline_breach", "learner-0", "busy", "busy", "weights publish took 12.4 s (deadline 10 s)"),
                 ("watchdog", "", None, None, "staleness_gate_closed: the staleness gate holds sampling"),
                 ("scale", "", None, None, "samplers 1000 -> 1024"),
                 ("error", XSS_NAME, "ready", "ready", "<img src=x onerror=window.__xss=3>")]
        for i in range(60):
            kind, name, frm, to, detail = kinds[i % len(kinds)]
            self._append_event(kind, time=now + 10 * i, name=name, frm=frm, to=to, detail=detail)

    def _append_event(self, kind, time=None, name="", frm=None, to=None, detail="", **extra):
        a = next((x for x in self.actors if x["name"] == name), None)
        e = {"id": len(self._events) + 1, "time": time if time is not None else _now(), "kind": kind}
        if name:
            e.update(name=name, role=a["role"] if a else "", node=a["node"] if a else "",
                     pid=a["pid"] if a else 0)
        if frm is not None:
            e.update({"from": frm, "to": to})
        if detail:
            e["detail"] = detail
        e.update(extra)
        self._events.append(e)
        return e["id"]

    # -- public API ------------------------------------------------------------

    def start(self):
        self._listen()
        t = threading.Thread(target=self._ticker, name="stub-ticker", daemon=True)
        t.start()
        self._threads.append(t)
        return self.url

    @property
    def url(self):
        return f"http://127.0.0.1:{self._port}/"

    def set_actor(self, name, **fields):
        with self._cond:
            a = next(x for x in self.actors if x["name"] == name)
            a.update(fields)
            self._pinned.add(name)
            self._publish()

    def add_event(self, kind, **fields):
        with self._cond:
            eid = self._append_event(kind, **fields)
            self._cond.notify_all()
            return eid

    def add_step(self):
        with self._cond:
            step = self._records[-1]["step"] + 1
            self._records.append(make_record(step, self._rng))
            self._run.update(step=step, version=step)
            self._publish()
            return step

    def last_step(self):
        with self._cond:
            return self._records[-1]["step"]

    def posts(self):
        with self._cond:
            return list(self._posts)

    def restart(self, down_s=1.0, during=None, new_incarnation=False, rollback=5):
        """Stops listening and closes every stream, waits `down_s` (calling
        `during()` first), then listens again on the same port. With
        `new_incarnation`, as a new head: the run's incarnation + 1, a new
        event log (ids from 1) and the steps after the last `rollback` ones
        forgotten (resumed from a checkpoint)."""
        self._close_server()
        if new_incarnation:
            with self._cond:
                inc = self._run["incarnation"] + 1
                del self._records[len(self._records) - rollback:]
                step = self._records[-1]["step"]
                self._run.update(incarnation=inc, step=step, version=step)
                self._events = []
                self._append_event("scale", detail=f"head incarnation {inc} resumed from step {step}")
                self._append_event("joined", name="controller", frm="starting", to="ready")
        if during:
            during()
        time.sleep(down_s)
        self._listen()

    def stop(self):
        with self._cond:
            self._stopping = True
        self._close_server()

    # -- server ------------------------------------------------------------------

    def _listen(self):
        handler = type("Handler", (_Handler,), {"stub": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", self._port), handler)
        self._server.daemon_threads = True
        self._port = self._server.server_address[1]
        t = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                             name="stub-http", daemon=True)
        t.start()

    def _close_server(self):
        with self._cond:
            self._generation += 1
            self._cond.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _publish(self):  # caller holds _cond
        self._seq += 1
        self._cond.notify_all()

    def _ticker(self):
        n = 0
        while True:
            time.sleep(self.tick_s)
            with self._cond:
                if self._stopping:
                    return
                n += 1
                self._mutate()
                if self.grow and n % 2 == 0:
                    step = self._records[-1]["step"] + 1
                    self._records.append(make_record(step, self._rng))
                    self._run.update(step=step, version=step)
                if self.grow and n % 4 == 0:
                    self._append_event("recovered", name=f"sampler-{self._rng.randrange(1024):04d}",
                                       frm="stalled", to="busy")
                self._publish()

    def _mutate(self):
        rng = self._rng
        version = self._run["version"]
        for a in self.actors:
            if a["name"] in self._pinned or a["state"] in ("dead", "stalled"):
                continue
            a["heartbeat_age_ms"] = rng.randint(5, 500)
            if rng.random() < 0.1:
                a["version"] = version - rng.choice((0, 0, 1))
                a["tokens_per_s"] = round(rng.uniform(20, 90), 1)
            if a["role"] == "sampler" and a["state"] in ("busy", "ready") and rng.random() < 0.03:
                a["state"] = a["reported_state"] = "ready" if a["state"] == "busy" else "busy"
        self._run["elapsed_s"] += self.tick_s
        self._run["tokens_per_s"] = 48000 + rng.uniform(-2000, 2000)

    # -- documents (caller holds _cond) --------------------------------------

    def _actors_doc(self):
        counts = {s: 0 for s in ("starting", "ready", "busy", "waiting_for_weights", "draining",
                                 "stalled", "dead")}
        for a in self.actors:
            counts[a["state"]] = counts.get(a["state"], 0) + 1
        return {"actors": self.actors, "counts": counts}


def _now():
    return time.time()


class _Handler(BaseHTTPRequestHandler):
    stub = None  # set per server by PageStub._listen
    protocol_version = "HTTP/1.0"

    def log_message(self, *args):
        pass

    def _send(self, code, body, ctype="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        stub = self.stub
        if url.path in STATIC:
            name, ctype = STATIC[url.path]
            with open(os.path.join(WEB_DIR, name), "rb") as f:
                return self._send(200, f.read(), ctype)
        if url.path == "/chart.min.js":
            with open(CHART_JS, "rb") as f:
                return self._send(200, f.read(), "text/javascript; charset=utf-8")
        if url.path == "/api/stream":
            return self._stream(q)
        with stub._cond:
            if url.path == "/api/actors":
                doc = stub._actors_doc()
            elif url.path == "/api/run":
                doc = stub._run
            elif url.path == "/api/events":
                after = int(q.get("after", 0))
                doc = {"events": [e for e in stub._events if e["id"] > after][:1000],
                       "last_id": len(stub._events), "dropped": 0}
            elif url.path == "/api/metrics":
                after = int(q.get("after", -1))
                doc = {"records": [r for r in stub._records if r["step"] > after][:5000],
                       "last_step": stub._records[-1]["step"], "dropped": 0}
            else:
                return self._send(404, {"ok": False, "error": f"no such path: {url.path}"})
            body = json.dumps(doc).encode()
        self._send(200, body)

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        auth = self.headers.get("Authorization")
        stub = self.stub
        with stub._cond:
            stub._posts.append({"path": url.path, "authorization": auth, "body": body})
        if url.path not in ("/api/scale", "/api/drain", "/api/stop"):
            return self._send(404, {"ok": False, "error": f"no such path: {url.path}"})
        if not auth:
            return self._send(401, {"ok": False, "error": "missing token"})
        if auth != f"Bearer {stub.token}":
            return self._send(403, {"ok": False, "error": "wrong token"})
        if url.path == "/api/scale":
            reply = f"scaling {body.get('role')} to {body.get('count')}"
        elif url.path == "/api/drain":
            reply = f"draining {body.get('name')}"
        else:
            reply = "stopping: checkpoint requested"
        self._send(200, {"ok": True, "reply": reply})

    def _stream(self, q):
        stub = self.stub
        after_event = int(q.get("after_event", 0))
        after_step = int(q.get("after_step", -1))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Security-Policy", CSP)
        self.end_headers()
        seen = 0
        with stub._cond:
            generation = stub._generation
        try:
            while True:
                with stub._cond:
                    stub._cond.wait_for(
                        lambda: stub._generation != generation or stub._seq != seen
                        or stub._events[-1]["id"] > after_event
                        or stub._records[-1]["step"] > after_step, timeout=1.0)
                    if stub._generation != generation:
                        return
                    out = []
                    for e in stub._events:
                        if e["id"] > after_event:
                            out.append(("event", e))
                    for r in stub._records:
                        if r["step"] > after_step:
                            out.append(("metrics", r))
                    if stub._seq != seen:
                        out.append(("actors", stub._actors_doc()))
                        out.append(("run", stub._run))
                    seen = stub._seq
                    after_event = max(after_event, stub._events[-1]["id"])
                    after_step = max(after_step, stub._records[-1]["step"])
                    chunk = "".join(f"event: {name}\ndata: {json.dumps(doc)}\n\n" for name, doc in out)
                if chunk:
                    self.wfile.write(chunk.encode())
                    self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            return


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--samplers", type=int, default=1024)
    p.add_argument("--token", default="stub-token")
    p.add_argument("--no-cause", action="store_true", help="no watchdog banner")
    args = p.parse_args()
    stub = PageStub(samplers=args.samplers, token=args.token, port=args.port, cause=not args.no_cause)
    url = stub.start()
    print(f"{url}#token={args.token}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        stub.stop()


if __name__ == "__main__":
    main()
