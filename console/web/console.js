// console.js: tandem's monitoring console page (plain ES2020, no build step).
//
// Data: snapshots of /api/actors and /api/run, the event log and the metrics
// records, kept live by the SSE stream /api/stream (see
// console/http_console.hpp for the endpoints). Control requests (scale,
// drain, stop) carry "Authorization: Bearer TOKEN"; the token arrives as the
// URL fragment #token=... and is kept in sessionStorage.
//
// Reconnecting: when the stream fails (the head restarted, the network
// dropped) the page closes it and, after a short backoff, fetches the
// snapshots plus the events and metrics after the last id/step it holds, then
// opens a new stream that resumes after those. A new stream URL is needed for
// that: EventSource's own retry would reuse the first URL's resume point.
// Events are kept by id (an id at or below the last one held is a
// duplicate); a head whose log restarts lower starts a new section.
//
// Safety: every server string reaches the DOM through textContent, attribute
// values or createTextNode; nothing from the server is parsed as HTML. No
// inline scripts or styles (the server's CSP is default-src 'self').
//
// Cost: the actor table renders only the rows in view (virtual scrolling in a
// fixed-height container; a pool of row elements whose cells change only when
// their text does), so an update of 1,024 actors costs a sort and a filter
// of plain objects plus ~40 rows. window.__lastRenderMs holds the last
// table render's duration (the tests read it).
//
// One file on purpose: the head embeds and serves exactly index.html,
// console.js and console.css (plus Chart.js), with no bundler.
'use strict';

