"""page_test.py: the console page (console/web/) in headless Chromium against
the stub server (page_stub.py): every actor reachable, live SSE updates,
sorting, filters, XSS-safe rendering, charts, control requests with and
without the token, the render time with 1,024 samplers, reconnecting after
the server goes away, no CSP violations. Saves screenshots.

    python3 tests/console/page_test.py [OUT_DIR]   # or TANDEM_TEST_OUT; default /tmp

Exit 0: all checks passed; 1: a check failed (each failure printed);
77: Chromium or chromedriver is missing (ctest counts it as skipped).
"""

import os
import re
import sys
import time
import traceback

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))

from page_stub import PageStub, XSS_NAME  # noqa: E402
from webdriver import WebDriver, WebDriverError  # noqa: E402

SAMPLERS = 1024
TOKEN = "t0k3n-for-tests"
RENDER_BUDGET_MS = 50.0

# Page-side helpers, prepended to scripts that use them.
JS = r"""
const $ = (s) => document.querySelector(s);
const rows = () => Array.from(document.querySelectorAll('#actor-body tr.row'));
const rowOf = (name) => document.querySelector(`#actor-body tr.row[data-name="${CSS.escape(name)}"]`);
const cell = (tr, key) => tr.children[Array.from(document.querySelectorAll('#actor-head th'))
  .findIndex((th) => th.dataset.key === key)];
const setFilter = (id, v) => { const e = document.getElementById(id); e.value = v;
  e.dispatchEvent(new Event('input', { bubbles: true })); };
const clearFilters = () => { setFilter('filter-text', ''); setFilter('filter-state', ''); setFilter('filter-role', ''); };
const visibleVersions = () => rows().map((tr) => { const t = cell(tr, 'version').textContent;
  return t === '—' ? -1 : Number(t); });
"""


class Checks:
    def __init__(self):
        self.failures = []
        self.notes = []

    def run(self, name, fn):
        t0 = time.monotonic()
        try:
            fn()
            print(f"PASS {name} ({time.monotonic() - t0:.1f}s)", flush=True)
        except Exception as e:  # noqa: BLE001 -- every failure is reported, the rest still run
            self.failures.append(name)
            print(f"FAIL {name}: {e}", flush=True)
            if not isinstance(e, (AssertionError, WebDriverError)):
                traceback.print_exc()


def js(wd, body, *args):
    return wd.execute(JS + body, *args)


def wait_js(wd, body, *args, timeout=10.0):
    try:
        return wd.wait_until(JS + body, *args, timeout=timeout)
    except WebDriverError as e:
        if "timed out" not in str(e):
            raise
        raise AssertionError(f"not within {timeout}s: {body.strip()}") from None


def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)


def load(wd, url):
    wd.get(url)
    wait_js(wd, "return window.__console && window.__console.actorCount() > 0 && rows().length > 0 "
                "&& window.__console.connState() === 'live'", timeout=20)


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("TANDEM_TEST_OUT", "/tmp")
    os.makedirs(out_dir, exist_ok=True)
    for env, path in (("TANDEM_CHROMIUM", "/usr/bin/chromium"),
                      ("TANDEM_CHROMEDRIVER", "/usr/bin/chromedriver")):
        if not os.access(os.environ.get(env, path), os.X_OK):
            print(f"SKIP: {os.environ.get(env, path)} not installed")
            return 77
    stub = PageStub(samplers=SAMPLERS, token=TOKEN)
    url = stub.start()
    total = len(stub.actors)
    c = Checks()
    try:
        with WebDriver(timeout=30) as wd:
            run_checks(c, wd, stub, url, total, out_dir)
    finally:
        stub.stop()
    for n in c.notes:
        print(f"NOTE {n}")
    if c.failures:
        print(f"{len(c.failures)} check(s) failed: {', '.join(c.failures)}")
        return 1
    print("all checks passed")
    return 0


