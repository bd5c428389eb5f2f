#!/usr/bin/env python3
"""top_tmux_test.py: `tandem top` in a real terminal.

A stub console (Python's http.server, in this process) serves the fixture
replies of tests/data/console/; `tandem top http://127.0.0.1:PORT/` runs in
a detached tmux session of a fixed size on a private tmux server. The test
reads the screen with `tmux capture-pane -p`, sends keys (sort, reverse,
filter, dead toggle, a resize) and checks their effect, then checks the
ways out: q and Ctrl-C exit 0, SIGTERM exits 143, a console that never
answers exits 1 after 10 s, and each leaves the terminal as it found it
(same `stty -g`, alternate screen off). A console that goes away while top
runs leaves its last data on screen under "reconnecting…".

usage: top_tmux_test.py TANDEM_BINARY FIXTURE_DIR   (exit 77: tmux missing)
"""
import http.server
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

DEADLINE_S = 15  # for any one thing to appear on the screen


class Console(http.server.BaseHTTPRequestHandler):
    fixtures = ""

    def do_GET(self):
        name = {"/api/run": "run.json", "/api/actors": "actors.json",
                "/api/metrics": "metrics.json"}.get(self.path.split("?")[0])
        if name is None:
            self.send_error(404)
            return
        with open(os.path.join(self.fixtures, name), "rb") as f:
            body = f.read()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Session:
    """One `tandem top` in a tmux session; its exit code and stty settings
    before and after land in files of `work`."""

    def __init__(self, tmux, name, tandem, url, work):
        self.tmux, self.name, self.work = tmux, name, work
        os.makedirs(work)
        inner = f'echo $$ > {work}/pid; exec {tandem} top {url} --interval 200'
        script = (f"stty -g > {work}/before; sh -c '{inner}'; echo $? > {work}/rc; "
                  f"stty -g > {work}/after; echo TOP-EXITED; exec sleep 600")
        self.run("new-session", "-d", "-s", name, "-x", "120", "-y", "30", script)

    def run(self, *args):
        return subprocess.run(self.tmux + list(args), check=True, capture_output=True,
                              text=True).stdout

    def screen(self):
        return self.run("capture-pane", "-p", "-t", self.name).rstrip("\n").split("\n")

    def keys(self, *keys):
        self.run("send-keys", "-t", self.name, *keys)

    def alternate_on(self):
        return self.run("display-message", "-p", "-t", self.name, "#{alternate_on}").strip()

    def wait_for(self, what, check):
        end = time.monotonic() + DEADLINE_S
        while time.monotonic() < end:
            lines = self.screen()
            if check(lines):
                return lines
            time.sleep(0.05)
        raise AssertionError(f"{self.name}: {what} did not show; the screen:\n"
                             + "\n".join(self.screen()))

    def read(self, name):
        with open(os.path.join(self.work, name)) as f:
            return f.read().strip()

    def check_exit(self, code, said=""):
        lines = self.wait_for("the exit", lambda s: any("TOP-EXITED" in l for l in s))
        assert any(said in l for l in lines), f"{self.name}: no '{said}' in {lines}"
        assert self.read("rc") == str(code), f"{self.name}: exit {self.read('rc')}, not {code}"
        assert self.read("before") == self.read("after"), f"{self.name}: stty settings changed"
        assert self.alternate_on() == "0", f"{self.name}: still on the alternate screen"
        assert not any(" ROLE" in l for l in self.screen()), f"{self.name}: table left behind"
        self.run("kill-session", "-t", self.name)


def rows(lines):
    """Table rows as (name, whole line), below the header, above the footer."""
    out, table = [], False
    for l in lines:
        if l.startswith(" ROLE"):
            table = True
        elif table and l.strip() and not l.startswith(("q quit", "filter:")):
            out.append((l[1:].split()[1], l))
    return out


def names(lines):
    return [n for n, _ in rows(lines)]


def footer_says(text):
    return lambda s: any(l.startswith("q quit") and text in l for l in s)


