/**
 * The live dashboard served at `GET /` (SPEC §5): the current view, every replica with its
 * liveness and last-ping age, and a timeline of view changes. One self-contained page (no
 * external assets): it subscribes over WebSocket on the same host (SPEC §6, path `/`) for
 * pushes, and polls `GET /view` every 500 ms for liveness; `GET /view/history` seeds the
 * timeline with the changes before the page was opened.
 *
 * Everything that comes from the network (replica ids are URLs chosen by the replicas) is
 * put in the page with textContent, never as HTML. The script is allowed by its hash in the
 * Content-Security-Policy (dashboardCsp), not by 'unsafe-inline'.
 */
import { createHash } from 'node:crypto';

const STYLE = `
:root {
  color-scheme: light dark;
  --bg: #f6f7f9; --card: #ffffff; --fg: #1b1f24; --muted: #5b6572; --line: #dde1e6;
  --ok: #1a7f37; --ok-bg: #dafbe1; --warn: #9a6700; --warn-bg: #fff4d1; --bad: #cf222e; --bad-bg: #ffebe9;
  --accent: #0969da;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0d1117; --card: #161b22; --fg: #e6edf3; --muted: #8d96a0; --line: #30363d;
    --ok: #3fb950; --ok-bg: #12261e; --warn: #d29922; --warn-bg: #272115; --bad: #f85149; --bad-bg: #2d1517;
    --accent: #58a6ff;
  }
}
* { box-sizing: border-box; }
body {
  margin: 0; background: var(--bg); color: var(--fg);
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
}
header {
  display: flex; align-items: center; justify-content: space-between; gap: .75rem;
  padding: .75rem 1rem; border-bottom: 1px solid var(--line); background: var(--card);
  position: sticky; top: 0; z-index: 1;
}
h1 { font-size: 1.1rem; margin: 0; }
h1 small { color: var(--muted); font-weight: 400; }
h2 { font-size: 1rem; margin: 0 0 .6rem; display: flex; align-items: center; gap: .5rem; flex-wrap: wrap; }
h3 { font-size: .75rem; text-transform: uppercase; letter-spacing: .06em; color: var(--muted); margin: 0 0 .25rem; }
main { max-width: 60rem; margin: 0 auto; padding: 1rem; display: grid; gap: 1rem; }
section { background: var(--card); border: 1px solid var(--line); border-radius: .6rem; padding: 1rem; }
.slots { display: grid; grid-template-columns: repeat(auto-fit, minmax(14rem, 1fr)); gap: .75rem; }
.slot { border: 1px solid var(--line); border-radius: .5rem; padding: .75rem; }
.id { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .9rem; overflow-wrap: anywhere; margin: 0; }
.muted { color: var(--muted); }
.pill {
  display: inline-block; padding: .1rem .55rem; border-radius: 999px; font-size: .75rem; font-weight: 600;
  background: var(--line); color: var(--fg); white-space: nowrap;
}
.pill.ok { background: var(--ok-bg); color: var(--ok); }
.pill.warn { background: var(--warn-bg); color: var(--warn); }
.pill.bad { background: var(--bad-bg); color: var(--bad); }
.state { margin: .35rem 0 0; font-size: .85rem; }
ul.servers, ol.timeline { list-style: none; margin: 0; padding: 0; }
ul.servers li {
  display: grid; grid-template-columns: auto 1fr auto; align-items: center; gap: .25rem .6rem;
  padding: .55rem 0; border-top: 1px solid var(--line);
}
ul.servers li:first-child { border-top: 0; }
.dot { width: .7rem; height: .7rem; border-radius: 50%; background: var(--bad); }
.dot.alive { background: var(--ok); }
.age { font-size: .8rem; color: var(--muted); white-space: nowrap; font-variant-numeric: tabular-nums; }
ol.timeline li { padding: .5rem 0 .5rem .9rem; border-left: 2px solid var(--line); position: relative; }
ol.timeline li::before {
  content: ""; position: absolute; left: -.38rem; top: .85rem; width: .6rem; height: .6rem;
  border-radius: 50%; background: var(--accent);
}
ol.timeline .when { font-size: .8rem; color: var(--muted); font-variant-numeric: tabular-nums; }
.empty { color: var(--muted); font-style: italic; }
@media (max-width: 30rem) {
  main { padding: .6rem; gap: .6rem; }
  section { padding: .75rem; }
  ul.servers li { grid-template-columns: auto 1fr; }
  ul.servers li .age { grid-column: 2; }
}
`;