def run_checks(c, wd, stub, url, total, out_dir):
    def loads_with_token():
        load(wd, f"{url}#token={TOKEN}")
        expect(js(wd, "return window.__console.actorCount()") == total, "not every actor listed")
        expect(js(wd, "return location.hash") == "", "the token stays in the address bar")
        expect(js(wd, "return sessionStorage.getItem('tandem.console.token')") == TOKEN,
               "the token is not kept in sessionStorage")
        expect(js(wd, "return $('#token-state').dataset.set") == "yes", "token state not shown")
        expect(js(wd, "return rows()[0].offsetHeight") == 26, "row height differs from ROW_H (26 px)")
        n = js(wd, "return rows().length")
        expect(n < 120, f"{n} rows in the DOM: the table is not virtualized")
    c.run("page loads with the token from the fragment", loads_with_token)

    def every_actor_reachable():
        names = [a["name"] for a in stub.actors]
        missing = js(wd, """
          const missing = [];
          for (const name of arguments[0]) {
            $('#filter-text').value = name;
            window.__console.renderTable();
            if (!rowOf(name)) missing.push(name);
          }
          clearFilters();
          return missing;""", names)
        expect(not missing, f"{len(missing)} actors not found by filtering, e.g. {missing[:3]}")
        # and by scrolling: the last row of the sorted list appears at the bottom
        last = js(wd, """
          const sc = $('#actor-scroll'); sc.scrollTop = sc.scrollHeight;
          window.__console.paintRows();
          const r = rows(); return r[r.length - 1].dataset.name;""")
        expect(last == sorted(names, key=natural_key)[-1], f"scrolled to the bottom, last row is {last!r}")
        js(wd, "$('#actor-scroll').scrollTop = 0; window.__console.paintRows();")
    c.run("every actor row is reachable (filter and scroll)", every_actor_reachable)

    def sse_version_update():
        js(wd, "setFilter('filter-text', 'sampler-0500')")
        wait_js(wd, "return rowOf('sampler-0500')")
        t0 = time.monotonic()
        stub.set_actor("sampler-0500", version=99999)
        wait_js(wd, "return cell(rowOf('sampler-0500'), 'version').textContent === '99999'", timeout=2.0)
        c.notes.append(f"SSE version change shown after {1000 * (time.monotonic() - t0):.0f} ms")
        js(wd, "clearFilters()")
    c.run("a version pushed by SSE appears within 2 s", sse_version_update)

    def sorting():
        js(wd, "$('#actor-head th[data-key=\"version\"]').click()")
        desc = js(wd, "return visibleVersions()")
        expect(len(desc) > 10 and desc == sorted(desc, reverse=True), f"not descending: {desc[:12]}")
        expect(js(wd, "return rows()[0].dataset.name") == "sampler-0500", "the highest version is not first")
        js(wd, "$('#actor-head th[data-key=\"version\"]').click()")
        asc = js(wd, "return visibleVersions()")
        expect(asc == sorted(asc), f"not ascending: {asc[:12]}")
        expect(js(wd, "return $('#actor-head th[data-key=\"version\"]').dataset.sort") == "asc",
               "no sort indicator")
        js(wd, "$('#actor-head th[data-key=\"name\"]').click()")
    c.run("sorting by version (both directions)", sorting)

    def filter_by_state():
        for state in ("stalled", "dead"):
            want = sum(1 for a in stub.actors if a["state"] == state)
            got = js(wd, "setFilter('filter-state', arguments[0]); return rows().map((r) => r.dataset.state)",
                     state)
            expect(got and all(s == state for s in got), f"filter {state}: rows in states {set(got)}")
            expect(len(got) == want, f"filter {state}: {len(got)} rows, {want} actors")
        got = js(wd, "setFilter('filter-state', ''); setFilter('filter-role', 'reward');"
                     "return rows().map((r) => r.dataset.name)")
        expect(len(got) == 8 and all(n.startswith("reward-") for n in got), f"role filter: {got}")
        js(wd, "clearFilters()")
    c.run("filter by state and role", filter_by_state)

    def xss_as_text():
        js(wd, "setFilter('filter-text', 'onerror')")
        text = wait_js(wd, "const r = rowOf(arguments[0]); return r && cell(r, 'name').textContent", XSS_NAME)
        expect(text == XSS_NAME, f"name shown as {text!r}")
        js(wd, "rowOf(arguments[0]).click()", XSS_NAME)
        expect(js(wd, "return $('#detail-name').textContent") == XSS_NAME, "detail name differs")
        expect(js(wd, "return document.images.length") == 0, "an <img> reached the DOM")
        expect(js(wd, "return document.querySelectorAll('script').length") == 2, "a <script> reached the DOM")
        expect(js(wd, "return window.__xss === undefined"), "window.__xss was set")
        js(wd, "$('#detail-close').click(); clearFilters()")
    c.run("an actor named with HTML shows as text", xss_as_text)

    def charts_have_data():
        n = js(wd, """return ['chart-reward', 'chart-kl', 'chart-staleness', 'chart-tps']
          .map((id) => Chart.getChart(id).data.datasets.map((d) => d.data.length));""")
        expect(all(x >= 200 for ds in n for x in ds), f"chart point counts: {n}")
        hist = js(wd, "return Chart.getChart('chart-hist').data.datasets[0].data")
        expect(len(hist) >= 2 and sum(hist) > 0, f"histogram: {hist}")
        expect(js(wd, "return Chart.getChart('chart-reward').options.animation") is False, "animations on")
    c.run("charts have data", charts_have_data)

    def detail_and_drain():
        js(wd, "setFilter('filter-text', 'learner-0'); rowOf('learner-0').click()")
        fields = js(wd, "return Array.from(document.querySelectorAll('#detail-fields dt')).map((e) => e.textContent)")
        for f in ("phase", "NCCL epoch", "deadline breaches", "heartbeat age", "restarts"):
            expect(f in fields, f"detail lacks {f}: {fields}")
        expect(js(wd, "return $('#detail-queues').textContent").find("batches") >= 0, "queues missing")
        # updated in place: the elements (and a text selection in them) survive an update
        start = js(wd, "window.__dd = $('#detail-fields dd'); return window.__renderStats.count")
        wait_js(wd, "return window.__renderStats.count >= arguments[0] + 2", start, timeout=5)
        expect(js(wd, "return window.__dd.isConnected"), "the detail fields were rebuilt by an update")
        before = len(stub.posts())
        js(wd, "$('#btn-drain').click()")
        wait_js(wd, "return $('#drain-reply').dataset.ok === 'yes'", timeout=5)
        p = stub.posts()[before]
        expect(p["path"] == "/api/drain" and p["body"] == {"name": "learner-0"}, f"drain POST: {p}")
        expect(p["authorization"] == f"Bearer {TOKEN}", f"drain auth: {p['authorization']}")
        wd.screenshot(os.path.join(out_dir, "console_page_detail.png"))
        js(wd, "$('#detail-close').click(); clearFilters()")
    c.run("detail panel and Drain", detail_and_drain)

    def scale_with_token():
        before = len(stub.posts())
        js(wd, "const i = $('#scale-sampler'); i.value = '12'; i.dispatchEvent(new Event('input'));"
               "$('#btn-scale-sampler').click()")
        wait_js(wd, "return $('#control-reply').dataset.ok === 'yes'", timeout=5)
        posts = stub.posts()[before:]
        expect(len(posts) == 1, f"{len(posts)} POSTs")
        p = posts[0]
        expect(p["path"] == "/api/scale", f"path {p['path']}")
        expect(p["authorization"] == f"Bearer {TOKEN}", f"Authorization: {p['authorization']!r}")
        expect(p["body"] == {"role": "sampler", "count": 12}, f"body {p['body']}")
        expect("scaling sampler to 12" in js(wd, "return $('#control-reply').textContent"), "reply not shown")
        # Stop: nothing without confirmation, a POST with it
        before = len(stub.posts())
        # control() marks the reply pending synchronously when it sends
        state = js(wd, "window.confirm = () => false; $('#btn-stop').click();"
                       "return $('#control-reply').dataset.ok")
        expect(state == "yes", f"Stop sent without confirmation (reply {state})")
        js(wd, "window.confirm = () => true; $('#btn-stop').click()")
        wait_js(wd, "return $('#control-reply').dataset.ok === 'yes'", timeout=5)
        p = stub.posts()[before]
        expect(p["path"] == "/api/stop" and p["authorization"] == f"Bearer {TOKEN}", f"stop POST: {p}")
    c.run("Scale and Stop send the bearer token", scale_with_token)

    def render_time():
        js(wd, "clearFilters(); $('#actor-scroll').scrollTop = 0")
        start = js(wd, "return window.__renderStats.count")
        wait_js(wd, "return window.__renderStats.count >= arguments[0] + 4", start, timeout=5)
        last = js(wd, "return window.__lastRenderMs")
        forced = js(wd, """const t = []; for (let i = 0; i < 20; ++i) {
            window.__console.renderTable(); t.push(window.__lastRenderMs); }
          t.sort((a, b) => a - b); return [t[10], t[19]];""")
        msg_ms = js(wd, "return window.__lastActorsMsgMs")
        n = js(wd, "return window.__console.actorCount()")
        c.notes.append(f"table render with {n} actors: last live update {last:.1f} ms; forced renders "
                       f"median {forced[0]:.1f} ms, max {forced[1]:.1f} ms; parsing+indexing one "
                       f"/api/actors message {msg_ms:.1f} ms")
        expect(n == total, f"{n} actors")
        expect(last < RENDER_BUDGET_MS, f"a table update took {last:.1f} ms")
        expect(forced[0] < RENDER_BUDGET_MS, f"median forced render {forced[0]:.1f} ms")
        wd.screenshot(os.path.join(out_dir, "console_page.png"))
    c.run(f"a table update with {SAMPLERS} samplers takes < {RENDER_BUDGET_MS:.0f} ms", render_time)

    def reconnects():
        seen = {}

        def while_down():
            seen["event"] = stub.add_event("scale", detail="added while the server was away")
            seen["step"] = stub.add_step()
            wait_js(wd, "return window.__console.connState() === 'reconnecting'", timeout=5)
            seen["text"] = js(wd, "return $('#conn-text').textContent")
        stub.restart(down_s=1.0, during=while_down)
        expect("reconnecting" in seen["text"], f"connection shown as {seen['text']!r}")
        wait_js(wd, "return window.__console.connState() === 'live'", timeout=15)
        wait_js(wd, "return document.querySelectorAll(`#event-list li[data-id=\"${arguments[0]}\"]`).length",
                seen["event"], timeout=5)
        ids = js(wd, "return Array.from(document.querySelectorAll('#event-list li[data-id]'))"
                     ".map((li) => Number(li.dataset.id))")
        expect(len(ids) == len(set(ids)), "duplicate events after reconnecting")
        expect(ids == sorted(ids, reverse=True), "events not newest first")
        steps = js(wd, "return Chart.getChart('chart-reward').data.datasets[0].data.map((p) => p.x)")
        expect(seen["step"] in steps, f"step {seen['step']} missing after reconnecting")
        expect(len(steps) == len(set(steps)), "duplicate metrics steps after reconnecting")
    c.run("reconnects after the server restarts, no gaps or duplicates", reconnects)

    def new_head_incarnation():
        old_last = js(wd, "return window.__console.lastEventId()")
        held = stub.last_step()
        stub.restart(down_s=0.5, new_incarnation=True, rollback=5)
        resumed = stub.last_step()
        wait_js(wd, "return $('#stat-incarnation').textContent === '3'", timeout=15)
        sep = wait_js(wd, "const s = $('#event-list li.ev-sep'); return s && s.textContent", timeout=5)
        expect("incarnation 3" in sep, f"separator: {sep!r}")
        above = js(wd, "const out = []; for (const li of $('#event-list').children) {"
                       "if (li.classList.contains('ev-sep')) break; out.push(Number(li.dataset.id)); }"
                       "return out;")
        expect(above[-2:] == [2, 1], f"new log above the separator: {above} (old last id {old_last})")
        stub.add_step()
        wait_js(wd, "return window.__console.lastStep() > arguments[0]", resumed + 1, timeout=5)
        steps = js(wd, "return Chart.getChart('chart-reward').data.datasets[0].data.map((p) => p.x)")
        expect(all(a < b for a, b in zip(steps, steps[1:])), "steps not strictly increasing")
        expect(steps[-1] <= stub.last_step() and steps[-1] < held + 5, f"charts end at {steps[-1]}")
    c.run("a new head incarnation: new event log, resumed steps replace the old", new_head_incarnation)

    def client_side_caps():
        n = js(wd, """const c = window.__console; let s = c.lastStep();
          window.__seriesBefore = Chart.getChart('chart-reward').data.datasets[0].data;
          const recs = []; for (let i = 0; i < 6000; ++i) recs.push({ step: ++s, reward_mean: Math.sin(s),
            staleness_hist: [1, 2, 3] });
          c.addMetrics(recs);
          const evs = []; let id = c.lastEventId();
          for (let i = 0; i < 700; ++i) evs.push({ id: ++id, kind: 'joined', name: `x-${id}` });
          c.addEvents(evs);
          return s;""")
        # The charts take the new, thinned series on the next frame; until
        # then a chart still holds the array the new points were pushed onto
        # (so its last point is already the newest, before any thinning).
        got = wait_js(wd, """const d = Chart.getChart('chart-reward').data.datasets[0].data;
          return d !== window.__seriesBefore && d[d.length - 1].x === arguments[0] &&
            [d.length, document.querySelectorAll('#event-list li').length];""", n, timeout=5)
        expect(got[0] <= 5000, f"reward series after 6,000 more steps: {got[0]} points")
        expect(got[1] <= 501, f"{got[1]} event rows")
        s = js(wd, """const s = window.__console.lastStep() - 100;
          window.__console.addMetrics([{ step: s, reward_mean: 0 }]); return s;""")
        later = wait_js(wd, """const d = Chart.getChart('chart-reward').data.datasets[0].data;
          return d[d.length - 1].x === arguments[0] && [d.filter((p) => p.x >= arguments[0]).length];""",
                        s, timeout=5)
        expect(later == [1], f"a repeated step did not replace the later ones: {later}")
    c.run("points and event rows are capped; a repeated step replaces the later ones", client_side_caps)

    def without_token():
        js(wd, "sessionStorage.clear()")
        load(wd, url)
        expect(js(wd, "return $('#token-state').dataset.set") == "no", "token state says set")
        before = len(stub.posts())
        js(wd, "$('#btn-scale-reward').click()")
        text = wait_js(wd, "return $('#control-reply').dataset.ok === 'no' && $('#control-reply').textContent",
                       timeout=5)
        expect("401" in text, f"reply: {text!r}")
        p = stub.posts()[before]
        expect(p["authorization"] is None and p["path"] == "/api/scale", f"POST: {p}")
        js(wd, "$('#token-input').value = 'wrong'; $('#btn-token').click(); $('#btn-scale-reward').click()")
        text = wait_js(wd, "return $('#control-reply').textContent.includes('403') && "
                           "$('#control-reply').textContent", timeout=5)
        expect("wrong" in text, f"reply: {text!r}")
    c.run("without a token the 401 is shown (and 403 for a wrong one)", without_token)

    def no_csp_violations_or_errors():
        expect(js(wd, "return window.__cspViolations") == 0, "CSP violations")
        bad = [e["message"] for e in wd.browser_log()
               if e.get("level") == "SEVERE" and ("Uncaught" in e["message"] or "CSP" in e["message"])]
        expect(not bad, f"browser errors: {bad[:3]}")
    c.run("no CSP violations or script errors", no_csp_violations_or_errors)


def natural_key(s):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", s)]


if __name__ == "__main__":
    sys.exit(main())
