"""webdriver.py: a minimal W3C WebDriver client (Python 3 stdlib only) that
drives headless Chromium through chromedriver, for tandem's console tests.

API (everything else is private):

    from webdriver import WebDriver, WebDriverError

    with WebDriver() as wd:              # starts chromedriver + a session
        wd.get("http://127.0.0.1:8080/")  # navigate; waits for the load event
        n = wd.execute("return document.querySelectorAll(arguments[0]).length",
                       "tr")              # sync script; returns its JSON value
        wd.wait_until("return document.title === 'x'", timeout=5)
                                          # polls a script until truthy (its
                                          # value is returned) or raises
        wd.screenshot("/tmp/page.png")    # PNG of the viewport
        wd.browser_log()                  # console messages since the last call
    # leaving the block (or wd.quit(), or interpreter exit) ends the session
    # and kills chromedriver's process group, Chromium included.

    WebDriver(chromedriver="/usr/bin/chromedriver", chromium="/usr/bin/chromium",
              window="1600,1000", timeout=30.0, extra_args=())
      timeout: the deadline of every HTTP request to chromedriver and of its
      start; page loads and scripts get the same deadline inside the browser.
      TANDEM_CHROMEDRIVER / TANDEM_CHROMIUM override the two paths.

Elements are found by script (document.querySelector inside execute), so the
client needs no element-reference plumbing. Errors raise WebDriverError with
chromedriver's message. Each instance uses its own temporary profile directory
(removed on quit).
"""

import atexit
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

__all__ = ["WebDriver", "WebDriverError"]


class WebDriverError(RuntimeError):
    pass


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WebDriver:
    def __init__(self, chromedriver=None, chromium=None, window="1600,1000",
                 timeout=30.0, extra_args=()):
        self.timeout = float(timeout)
        self._proc = None
        self._session = None
        self._profile = tempfile.mkdtemp(prefix="tandem-chromium-")
        driver = chromedriver or os.environ.get("TANDEM_CHROMEDRIVER", "/usr/bin/chromedriver")
        binary = chromium or os.environ.get("TANDEM_CHROMIUM", "/usr/bin/chromium")
        for path in (driver, binary):
            if not os.access(path, os.X_OK):
                shutil.rmtree(self._profile, ignore_errors=True)
                raise WebDriverError(f"not an executable: {path}")
        atexit.register(self.quit)
        try:
            self._start_driver(driver)
            self._new_session(binary, window, extra_args)
        except BaseException:
            self.quit()
            raise

    # -- public -------------------------------------------------------------

    def get(self, url):
        self._cmd("POST", "/url", {"url": url})

    def execute(self, script, *args):
        """Runs `script` as a function body (use `return`); returns its value."""
        return self._cmd("POST", "/execute/sync", {"script": script, "args": list(args)})

    def wait_until(self, script, *args, timeout=10.0, interval=0.05):
        """Polls `script` until it returns a truthy value; returns that value.
        Raises WebDriverError naming the script after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.execute(script, *args)
            if value:
                return value
            if time.monotonic() >= deadline:
                raise WebDriverError(f"timed out after {timeout}s waiting for: {script}")
            time.sleep(interval)

    def screenshot(self, path):
        data = base64.b64decode(self._cmd("GET", "/screenshot"))
        with open(path, "wb") as f:
            f.write(data)
        return path

    def browser_log(self):
        """Browser console entries ({level, message, timestamp}) since the last
        call; [] where chromedriver does not offer the log."""
        try:
            return self._cmd("POST", "/se/log", {"type": "browser"}) or []
        except WebDriverError:
            return []

    def quit(self):
        if self._session is not None:
            try:
                self._request("DELETE", f"/session/{self._session}", None, timeout=5)
            except (WebDriverError, OSError):
                pass
            self._session = None
        if self._proc is not None:
            try:  # chromedriver leads its own process group; Chromium is in it
                os.killpg(self._proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            self._proc = None
        if self._profile:
            shutil.rmtree(self._profile, ignore_errors=True)
            self._profile = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.quit()

    # -- private ------------------------------------------------------------

    def _start_driver(self, driver):
        self._port = _free_port()
        self._proc = subprocess.Popen(
            [driver, f"--port={self._port}", "--allowed-ips=127.0.0.1"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                status = self._request("GET", "/status", None, timeout=2)
                if status.get("ready", True):
                    return
            except (WebDriverError, OSError):
                pass
            if self._proc.poll() is not None:
                raise WebDriverError(f"chromedriver exited with {self._proc.returncode}")
            if time.monotonic() >= deadline:
                raise WebDriverError(f"chromedriver not ready within {self.timeout}s")
            time.sleep(0.05)

    def _new_session(self, binary, window, extra_args):
        args = ["--headless=new", "--no-sandbox", "--disable-gpu",
                f"--window-size={window}", "--disable-dev-shm-usage",
                "--no-first-run", "--no-default-browser-check",
                f"--user-data-dir={self._profile}", *extra_args]
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": binary, "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
        }}}
        value = self._request("POST", "/session", caps, timeout=self.timeout)
        self._session = value["sessionId"]
        ms = int(self.timeout * 1000)
        self._cmd("POST", "/timeouts", {"script": ms, "pageLoad": ms, "implicit": 0})

    def _cmd(self, method, path, body=None):
        if self._session is None:
            raise WebDriverError("no session")
        return self._request(method, f"/session/{self._session}{path}", body,
                             timeout=self.timeout + 5)

    def _request(self, method, path, body, timeout):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self._port}{path}", data=data,
                                     method=method)
        req.add_header("Content-Type", "application/json; charset=utf-8")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                payload = resp.read()
        except urllib.error.HTTPError as e:
            payload = e.read()
            try:
                v = json.loads(payload).get("value", {})
                msg = f"{v.get('error')}: {v.get('message')}"
            except (ValueError, AttributeError):
                msg = payload[:500].decode(errors="replace")
            raise WebDriverError(f"{method} {path}: HTTP {e.code}: {msg}") from None
        return json.loads(payload or b"{}").get("value")