def check_keys(s):
    s.wait_for("the table", lambda l: len(rows(l)) == 7)
    lines = s.screen()
    assert s.alternate_on() == "1", "not on the alternate screen"
    assert lines[0].startswith("tandem top  http://127.0.0.1:"), lines[0]
    assert lines[2].startswith("!! samplers_waiting_for_weights for 12s"), lines[2]
    assert names(lines) == ["learner-0", "reward-0", "reward-1", "sampler-0", "sampler-1",
                            "sampler-2", "sampler-3"], names(lines)
    assert rows(lines)[0][1].startswith(">"), "the first row is not selected"

    s.keys("S")  # back from role to the last column: errors
    lines = s.wait_for("sort by errors", footer_says("sort errors asc"))
    assert names(lines)[-2:] == ["reward-0", "sampler-3"], names(lines)
    s.keys("r")
    lines = s.wait_for("reversed", footer_says("sort errors desc"))
    assert names(lines)[:2] == ["sampler-3", "reward-0"], names(lines)
    s.keys("s")  # forward again, wrapping to role
    s.wait_for("sort by role", footer_says("sort role desc"))

    s.keys("/", "sampler")
    s.wait_for("the filter being typed", lambda l: l[-1].startswith("filter: sampler_"))
    s.keys("Enter")
    lines = s.wait_for("the filter", lambda l: len(rows(l)) == 4)
    assert all(n.startswith("sampler-") for n in names(lines)), names(lines)
    s.keys("d")
    lines = s.wait_for("dead hidden", lambda l: len(rows(l)) == 3)
    assert "sampler-3" not in names(lines), names(lines)
    s.keys("Escape")  # clears the filter; dead ones stay hidden
    lines = s.wait_for("filter cleared", lambda l: len(rows(l)) == 6)
    s.keys("d", "Down", "Down")
    lines = s.wait_for("the selection", lambda l: len(rows(l)) == 7 and rows(l)[2][1][0] == ">")

    s.run("resize-window", "-t", s.name, "-x", "70", "-y", "14")  # SIGWINCH
    lines = s.wait_for("the resized frame", lambda l: len(l) == 14 and l[-1].startswith("q quit"))
    assert all(len(l) <= 70 for l in lines), lines
    s.keys("q")
    s.check_exit(0)


def serve(fixtures):
    """A stub console on an ephemeral loopback port: (server, url)."""
    Console.fixtures = fixtures
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Console)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def check_lost_console(tmux, tandem, fixtures, work):
    server, url = serve(fixtures)
    s = Session(tmux, "lost", tandem, url, work)
    s.wait_for("the table", lambda l: len(rows(l)) == 7)
    server.shutdown()
    server.server_close()
    lines = s.wait_for("reconnecting", lambda l: any(x.startswith("reconnecting… data") for x in l))
    assert len(rows(lines)) == 7, "the last data is gone"
    s.keys("q")
    s.check_exit(0)


def check_never_answers(tmux, tandem, work):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    s = Session(tmux, "never", tandem, f"http://127.0.0.1:{port}/", work)
    s.wait_for("connecting", lambda l: l[0].startswith("tandem top") and
               any(x.startswith("connecting to http://127.0.0.1:") for x in l))
    s.check_exit(1, said="did not answer within 10 s")


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    tandem, fixtures = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    if shutil.which("tmux") is None:
        print("SKIP: tmux is not installed (Debian package tmux)")
        return 77
    server, url = serve(fixtures)
    tmp = tempfile.mkdtemp(prefix="tandem_top_tmux_")
    # A private tmux server, no user config, UTF-8 text.
    tmux = ["tmux", "-u", "-S", os.path.join(tmp, "tmux.sock"), "-f", "/dev/null"]
    os.environ["LC_ALL"] = "C.UTF-8"
    os.environ.pop("NO_COLOR", None)
    try:
        check_keys(Session(tmux, "keys", tandem, url, os.path.join(tmp, "keys")))

        s = Session(tmux, "ctrlc", tandem, url, os.path.join(tmp, "ctrlc"))
        s.wait_for("the table", lambda l: len(rows(l)) == 7)
        s.keys("C-c")
        s.check_exit(0)

        s = Session(tmux, "term", tandem, url, os.path.join(tmp, "term"))
        s.wait_for("the table", lambda l: len(rows(l)) == 7)
        os.kill(int(s.read("pid")), signal.SIGTERM)
        s.check_exit(128 + signal.SIGTERM)

        check_lost_console(tmux, tandem, fixtures, os.path.join(tmp, "lost"))
        check_never_answers(tmux, tandem, os.path.join(tmp, "never"))
    finally:
        subprocess.run(tmux + ["kill-server"], capture_output=True)
        server.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    print("top_tmux_test: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