(() => {
  const STATES = ['starting', 'ready', 'busy', 'waiting_for_weights', 'draining', 'stalled', 'dead'];
  // Sort order for the state column: the states that need attention first.
  const STATE_RANK = { dead: 0, stalled: 1, draining: 2, waiting_for_weights: 3, starting: 4, busy: 5, ready: 6 };
  const ROW_H = 26;          // px; must match `tbody tr.row` height in console.css
  const OVERSCAN = 10;       // rows rendered above and below the viewport
  const MAX_EVENTS = 500;    // event log rows kept
  const MAX_POINTS = 5000;   // chart points per series before thinning
  const KEEP_FULL = 1000;    // newest points never thinned
  const HIST_STEPS = 50;     // staleness histogram: records summed
  const STALL_MS = 1500;     // heartbeat age shown as late (actor_registry's stall_after)
  const QUIET_MS = 15000;    // no stream message for this long: say so
  const TOKEN_KEY = 'tandem.console.token';

  const $ = (id) => document.getElementById(id);
  const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });
  const nf = new Intl.NumberFormat('en-US');

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
  const str = (v) => (v === undefined || v === null ? '' : String(v));

  // -- formatting ------------------------------------------------------------

  function fmtInt(v) { return isNum(v) ? nf.format(Math.round(v)) : '—'; }
  function fmtFixed(v, d) { return isNum(v) ? v.toFixed(d) : '—'; }
  function fmtRate(v) {
    if (!isNum(v)) return '—';
    const a = Math.abs(v);
    if (a >= 1e6) return (v / 1e6).toFixed(a >= 1e7 ? 1 : 2) + 'M';
    if (a >= 1e4) return (v / 1e3).toFixed(1) + 'k';
    if (a >= 100) return Math.round(v).toString();
    return v.toFixed(a >= 10 ? 1 : 2);
  }
  function fmtCount(v) {
    if (!isNum(v)) return '—';
    return Math.abs(v) >= 1e4 ? fmtRate(v) : nf.format(Math.round(v));
  }
  function fmtDuration(s) {
    if (!isNum(s) || s < 0) return '—';
    s = Math.round(s);
    const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, x = s % 60;
    if (h > 0) return `${h}h${String(m).padStart(2, '0')}m`;
    if (m > 0) return `${m}m${String(x).padStart(2, '0')}s`;
    return `${x}s`;
  }
  function fmtAge(ms) {
    if (!isNum(ms)) return '—';
    if (ms < 10000) return (ms / 1000).toFixed(1) + 's';
    return fmtDuration(ms / 1000);
  }
  function fmtClock(d) {
    const p = (n) => String(n).padStart(2, '0');
    return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  }

  // -- token and URLs ----------------------------------------------------------

  const auth = { query: null, token: null };

  function storage() {
    try { return window.sessionStorage; } catch (e) { return null; }
  }

  function initToken() {
    auth.query = new URLSearchParams(location.search).get('token');
    const frag = new URLSearchParams(location.hash.replace(/^#/, '')).get('token');
    const st = storage();
    if (frag) {
      if (st) st.setItem(TOKEN_KEY, frag);
      auth.token = frag;
      // Keep the secret out of the address bar (and of copied links).
      history.replaceState(null, '', location.pathname + location.search);
    }
    auth.token = auth.token || (st && st.getItem(TOKEN_KEY)) || auth.query || null;
    showTokenState();
  }

  function setToken(t) {
    auth.token = t || null;
    const st = storage();
    if (st) { if (t) st.setItem(TOKEN_KEY, t); else st.removeItem(TOKEN_KEY); }
    showTokenState();
  }

  function showTokenState() {
    const e = $('token-state');
    e.textContent = auth.token ? 'control token set' : 'no control token';
    e.dataset.set = auth.token ? 'yes' : 'no';
  }

  // Relative URL with query parameters; ?token= passed on when the page had it
  // (a head bound to a non-loopback address needs it on every read).
  function apiUrl(path, params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) q.set(k, String(v));
    if (auth.query) q.set('token', auth.query);
    const s = q.toString();
    return s ? `${path}?${s}` : path;
  }

  async function fetchWithDeadline(url, init, ms) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), ms);
    try {
      return await fetch(url, { ...init, signal: ctl.signal, cache: 'no-store' });
    } finally {
      clearTimeout(timer);
    }
  }

  async function getJSON(url) {
    const res = await fetchWithDeadline(url, {}, 10000);
    if (!res.ok) {
      const err = new Error(`HTTP ${res.status} for ${url.split('?')[0]}`);
      err.status = res.status;
      throw err;
    }
    return res.json();
  }

  // -- actor table -------------------------------------------------------------

  const queueFill = (a) => {
    let f = 0;
    for (const q of Array.isArray(a.queues) ? a.queues : [])
      if (q && q.capacity > 0) f = Math.max(f, q.depth / q.capacity);
    return f;
  };
  // Compact in the table (depth/capacity per queue); names in the cell's title.
  const queueList = (a) => (Array.isArray(a.queues) ? a.queues.filter((q) => q && typeof q === 'object') : []);
  const queueText = (a) => queueList(a).map((q) => `${str(q.depth)}/${str(q.capacity)}`).join(' ');
  const queueTitle = (a) => queueList(a).map((q) => `${str(q.name)} ${str(q.depth)}/${str(q.capacity)}`).join('\n');

  // One entry per column: its text, whether it sorts as a number, its sort value.
  const COLUMNS = [
    { key: 'role', text: (a) => str(a.role) },
    { key: 'name', text: (a) => str(a.name) },
    { key: 'node', text: (a) => str(a.node) },
    { key: 'pid', num: true, text: (a) => str(a.pid) },
    { key: 'state', text: (a) => str(a.state).replace(/_/g, ' '), sort: (a) => STATE_RANK[a.state] ?? 99 },
    { key: 'version', num: true, text: (a) => (isNum(a.version) && a.version >= 0 ? String(a.version) : '—') },
    { key: 'in_flight', num: true, text: (a) => str(a.in_flight) },
    { key: 'queues', text: queueText, sort: queueFill, num: true },
    { key: 'tokens_per_s', num: true, text: (a) => fmtRate(a.tokens_per_s) },
    { key: 'heartbeat_age_ms', num: true, text: (a) => fmtAge(a.heartbeat_age_ms) },
    { key: 'restarts', num: true, text: (a) => str(a.restarts) },
    { key: 'errors', num: true, text: (a) => str(a.errors) },
    { key: 'last_error', text: (a) => str(a.last_error) },
  ];
  const COL_INDEX = Object.fromEntries(COLUMNS.map((c, i) => [c.key, i]));

  const table = {
    actors: [],          // the last /api/actors list
    byName: new Map(),
    counts: {},
    view: [],            // filtered and sorted
    sortKey: null,
    sortDir: 1,
    pool: [],            // row objects {tr, cells, texts}
    attached: 0,         // pool rows in the DOM
    roles: new Set(),
    states: new Set(STATES),
    selected: null,      // name shown in the detail panel
    topSpacer: null,
    bottomSpacer: null,
  };

  function makeSpacer() {
    const tr = el('tr', 'spacer');
    const td = el('td');
    td.colSpan = COLUMNS.length;
    tr.appendChild(td);
    return tr;
  }

  function makeRow() {
    const tr = el('tr', 'row');
    const cells = COLUMNS.map((c) => {
      const td = el('td', c.num && c.key !== 'queues' ? 'num' : `c-${c.key}`);
      tr.appendChild(td);
      return td;
    });
    const badge = el('span', 'badge');
    cells[COL_INDEX.state].appendChild(badge);
    return { tr, cells, badge, texts: new Array(COLUMNS.length).fill(null), name: null, flags: '' };
  }

  function updateRow(row, a) {
    if (row.name !== a.name) { row.tr.dataset.name = str(a.name); row.name = a.name; }
    if (row.tr.dataset.state !== str(a.state)) row.tr.dataset.state = str(a.state);
    for (let i = 0; i < COLUMNS.length; ++i) {
      const t = COLUMNS[i].text(a);
      if (row.texts[i] === t) continue;
      row.texts[i] = t;
      if (i === COL_INDEX.state) row.badge.textContent = t;
      else row.cells[i].textContent = t;
      if (i === COL_INDEX.last_error) row.cells[i].title = t;
      else if (i === COL_INDEX.queues) row.cells[i].title = queueTitle(a);
    }
    const flags = [
      a.name === table.selected ? 's' : '',
      isNum(a.heartbeat_age_ms) && a.heartbeat_age_ms > STALL_MS ? 'h' : '',
      a.errors > 0 ? 'e' : '',
      a.restarts > 0 ? 'r' : '',
      queueFill(a) >= 1 ? 'q' : '',
    ].join('');
    if (flags !== row.flags) {
      row.flags = flags;
      row.tr.classList.toggle('selected', flags.includes('s'));
      row.cells[COL_INDEX.heartbeat_age_ms].classList.toggle('warn', flags.includes('h'));
      row.cells[COL_INDEX.errors].classList.toggle('bad', flags.includes('e'));
      row.cells[COL_INDEX.restarts].classList.toggle('warn', flags.includes('r'));
      row.cells[COL_INDEX.queues].classList.toggle('warn', flags.includes('q'));
    }
  }

  function filterAndSort() {
    const text = $('filter-text').value.trim().toLowerCase();
    const state = $('filter-state').value;
    const role = $('filter-role').value;
    const col = COLUMNS[COL_INDEX[table.sortKey]] || COLUMNS[1];
    const dir = table.sortDir;
    const key = col.sort || ((a) => a[col.key]);
    const view = [];
    for (const a of table.actors) {
      if (state && a.state !== state) continue;
      if (role && a.role !== role) continue;
      if (text && !`${str(a.name)}\u0000${str(a.role)}\u0000${str(a.node)}\u0000${str(a.state)}`
        .toLowerCase().includes(text)) continue;
      view.push(a);
    }
    const cmpName = (x, y) => collator.compare(str(x.name), str(y.name));
    if (col.num || col.sort) {
      const num = (v) => (isNum(v) ? v : -Infinity);
      view.sort((x, y) => (num(key(x)) - num(key(y))) * dir || cmpName(x, y));
    } else {
      view.sort((x, y) => collator.compare(str(key(x)), str(key(y))) * dir || cmpName(x, y));
    }
    table.view = view;
  }

  function paintRows() {
    const scroller = $('actor-scroll');
    const total = table.view.length;
    const top = scroller.scrollTop;
    const height = scroller.clientHeight || 600;
    let first = Math.max(0, Math.floor(top / ROW_H) - OVERSCAN);
    const last = Math.min(total, Math.ceil((top + height) / ROW_H) + OVERSCAN);
    if (first > last) first = last;
    setSpacer(table.topSpacer, first * ROW_H);
    setSpacer(table.bottomSpacer, (total - last) * ROW_H);
    const n = last - first;
    const body = $('actor-body');
    while (table.pool.length < n) table.pool.push(makeRow());
    for (let i = 0; i < n; ++i) {
      const row = table.pool[i];
      if (i >= table.attached) body.insertBefore(row.tr, table.bottomSpacer);
      updateRow(row, table.view[first + i]);
    }
    for (let i = n; i < table.attached; ++i) table.pool[i].tr.remove();
    table.attached = n;
    $('actor-empty').hidden = total > 0 || table.actors.length === 0;
  }

  function setSpacer(tr, px) {
    tr.hidden = px <= 0;
    const h = `${px}px`;
    if (tr.style.height !== h) tr.style.height = h;
  }

  // The whole table update: filter, sort, paint the rows in view, counts.
  function renderTable() {
    const t0 = performance.now();
    filterAndSort();
    paintRows();
    renderCounts();
    const ms = performance.now() - t0;
    window.__lastRenderMs = ms;
    const st = window.__renderStats;
    st.count += 1; st.max = Math.max(st.max, ms); st.total += ms;
  }

  function renderCounts() {
    const counts = {};
    for (const s of table.states) counts[s] = 0;
    for (const a of table.actors) counts[a.state] = (counts[a.state] || 0) + 1;
    const chips = $('state-chips');
    for (const [s, n] of Object.entries(counts)) {
      let chip = chips.querySelector(`[data-state="${CSS.escape(s)}"]`);
      if (!chip) {
        chip = el('button', 'chip');
        chip.type = 'button';
        chip.dataset.state = s;
        chip.append(el('span', 'chip-label', s.replace(/_/g, ' ')), el('span', 'chip-n'));
        chips.appendChild(chip);
      }
      const t = nf.format(n);
      const nEl = chip.lastChild;
      if (nEl.textContent !== t) nEl.textContent = t;
      chip.classList.toggle('zero', n === 0);
      chip.classList.toggle('active', $('filter-state').value === s);
    }
    $('actor-total').textContent = nf.format(table.actors.length);
    const shown = table.view.length;
    $('filter-count').textContent = shown === table.actors.length ? '' : `${nf.format(shown)} shown`;
  }

  function addOption(select, value) {
    const o = el('option', null, value.replace(/_/g, ' '));
    o.value = value;
    const opts = Array.from(select.options).slice(1);
    const before = opts.find((x) => collator.compare(x.value, value) > 0);
    select.insertBefore(o, before || null);
  }

  function onActors(body) {
    const list = Array.isArray(body && body.actors) ? body.actors.filter((a) => a && typeof a === 'object') : [];
    table.actors = list;
    table.byName = new Map(list.map((a) => [a.name, a]));
    for (const a of list) {
      if (a.role !== undefined && !table.roles.has(a.role)) {
        table.roles.add(a.role);
        addOption($('filter-role'), str(a.role));
      }
      if (a.state !== undefined && !table.states.has(a.state)) {
        table.states.add(a.state);
        addOption($('filter-state'), str(a.state));
      }
    }
    scheduleTable();
    if (table.selected !== null) scheduleDetail();
  }

  function sortBy(key) {
    if (table.sortKey === key) table.sortDir = -table.sortDir;
    else { table.sortKey = key; table.sortDir = COLUMNS[COL_INDEX[key]].num ? -1 : 1; }
    for (const th of $('actor-head').children)
      if (th.dataset.key === table.sortKey) th.dataset.sort = table.sortDir > 0 ? 'asc' : 'desc';
      else delete th.dataset.sort;
    renderTable();
  }

  function initTable() {
    const body = $('actor-body');
    table.topSpacer = makeSpacer();
    table.bottomSpacer = makeSpacer();
    body.append(table.topSpacer, table.bottomSpacer);
    for (const s of STATES) addOption($('filter-state'), s);
    $('actor-head').addEventListener('click', (ev) => {
      const th = ev.target.closest('th');
      if (th && th.dataset.key) sortBy(th.dataset.key);
    });
    body.addEventListener('click', (ev) => {
      const tr = ev.target.closest('tr.row');
      if (tr && tr.dataset.name !== undefined) openDetail(tr.dataset.name);
    });
    $('event-list').addEventListener('click', (ev) => {
      const li = ev.target.closest('li.ev');
      if (li && li.dataset.name !== undefined) openDetail(li.dataset.name);
    });
    $('state-chips').addEventListener('click', (ev) => {
      const chip = ev.target.closest('.chip');
      if (!chip) return;
      const sel = $('filter-state');
      sel.value = sel.value === chip.dataset.state ? '' : chip.dataset.state;
      renderTable();
    });
    for (const id of ['filter-text', 'filter-state', 'filter-role'])
      $(id).addEventListener('input', () => { $('actor-scroll').scrollTop = 0; renderTable(); });
    $('actor-scroll').addEventListener('scroll', () => schedule('rows', paintRows), { passive: true });
    window.addEventListener('resize', () => schedule('rows', paintRows));
    sortBy('name');
  }

  // -- frame scheduling (coalesces bursts of stream messages) ------------------

  const pending = new Map();
  let frameRequested = false;
  function schedule(name, fn) {
    pending.set(name, fn);
    if (frameRequested) return;
    frameRequested = true;
    const run = () => {
      if (!frameRequested) return;
      frameRequested = false;
      const jobs = Array.from(pending.values());
      pending.clear();
      for (const job of jobs) job();
    };
    requestAnimationFrame(run);
    setTimeout(run, 250); // hidden tabs get no frames; keep the state current anyway
  }
  const scheduleTable = () => schedule('table', renderTable);
  const scheduleDetail = () => schedule('detail', renderDetail);

  // -- detail panel ------------------------------------------------------------

  const DETAIL_FIELDS = [
    ['role', 'role'], ['node', 'node'], ['pid', 'pid'], ['state', 'state'],
    ['reported_state', 'reported state'], ['version', 'version', (v) => (v >= 0 ? v : '— (none yet)')],
    ['in_flight', 'in flight'], ['tokens_per_s', 'tokens/s', fmtRate], ['phase', 'phase'],
    ['nccl_epoch', 'NCCL epoch'], ['deadline_breaches', 'deadline breaches'],
    ['heartbeat_age_ms', 'heartbeat age', fmtAge], ['first_seen_age_ms', 'first seen', (v) => `${fmtAge(v)} ago`],
    ['restarts', 'restarts'], ['errors', 'errors'],
  ];
  const DETAIL_SHOWN = new Set(['name', 'queues', 'last_error', 'last_error_age_ms', ...DETAIL_FIELDS.map((f) => f[0])]);

  function openDetail(name) {
    table.selected = name;
    Object.assign(detailCache, { labels: '', queues: '', error: null, events: '' });
    $('drain-reply').textContent = '';
    $('drain-reply').dataset.ok = 'none';
    $('detail').hidden = false;
    renderDetail();
    renderTable();
  }

  function closeDetail() {
    table.selected = null;
    $('detail').hidden = true;
    renderTable();
  }

  // Updated in place where the structure is unchanged, so text selected in
  // the panel (an error to copy) survives the twice-a-second updates.
  const detailCache = { labels: '', queues: '', error: null, events: '' };

  function renderDetail() {
    if (table.selected === null) return;
    const a = table.byName.get(table.selected);
    setText('detail-name', table.selected);
    setText('detail-role', a ? `${str(a.role)} on ${str(a.node)}` : '');
    const st = $('detail-state');
    setText('detail-state', a ? str(a.state).replace(/_/g, ' ') : 'no longer listed');
    st.dataset.state = a ? str(a.state) : 'gone';
    $('btn-drain').disabled = !a;
    if (!a) return;
    renderDetailFields(a);
    const qkey = JSON.stringify(a.queues ?? null);
    if (qkey !== detailCache.queues) {
      detailCache.queues = qkey;
      $('detail-queues').replaceChildren(...renderQueues(a));
    }
    renderDetailError(a);
    const mine = events.kept.filter((e) => e.name === table.selected).slice(-8).reverse();
    const ekey = mine.map((e) => e.id).join(',');
    if (ekey !== detailCache.events) {
      detailCache.events = ekey;
      $('detail-events').replaceChildren(...(mine.length ? mine.map(makeEventRow) : [el('li', 'muted', 'none kept')]));
    }
  }

  function renderDetailFields(a) {
    const pairs = [];
    for (const [key, label, fmt] of DETAIL_FIELDS)
      if (key in a) pairs.push([label, fmt ? fmt(a[key]) : str(a[key])]);
    for (const [key, v] of Object.entries(a))
      if (!DETAIL_SHOWN.has(key)) pairs.push([key, typeof v === 'object' ? JSON.stringify(v) : str(v)]);
    const dl = $('detail-fields');
    const labels = pairs.map((p) => p[0]).join('\u0000');
    if (labels !== detailCache.labels) {
      detailCache.labels = labels;
      dl.replaceChildren(...pairs.flatMap(([l, t]) => [el('dt', null, l), el('dd', null, t)]));
      return;
    }
    pairs.forEach(([, t], i) => {
      const dd = dl.children[2 * i + 1];
      if (dd.textContent !== t) dd.textContent = t;
    });
  }

  function renderDetailError(a) {
    const err = $('detail-error');
    const text = str(a.last_error);
    if (text !== detailCache.error) {
      detailCache.error = text;
      err.replaceChildren(...(text ? [el('div', 'last-error-text', text), el('div', 'muted error-age')]
        : [el('span', 'muted', 'none')]));
    }
    const age = err.querySelector('.error-age');
    if (age) age.textContent = isNum(a.last_error_age_ms) ? `${fmtAge(a.last_error_age_ms)} ago` : '';
  }

  function renderQueues(a) {
    const qs = Array.isArray(a.queues) ? a.queues : [];
    if (!qs.length) return [el('span', 'muted', 'none')];
    return qs.map((q) => {
      const row = el('div', 'queue');
      const fill = q.capacity > 0 ? Math.min(1, q.depth / q.capacity) : 0;
      const bar = el('span', 'qbar');
      const barFill = el('span', fill >= 1 ? 'qfill full' : 'qfill');
      barFill.style.width = `${(fill * 100).toFixed(1)}%`;
      bar.appendChild(barFill);
      row.append(el('span', 'qname', str(q.name)), bar, el('span', 'qnum', `${str(q.depth)} / ${str(q.capacity)}`));
      return row;
    });
  }

  // -- run header and watchdog banner -----------------------------------------

  const CAUSE_LABELS = {
    no_sampler_alive: 'no sampler alive',
    samplers_waiting_for_weights: 'samplers waiting for weights',
    staleness_gate_closed: 'staleness gate closed',
    reward_hung: 'reward hung',
    reward_failing: 'reward failing',
    learner_stuck: 'learner stuck',
    weights_behind: 'weights behind',
  };

  function setText(id, t) {
    const e = $(id);
    if (e.textContent !== t) e.textContent = t;
  }

  function onRun(r) {
    if (!r || typeof r !== 'object') return;
    const status = str(r.status) || 'unknown';
    setText('run-status', status);
    $('run-status').dataset.status = status;
    const hasSteps = isNum(r.steps) && r.steps > 0;
    setText('stat-step', hasSteps ? `${fmtInt(r.step)} / ${fmtInt(r.steps)}` : fmtInt(r.step));
    $('stat-progress').style.width = hasSteps && isNum(r.step) ? `${Math.min(100, (100 * r.step) / r.steps).toFixed(1)}%` : '0%';
    setText('stat-version', fmtInt(r.version));
    setText('stat-elapsed', fmtDuration(r.elapsed_s));
    setText('stat-reward', fmtFixed(r.reward_mean, 3));
    setText('stat-accuracy', isNum(r.accuracy) ? `${(100 * r.accuracy).toFixed(1)}%` : '—');
    setText('stat-tps', fmtRate(r.tokens_per_s));
    setText('stat-samplers', fmtInt(r.samplers));
    setText('stat-incarnation', fmtInt(r.incarnation));
    renderRewards(r);
    renderCause(r.cause);
    const c = r.console || {};
    $('conn').title = `run dir: ${str(r.run_dir) || '?'}\nstream clients: ${str(c.stream_clients)}  dropped: ${str(c.dropped_clients)}`;
    fillCount('scale-sampler', r.samplers);
    fillCount('scale-reward', r.rewards);
  }

  // Reward outcomes: "ok 18.2k · invalid 41 · ..."; amber when 5% or more failed.
  function renderRewards(r) {
    setText('stat-rewards', fmtInt(r.rewards));
    const o = r.reward_outcomes;
    if (!o || typeof o !== 'object') return;
    const parts = Object.entries(o).map(([k, v]) => `${k} ${fmtCount(v)}`);
    setText('stat-outcomes', parts.join(' · ') || '—');
    const bad = Object.entries(o).reduce((n, [k, v]) => n + (k !== 'ok' && isNum(v) ? v : 0), 0);
    $('stat-outcomes').classList.toggle('warn', bad > 0 && bad >= 0.05 * ((isNum(o.ok) ? o.ok : 0) + bad));
  }

  function renderCause(cause) {
    const banner = $('watchdog');
    if (!cause || typeof cause !== 'object') { banner.hidden = true; return; }
    banner.hidden = false;
    banner.dataset.kind = str(cause.kind);
    setText('watchdog-kind', CAUSE_LABELS[cause.kind] || str(cause.kind) || 'watchdog');
    setText('watchdog-text', str(cause.text));
    setText('watchdog-since', isNum(cause.since_s) ? `for ${fmtDuration(cause.since_s)}` : '');
  }

  function fillCount(id, v) {
    const input = $(id);
    if (!isNum(v) || input.dataset.edited === 'yes' || document.activeElement === input) return;
    if (input.value !== String(v)) input.value = String(v);
  }

  // -- event log ----------------------------------------------------------------

  const events = { lastId: 0, kept: [], dropped: 0, shown: 0 };

  function severity(kind) {
    const k = str(kind).toLowerCase();
    if (/watchdog|breach|deadline|timeout|hung|behind/.test(k)) return 'warn'; // before "dead"
    if (/dead|stall|error|fail|crash|kill|lost/.test(k)) return 'bad';
    if (/recover|join|ready|resume/.test(k)) return 'good';
    return 'info';
  }

  function eventTime(e) {
    if (isNum(e.time)) return new Date(e.time * 1000);
    if (isNum(e._received) && isNum(e.age_ms)) return new Date(e._received - e.age_ms);
    return null;
  }

  function makeEventRow(e) {
    const li = el('li', `ev sev-${severity(e.kind)}`);
    li.dataset.kind = str(e.kind);
    if (e.name) li.dataset.name = str(e.name);
    if (isNum(e.id)) li.dataset.id = String(e.id);
    const t = eventTime(e);
    const time = el('time', 'ev-time', t ? fmtClock(t) : '');
    if (t) time.title = t.toLocaleString();
    const who = el('span', 'ev-who', str(e.name));
    const where = [e.role, e.node, isNum(e.pid) && e.pid > 0 ? `pid ${e.pid}` : null]
      .filter((x) => x !== undefined && x !== null && x !== '').join(' · ');
    const what = [];
    if (e.from !== undefined && e.to !== undefined && e.from !== e.to) what.push(`${str(e.from)} → ${str(e.to)}`);
    if (e.detail) what.push(str(e.detail));
    li.append(time, el('span', 'ev-kind', str(e.kind).replace(/_/g, ' ')), who, el('span', 'ev-where', where),
      el('span', 'ev-what', what.join('  ')));
    if (what.length) li.title = what.join('\n');
    return li;
  }

  function addEvents(list) {
    const now = Date.now();
    const fresh = [];
    for (const e of list) {
      if (!e || typeof e !== 'object') continue;
      if (isNum(e.id)) {
        if (e.id <= events.lastId) continue; // already shown
        events.lastId = e.id;
      }
      e._received = now;
      fresh.push(e);
    }
    if (!fresh.length) return;
    const tail = fresh.slice(-MAX_EVENTS);
    events.kept.push(...tail);
    if (events.kept.length > MAX_EVENTS) events.kept.splice(0, events.kept.length - MAX_EVENTS);
    const frag = document.createDocumentFragment();
    for (let i = tail.length - 1; i >= 0; --i) frag.appendChild(makeEventRow(tail[i]));
    const ol = $('event-list');
    ol.insertBefore(frag, ol.firstChild);
    while (ol.childElementCount > MAX_EVENTS) ol.lastElementChild.remove();
    events.shown = ol.childElementCount;
    setText('event-count', nf.format(events.shown));
    if (table.selected !== null && tail.some((e) => e.name === table.selected)) scheduleDetail();
  }

  // A restarted head keeps its event log in memory only: its ids start over.
  // The rows shown so far stay, under a separator; the new log is read whole.
  function newEventLog(text) {
    events.lastId = 0;
    const ol = $('event-list');
    if (ol.firstChild) ol.insertBefore(el('li', 'ev ev-sep', text), ol.firstChild);
  }

  function showDropped() {
    setText('event-dropped', events.dropped > 0 ? `${nf.format(events.dropped)} older dropped by the head` : '');
  }

  // -- metrics and charts --------------------------------------------------------

  const SERIES = ['reward_mean', 'accuracy', 'filtered_frac', 'kl', 'entropy', 'staleness_mean', 'staleness_max', 'tokens_per_s'];
  // lastStep: where the stream resumes (the newest step the head gave us);
  // maxStep: the newest step the charts hold. A new head may hold fewer steps
  // than the charts (lastStep follows it); the steps it then sends replace
  // the charts' from that step on, since the run resumed from a checkpoint.
  const metrics = { lastStep: -1, maxStep: -1, series: Object.fromEntries(SERIES.map((k) => [k, []])), hists: [] };
  const charts = {};

  function truncateFrom(step) {
    for (const k of SERIES) {
      const s = metrics.series[k];
      let i = s.length;
      while (i > 0 && s[i - 1].x >= step) --i;
      s.length = i;
    }
    metrics.hists = metrics.hists.filter((h) => h.step < step);
    metrics.maxStep = Math.min(metrics.maxStep, step - 1);
  }

  // Older points thinned by half once a series passes MAX_POINTS; the newest
  // KEEP_FULL points stay at full resolution.
  function thin(s) {
    if (s.length <= MAX_POINTS) return s;
    const cut = s.length - KEEP_FULL;
    const out = [];
    for (let i = 0; i < cut; i += 2) out.push(s[i]);
    for (let i = cut; i < s.length; ++i) out.push(s[i]);
    return out;
  }

  function addMetrics(records) {
    let added = 0;
    for (const r of records) {
      if (!r || !isNum(r.step)) continue;
      if (r.step <= metrics.maxStep) truncateFrom(r.step); // a resumed run repeats steps
      metrics.lastStep = metrics.maxStep = r.step;
      for (const k of SERIES) if (isNum(r[k])) metrics.series[k].push({ x: r.step, y: r[k] });
      if (Array.isArray(r.staleness_hist)) {
        metrics.hists.push({ step: r.step, hist: r.staleness_hist });
        if (metrics.hists.length > HIST_STEPS) metrics.hists.shift();
      }
      ++added;
    }
    if (!added) return;
    for (const k of SERIES) metrics.series[k] = thin(metrics.series[k]);
    schedule('charts', updateCharts);
  }

  const COLORS = {
    reward: '#4cc38a', accuracy: '#6ea8fe', filtered: '#8b96a8', kl: '#f5a524', entropy: '#b392f0',
    smean: '#6ea8fe', smax: '#f47174', tps: '#3fc1c9', hist: '#7c9cf5',
  };

  function lineDataset(label, key, color, axis) {
    return {
      label, _key: key, data: metrics.series[key], yAxisID: axis || 'y',
      borderColor: color, backgroundColor: color, borderWidth: 1.5, pointRadius: 0, pointHitRadius: 6,
    };
  }

  function lineOptions(twoAxes) {
    const scales = {
      x: { type: 'linear', bounds: 'data', ticks: { maxTicksLimit: 6, precision: 0 } },
      y: { ticks: { maxTicksLimit: 5 } },
    };
    if (twoAxes) scales.y1 = { position: 'right', grid: { drawOnChartArea: false }, ticks: { maxTicksLimit: 5 } };
    return {
      animation: false, parsing: false, normalized: true, responsive: true, maintainAspectRatio: false,
      interaction: { mode: 'nearest', axis: 'x', intersect: false },
      plugins: {
        legend: { position: 'top', align: 'end', labels: { boxWidth: 10, boxHeight: 2, padding: 8 } },
        // Off: the series are thinned here (thin(), at most MAX_POINTS), and
        // Chart.js's decimation redefines a dataset's `data` as a getter
        // that a later assignment cannot always replace.
        decimation: { enabled: false },
        tooltip: { callbacks: { title: (items) => (items.length ? `step ${items[0].parsed.x}` : '') } },
      },
      scales,
    };
  }

  function initCharts() {
    if (typeof window.Chart !== 'function') return; // chart.min.js missing: the rest still works
    const C = window.Chart;
    C.defaults.color = '#8b96a8';
    C.defaults.borderColor = 'rgba(148, 163, 184, 0.12)';
    C.defaults.font.family = getComputedStyle(document.body).fontFamily;
    C.defaults.font.size = 11;
    const line = (id, datasets, two) => new C($(id), { type: 'line', data: { datasets }, options: lineOptions(two) });
    charts.reward = line('chart-reward', [lineDataset('reward', 'reward_mean', COLORS.reward),
      lineDataset('accuracy', 'accuracy', COLORS.accuracy, 'y1'),
      Object.assign(lineDataset('filtered', 'filtered_frac', COLORS.filtered, 'y1'), { borderDash: [4, 3] })], true);
    charts.kl = line('chart-kl', [lineDataset('KL', 'kl', COLORS.kl),
      lineDataset('entropy', 'entropy', COLORS.entropy, 'y1')], true);
    charts.staleness = line('chart-staleness', [lineDataset('mean', 'staleness_mean', COLORS.smean),
      lineDataset('max', 'staleness_max', COLORS.smax)], false);
    charts.tps = line('chart-tps', [lineDataset('tokens/s', 'tokens_per_s', COLORS.tps)], false);
    charts.tps.options.plugins.legend.display = false;
    charts.hist = new C($('chart-hist'), {
      type: 'bar',
      data: { labels: [], datasets: [{ label: 'tokens', data: [], backgroundColor: COLORS.hist, borderRadius: 2 }] },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        plugins: { legend: { display: false },
          tooltip: { callbacks: { title: (items) => (items.length ? `staleness ${items[0].label}` : '') } } },
        scales: { x: { title: { display: true, text: 'staleness (versions behind)' }, grid: { display: false } },
          y: { title: { display: true, text: 'tokens' }, ticks: { maxTicksLimit: 4 } } },
      },
    });
  }

  function updateCharts() {
    for (const name of ['reward', 'kl', 'staleness', 'tps']) {
      const ch = charts[name];
      if (!ch) continue;
      for (const ds of ch.data.datasets) ds.data = metrics.series[ds._key];
      ch.update('none');
    }
    if (charts.hist) {
      const sum = [];
      for (const h of metrics.hists)
        h.hist.forEach((v, i) => { sum[i] = (sum[i] || 0) + (isNum(v) ? v : 0); });
      const n = metrics.hists.length;
      charts.hist.data.labels = Array.from(sum, (_, i) => String(i));
      charts.hist.data.datasets[0].data = Array.from(sum, (v) => v || 0);
      charts.hist.update('none');
      setText('hist-title', `staleness histogram: sum of the last ${n} step${n === 1 ? '' : 's'}`);
      charts.hist.options.scales.x.title.text = n
        ? `staleness (versions behind), steps ${metrics.hists[0].step}–${metrics.hists[n - 1].step}`
        : 'staleness (versions behind)';
    }
    const pts = metrics.series.reward_mean.length;
    setText('chart-points', metrics.maxStep >= 0 ? `through step ${fmtInt(metrics.maxStep)} · ${fmtInt(pts)} points kept` : 'no steps yet');
  }

  // -- controls ------------------------------------------------------------------

  function showReply(id, ok, text) {
    const e = $(id);
    e.dataset.ok = ok === null ? 'pending' : ok ? 'yes' : 'no';
    e.textContent = ok === null ? text : `${fmtClock(new Date())}  ${text}`;
  }

  async function control(path, body, replyId) {
    showReply(replyId, null, `${path} …`);
    const headers = { 'Content-Type': 'application/json' };
    if (auth.token) headers.Authorization = `Bearer ${auth.token}`;
    let res, text;
    try {
      res = await fetchWithDeadline(apiUrl(path), { method: 'POST', headers, body: JSON.stringify(body) }, 15000);
      text = await res.text();
    } catch (e) {
      showReply(replyId, false, `${path}: no reply (${e.name === 'AbortError' ? 'timed out' : e.message})`);
      return false;
    }
    let data = null;
    try { data = JSON.parse(text); } catch (e) { data = null; }
    if (res.ok && data && data.ok) {
      showReply(replyId, true, str(data.reply) || 'ok');
      return true;
    }
    let msg = `HTTP ${res.status}: ${str((data && data.error) || text || res.statusText)}`;
    if (res.status === 401) msg += ' (no control token: open the URL the head printed, or paste the token)';
    if (res.status === 403) msg += ' (wrong control token)';
    showReply(replyId, false, msg);
    return false;
  }

  async function scale(role, inputId) {
    const input = $(inputId);
    const n = Number(input.value);
    if (input.value.trim() === '' || !Number.isInteger(n) || n < 0) {
      showReply('control-reply', false, `${role} count must be a whole number ≥ 0`);
      return;
    }
    if (await control('/api/scale', { role, count: n }, 'control-reply')) delete input.dataset.edited;
  }

  function initControls() {
    $('btn-scale-sampler').addEventListener('click', () => scale('sampler', 'scale-sampler'));
    $('btn-scale-reward').addEventListener('click', () => scale('reward', 'scale-reward'));
    for (const id of ['scale-sampler', 'scale-reward'])
      $(id).addEventListener('input', () => { $(id).dataset.edited = 'yes'; });
    $('btn-stop').addEventListener('click', () => {
      if (window.confirm('Stop this run? Training ends for every worker.'))
        control('/api/stop', {}, 'control-reply');
    });
    $('btn-drain').addEventListener('click', () => {
      if (table.selected !== null) control('/api/drain', { name: table.selected }, 'drain-reply');
    });
    const setFromInput = () => {
      const v = $('token-input').value.trim();
      setToken(v);
      $('token-input').value = '';
    };
    $('btn-token').addEventListener('click', setFromInput);
    $('token-input').addEventListener('keydown', (ev) => { if (ev.key === 'Enter') setFromInput(); });
    $('detail-close').addEventListener('click', closeDetail);
    document.addEventListener('keydown', (ev) => { if (ev.key === 'Escape' && !$('detail').hidden) closeDetail(); });
  }

  // -- connection ----------------------------------------------------------------

  const conn = {
    es: null, backoff: 1000, timer: null, lastMessage: 0, state: 'connecting', everLive: false,
    incarnation: null, // the head's, from /api/run: a new one has a new event log
  };

  function setConn(state, text) {
    conn.state = state;
    $('conn').dataset.conn = state;
    setText('conn-text', text);
  }

  async function fillEvents() {
    for (let i = 0; i < 50; ++i) {
      const r = await getJSON(apiUrl('/api/events', { after: events.lastId }));
      if (isNum(r.dropped)) { events.dropped = r.dropped; showDropped(); }
      if (isNum(r.last_id) && r.last_id < events.lastId) { // a new head: its log starts over
        newEventLog('the head restarted: a new event log begins');
        continue;
      }
      const list = Array.isArray(r.events) ? r.events : [];
      addEvents(list);
      if (!list.length || !isNum(r.last_id) || events.lastId >= r.last_id) return;
    }
  }

  async function fillMetrics() {
    for (let i = 0; i < 200; ++i) {
      const r = await getJSON(apiUrl('/api/metrics', metrics.lastStep >= 0 ? { after: metrics.lastStep } : {}));
      if (isNum(r.last_step) && r.last_step < metrics.lastStep) // the head holds fewer steps: resume there
        metrics.lastStep = Math.max(-1, r.last_step);
      const list = Array.isArray(r.records) ? r.records : [];
      addMetrics(list);
      if (!list.length || !isNum(r.last_step) || metrics.lastStep >= r.last_step) return;
    }
  }

  async function connect() {
    conn.timer = null;
    setConn(conn.everLive ? 'reconnecting' : 'connecting', conn.everLive ? 'reconnecting…' : 'connecting…');
    try {
      const [run, actors] = await Promise.all([getJSON(apiUrl('/api/run')), getJSON(apiUrl('/api/actors'))]);
      if (conn.incarnation !== null && isNum(run.incarnation) && run.incarnation !== conn.incarnation)
        newEventLog(`head incarnation ${run.incarnation}: a new event log begins`);
      if (isNum(run.incarnation)) conn.incarnation = run.incarnation;
      onRun(run);
      onActors(actors);
      await fillEvents();
      await fillMetrics();
    } catch (e) {
      const auth401 = e.status === 401 || e.status === 403;
      retryLater(auth401 ? 'this head needs ?token= in the page URL' : `reconnecting… (${e.message})`);
      return;
    }
    openStream();
  }

  function retryLater(text) {
    const ended = ['finished', 'failed', 'interrupted'].includes($('run-status').dataset.status);
    setConn('reconnecting', ended ? 'run ended · head offline, retrying…' : text);
    if (conn.timer !== null) return;
    conn.timer = setTimeout(connect, conn.backoff);
    conn.backoff = Math.min(5000, conn.backoff * 2);
  }

  // Stream message handler: parse, apply; for "actors" the time taken (the
  // table itself renders on the next frame) goes to window.__lastActorsMsgMs.
  function onMessage(handler) {
    return (ev) => {
      const t0 = performance.now();
      conn.lastMessage = Date.now();
      if (conn.state !== 'live') setConn('live', 'live');
      let data;
      try { data = JSON.parse(ev.data); } catch (e) { console.warn('bad stream message', e); return; }
      handler(data);
      if (ev.type === 'actors') window.__lastActorsMsgMs = performance.now() - t0;
    };
  }

  function openStream() {
    const params = {};
    if (events.lastId > 0) params.after_event = events.lastId;
    if (metrics.lastStep >= 0) params.after_step = metrics.lastStep;
    const es = new EventSource(apiUrl('/api/stream', params));
    conn.es = es;
    es.onopen = () => {
      conn.backoff = 1000;
      conn.everLive = true;
      conn.lastMessage = Date.now();
      setConn('live', 'live');
    };
    es.onerror = () => {
      if (conn.es !== es) return;
      es.close();
      conn.es = null;
      conn.everLive = true;
      retryLater('reconnecting…');
    };
    es.addEventListener('actors', onMessage(onActors));
    es.addEventListener('run', onMessage(onRun));
    es.addEventListener('event', onMessage((e) => addEvents([e])));
    es.addEventListener('metrics', onMessage((r) => addMetrics([r])));
  }

  function watchQuiet() {
    if (conn.state === 'live' || conn.state === 'quiet') {
      const quiet = Date.now() - conn.lastMessage;
      if (quiet > QUIET_MS) setConn('quiet', `live · no update for ${fmtDuration(quiet / 1000)}`);
    }
  }

  // -- start -----------------------------------------------------------------------

  function start() {
    window.__lastRenderMs = null;
    window.__renderStats = { count: 0, max: 0, total: 0 };
    window.__cspViolations = window.__cspViolations || 0;
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__cspViolations += 1;
      console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`);
    });
    initToken();
    initTable();
    initControls();
    initCharts();
    updateCharts();
    setInterval(watchQuiet, 1000);
    window.__console = {
      renderTable, paintRows,
      lastEventId: () => events.lastId,
      lastStep: () => metrics.lastStep,
      addMetrics, addEvents, // for tests: feed synthetic records
      actorCount: () => table.actors.length,
      connState: () => conn.state,
    };
    connect();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