const SCRIPT = `
(function () {
  'use strict';
  var POLL_MS = 500, MAX_HISTORY = 200;
  var token = new URLSearchParams(location.search).get('token');
  var state = { view: null, status: null, history: [], live: false, polled: false };

  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = String(text);
    return e;
  }
  function pill(node, text, kind) { node.textContent = text; node.className = 'pill' + (kind ? ' ' + kind : ''); }
  function age(ms) {
    if (ms < 1000) return Math.round(ms) + ' ms ago';
    if (ms < 60000) return (ms / 1000).toFixed(1) + ' s ago';
    if (ms < 3600000) return Math.floor(ms / 60000) + ' min ago';
    return Math.floor(ms / 3600000) + ' h ago';
  }
  function clock(t) {
    var d = new Date(t);
    return d.toLocaleTimeString([], { hour12: false }) + '.' + String(d.getMilliseconds()).padStart(3, '0');
  }
  function serverOf(id) {
    var s = state.status;
    if (!s || id == null) return null;
    for (var i = 0; i < s.servers.length; i++) if (s.servers[i].id === id) return s.servers[i];
    return null;
  }

  // ── view changes ──
  function describe(prev, v) {
    if (!prev || prev.viewnum === 0) return 'first primary';
    if (v.primary !== prev.primary) return 'failover: backup promoted';
    if (prev.backup === null) return 'backup added';
    if (v.backup === null) return 'backup removed';
    return 'backup replaced';
  }
  function addHistory(v, at) {
    var h = state.history;
    if (h.length && h[h.length - 1].view.viewnum >= v.viewnum) return false;
    var prev = h.length ? h[h.length - 1].view : null;
    h.push({ view: v, at: at, what: (prev && prev.viewnum === v.viewnum - 1) || v.viewnum === 1 ? describe(prev, v) : 'view change' });
    if (h.length > MAX_HISTORY) h.shift();
    return true;
  }
  function onView(v, at) {
    if (!v || typeof v.viewnum !== 'number') return;
    if (state.view && v.viewnum < state.view.viewnum) return;
    state.view = v;
    if (v.viewnum > 0 && addHistory(v, at)) renderTimeline();
    renderView();
  }

  // ── rendering ──
  function renderSlot(name, id) {
    $(name).textContent = id == null ? '—' : id;
    var st = $(name + '-state');
    if (id == null) { pill(st, name === 'backup' ? 'none' : 'none yet', ''); return; }
    var s = serverOf(id);
    if (!s) { pill(st, 'unknown', ''); return; }
    pill(st, s.alive ? 'alive · pinged ' + age(s.lastPingMs) : 'dead · last ping ' + age(s.lastPingMs), s.alive ? 'ok' : 'bad');
  }
  function renderView() {
    var v = state.view, s = state.status;
    $('viewnum').textContent = v ? String(v.viewnum) : '–';
    renderSlot('primary', v && v.primary);
    renderSlot('backup', v && v.backup);
    var health = $('health');
    if (!v || v.viewnum === 0) pill(health, 'waiting for a replica', 'warn');
    else if (s && s.viewnum === v.viewnum) {
      var p = serverOf(v.primary), b = serverOf(v.backup);
      if (!s.acked) pill(health, 'waiting for the primary to acknowledge', 'warn');
      else if (p && !p.alive && !(b && b.alive)) pill(health, 'stuck: primary down, no live backup', 'bad');
      else if (!v.backup) pill(health, 'no backup', 'warn');
      else pill(health, 'acknowledged', 'ok');
    }
    renderServers();
  }
  function renderServers() {
    var list = $('servers'), v = state.view, s = state.status;
    list.textContent = '';
    if (!s || s.servers.length === 0) { list.appendChild(el('li', 'empty', 'no replica has pinged yet')); return; }
    var rank = function (x) { return v && x.id === v.primary ? 0 : v && x.id === v.backup ? 1 : 2; };
    s.servers.slice().sort(function (a, b) { return rank(a) - rank(b); }).forEach(function (x) {
      var li = el('li');
      li.appendChild(el('span', 'dot' + (x.alive ? ' alive' : ''))).title = x.alive ? 'alive' : 'dead';
      var who = el('div');
      who.appendChild(el('p', 'id', x.id));
      var role = ['primary', 'backup', 'idle'][rank(x)];
      who.appendChild(el('span', 'pill' + (!x.alive ? ' bad' : role === 'idle' ? '' : ' ok'), role + (x.alive ? '' : ' · dead')));
      li.appendChild(who);
      li.appendChild(el('span', 'age', age(x.lastPingMs)));
      list.appendChild(li);
    });
  }
  function renderTimeline() {
    var list = $('timeline');
    list.textContent = '';
    if (state.history.length === 0) { list.appendChild(el('li', 'empty', 'no view yet')); return; }
    for (var i = state.history.length - 1; i >= 0; i--) {
      var e = state.history[i], li = el('li');
      var head = el('div');
      head.appendChild(el('strong', null, 'view ' + e.view.viewnum));
      head.appendChild(document.createTextNode(' '));
      head.appendChild(el('span', 'pill', e.what));
      head.appendChild(document.createTextNode(' '));
      head.appendChild(el('span', 'when', clock(e.at)));
      li.appendChild(head);
      li.appendChild(el('p', 'id muted', 'primary ' + (e.view.primary || '—') + ' · backup ' + (e.view.backup || '—')));
      list.appendChild(li);
    }
  }
  function renderConn() {
    var c = $('conn');
    if (state.unauthorized) pill(c, 'unauthorized: add ?token=', 'bad');
    else if (state.live) pill(c, 'live', 'ok');
    else if (state.polled) pill(c, 'polling', 'warn');
    else pill(c, 'offline', 'bad');
  }

  // ── inputs: WebSocket pushes, /view polling, /view/history once ──
  function subscribe(attempt) {
    var url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/' +
      (token ? '?token=' + encodeURIComponent(token) : '');
    var ws;
    try { ws = new WebSocket(url); } catch (e) { retry(attempt); return; }
    ws.onopen = function () {
      attempt = 0;
      ws.send(JSON.stringify(token ? { type: 'subscribe', token: token } : { type: 'subscribe' }));
    };
    ws.onmessage = function (e) {
      var m;
      try { m = JSON.parse(e.data); } catch (err) { return; }
      if (m && m.type === 'view') { state.live = true; renderConn(); onView(m.view, Date.now()); }
    };
    ws.onclose = function (e) {
      state.live = false;
      state.unauthorized = e.code === 4401;
      renderConn();
      if (!state.unauthorized) retry(attempt + 1);
    };
  }
  function retry(attempt) {
    setTimeout(function () { subscribe(attempt); }, Math.min(5000, 250 * Math.pow(2, attempt)) * (0.5 + Math.random() / 2));
  }
  function poll() {
    fetch('/view', { cache: 'no-store' })
      .then(function (r) { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json(); })
      .then(function (s) {
        state.status = s;
        state.polled = true;
        onView({ viewnum: s.viewnum, primary: s.primary, backup: s.backup }, Date.now());
        renderView();
      })
      .catch(function () { state.polled = false; })
      .then(function () { renderConn(); setTimeout(poll, POLL_MS); });
  }
  function loadHistory() {
    fetch('/view/history', { cache: 'no-store' })
      .then(function (r) { return r.ok ? r.json() : { history: [] }; })
      .then(function (body) {
        var known = state.history;
        state.history = [];
        (body.history || []).forEach(function (e) { addHistory({ viewnum: e.viewnum, primary: e.primary, backup: e.backup }, e.at); });
        known.forEach(function (e) { addHistory(e.view, e.at); });
        renderTimeline();
      })
      .catch(function () {});
  }

  renderView();
  renderTimeline();
  renderConn();
  loadHistory();
  subscribe(0);
  poll();
})();
`;

const BODY = `
<header>
  <h1>Understudy <small>view service</small></h1>
  <span id="conn" class="pill">connecting…</span>
</header>
<main>
  <section aria-labelledby="view-title">
    <h2 id="view-title">View <span id="viewnum">–</span> <span id="health" class="pill"></span></h2>
    <div class="slots">
      <article class="slot">
        <h3>Primary</h3>
        <p id="primary" class="id">—</p>
        <p class="state"><span id="primary-state" class="pill"></span></p>
      </article>
      <article class="slot">
        <h3>Backup</h3>
        <p id="backup" class="id">—</p>
        <p class="state"><span id="backup-state" class="pill"></span></p>
      </article>
    </div>
  </section>
  <section aria-labelledby="servers-title">
    <h2 id="servers-title">Replicas</h2>
    <ul id="servers" class="servers"></ul>
  </section>
  <section aria-labelledby="timeline-title">
    <h2 id="timeline-title">View changes</h2>
    <ol id="timeline" class="timeline"></ol>
  </section>
</main>
`;

const HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>Understudy · view service</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>${BODY}<script>${SCRIPT}</script>
</body>
</html>
`;

const sha256 = (s: string): string => `'sha256-${createHash('sha256').update(s, 'utf8').digest('base64')}'`;

const CSP = [
  "default-src 'none'",
  `script-src ${sha256(SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  // Same host over ws/wss (older browsers don't match ws: with 'self'), and replicas elsewhere later.
  "connect-src 'self' ws: wss:",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** The dashboard page (`GET /`). */
export function dashboardHtml(): string {
  return HTML;
}

/** The Content-Security-Policy to send with the page: its own script and style, by hash. */
export function dashboardCsp(): string {
  return CSP;
}
