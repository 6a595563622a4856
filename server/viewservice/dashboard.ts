/**
 * The live dashboard served at `GET /` (SPEC §5): the current view, every replica with its
 * liveness and last-ping age, a timeline of view changes, and a key browser. One page from
 * this server alone: it subscribes over WebSocket on the same host (SPEC §6, path `/`) for
 * pushes, and polls `GET /view` every 500 ms for liveness; `GET /view/history` seeds the
 * timeline with the changes before the page was opened.
 *
 * The key browser (issue #4) is the browser client itself, imported as an ES module from
 * this server's `/understudy.js`: it watches a prefix (values change live, highlighted),
 * and puts, gets and deletes. It talks to the replicas directly, so the CSP allows
 * WebSocket connections to any host (`ws:`/`wss:`: replicas listen on other ports and
 * hosts). Without the bundle (not built) or without `store.watch` (an older client), the
 * rest of the page works and the key browser says what is missing.
 *
 * Everything that comes from the network (replica ids, keys and values) is put in the page
 * with textContent, never as HTML. Both scripts are allowed by their hashes in the
 * Content-Security-Policy (dashboardCsp), not by 'unsafe-inline'; `/understudy.js` by 'self'.
 */
import { createHash } from 'node:crypto';

const STYLE = `
:root {
  color-scheme: light dark;
  --bg: #f6f7f9; --card: #ffffff; --fg: #1b1f24; --muted: #5b6572; --line: #dde1e6;
  --ok: #1a7f37; --ok-bg: #dafbe1; --warn: #9a6700; --warn-bg: #fff4d1; --bad: #cf222e; --bad-bg: #ffebe9;
  --accent: #0969da; --on-accent: #ffffff;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0d1117; --card: #161b22; --fg: #e6edf3; --muted: #8d96a0; --line: #30363d;
    --ok: #3fb950; --ok-bg: #12261e; --warn: #d29922; --warn-bg: #272115; --bad: #f85149; --bad-bg: #2d1517;
    --accent: #58a6ff; --on-accent: #0d1117;
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
main {
  max-width: 78rem; margin: 0 auto; padding: 1rem; display: grid; gap: 1rem;
  grid-template-columns: minmax(0, 1fr);
}
.side { display: grid; gap: 1rem; align-content: start; }
@media (min-width: 64rem) {
  main { grid-template-columns: minmax(0, 7fr) minmax(0, 5fr); align-items: start; }
  #view-section { grid-column: 1 / -1; }
}
@media (max-width: 63.99rem) {
  /* One column: view, replicas, keys, then the (long) timeline. */
  .side { display: contents; }
  #view-section { order: 0; } #servers-section { order: 1; } #keys-section { order: 2; } #timeline-section { order: 3; }
}
section { background: var(--card); border: 1px solid var(--line); border-radius: .6rem; padding: 1rem; min-width: 0; }
main ol.timeline { max-height: 26rem; overflow-y: auto; padding-left: .45rem; } /* room for the dots: the scroller clips */
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
/* ── key browser ── */
form { margin: 0; }
label { display: block; font-size: .75rem; font-weight: 600; color: var(--muted); margin: 0 0 .2rem; }
input, textarea, button { font: inherit; color: inherit; }
input[type=text], textarea {
  width: 100%; min-width: 0; padding: .45rem .6rem; border: 1px solid var(--line); border-radius: .4rem;
  background: var(--bg); font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .9rem;
}
textarea { resize: vertical; display: block; }
input[type=text], textarea { line-height: 1.4; }
input:focus-visible, textarea:focus-visible, button:focus-visible { outline: 2px solid var(--accent); outline-offset: 1px; }
button {
  padding: .45rem .9rem; border-radius: .4rem; border: 1px solid var(--line); background: var(--card);
  font-weight: 600; font-size: .9rem; cursor: pointer; white-space: nowrap;
}
button:hover { border-color: var(--muted); }
button.primary { background: var(--accent); border-color: var(--accent); color: var(--on-accent); }
button.danger { color: var(--bad); }
button:disabled { opacity: .5; cursor: default; }
.row { display: flex; gap: .5rem; align-items: flex-end; }
.row > .grow { flex: 1; min-width: 0; }
.watch { margin-bottom: .75rem; }
.prefix { display: flex; align-items: stretch; }
.prefix input { border-top-right-radius: 0; border-bottom-right-radius: 0; }
.prefix .star {
  display: flex; align-items: center; padding: 0 .55rem; border: 1px solid var(--line); border-left: 0;
  border-radius: 0 .4rem .4rem 0; color: var(--muted); font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
}
.kv-wrap { border: 1px solid var(--line); border-radius: .5rem; overflow: hidden; }
table.kv { width: 100%; border-collapse: collapse; table-layout: fixed; font-size: .9rem; }
table.kv th {
  text-align: left; font-size: .7rem; text-transform: uppercase; letter-spacing: .06em; color: var(--muted);
  padding: .45rem .65rem; background: var(--bg); border-bottom: 1px solid var(--line);
}
table.kv th.r, table.kv td.r { width: 5.5rem; text-align: right; }
table.kv th.k { width: 36%; }
table.kv td { padding: .45rem .65rem; border-top: 1px solid var(--line); vertical-align: top; }
table.kv tbody tr:first-child td { border-top: 0; }
table.kv tbody tr[data-key] { cursor: pointer; }
table.kv tbody tr[data-key]:hover td { background: var(--bg); }
table.kv td.k, table.kv td.v { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; overflow-wrap: anywhere; }
table.kv td.k { font-weight: 600; }
table.kv td.v div { white-space: pre-wrap; display: -webkit-box; -webkit-line-clamp: 3; line-clamp: 3; -webkit-box-orient: vertical; overflow: hidden; }
table.kv td.v .none { color: var(--muted); font-style: italic; font-family: system-ui, sans-serif; }
table.kv td.r { color: var(--muted); font-variant-numeric: tabular-nums; }
table.kv tr.gone td { text-decoration: line-through; color: var(--muted); }
table.kv td.empty { text-align: center; padding: 1.25rem .65rem; }
@keyframes flash { from { background: var(--flash); } to { background: transparent; } }
:root { --flash: #fff0b3; }
@media (prefers-color-scheme: dark) { :root { --flash: #4d3d00; } }
table.kv tr.flash td { animation: flash 1.6s ease-out; }
@media (prefers-reduced-motion: reduce) { table.kv tr.flash td { animation: none; background: var(--flash); } }
.kv-foot { display: flex; flex-wrap: wrap; justify-content: space-between; gap: .25rem .75rem; margin: .5rem 0 0; font-size: .8rem; color: var(--muted); }
.edit { margin-top: 1rem; padding-top: 1rem; border-top: 1px solid var(--line); display: grid; gap: .6rem; grid-template-columns: minmax(0, 2fr) minmax(0, 3fr); }
.edit .actions { grid-column: 1 / -1; display: flex; gap: .5rem; flex-wrap: wrap; align-items: center; }
.msg { font-size: .85rem; margin: 0 0 0 auto; color: var(--muted); overflow-wrap: anywhere; }
.msg.ok { color: var(--ok); } .msg.bad { color: var(--bad); }
.notice { margin: 0 0 .75rem; padding: .5rem .7rem; border-radius: .4rem; background: var(--warn-bg); color: var(--warn); font-size: .85rem; }
.notice[hidden] { display: none; }
@media (max-width: 40rem) {
  main { padding: .6rem; gap: .6rem; }
  section { padding: .75rem; }
  header { padding: .6rem .75rem; }
  ul.servers li { grid-template-columns: auto 1fr; }
  ul.servers li .age { grid-column: 2; }
  .edit { grid-template-columns: minmax(0, 1fr); }
  .msg { margin: 0; flex-basis: 100%; }
  /* Rows as small cards: key and revision on one line, the value under them. */
  table.kv thead { display: none; }
  table.kv, table.kv tbody { display: block; }
  table.kv tbody tr { display: grid; grid-template-columns: minmax(0, 1fr) auto; border-top: 1px solid var(--line); }
  table.kv tbody tr:first-child { border-top: 0; }
  table.kv td { border: 0; padding: .4rem .65rem 0; }
  table.kv td.k, table.kv td.r { width: auto; }
  table.kv td.k { grid-row: 1; grid-column: 1; }
  table.kv td.r { grid-row: 1; grid-column: 2; }
  table.kv td.v { grid-column: 1 / -1; padding: .15rem .65rem .5rem; }
  table.kv td.empty { grid-column: 1 / -1; padding: 1.25rem .65rem; }
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

/**
 * The key browser: an ES module that imports the browser client from this server. Keys and
 * values only ever reach the page through textContent.
 */
const KEYS_SCRIPT = `
const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(location.search).get('token');
const view = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host;
const rows = new Map();      // key → { tr, value, rev }
const MAX_ROWS = 500;        // beyond this, keys are counted, not shown: narrow the prefix
const hidden = new Set();    // keys with a value that did not fit
let store = null, stopWatch = null, watching = null, lastRev = 0, fallbackTimer = null, baseRev = 0, watchGen = 0;
const hasWatch = () => store && typeof store.watch === 'function';

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = String(text);
  return e;
}
function pill(text, kind) { const c = $('kb-conn'); c.textContent = text; c.className = 'pill' + (kind ? ' ' + kind : ''); }
function say(text, kind) { const m = $('kb-msg'); m.textContent = text; m.className = 'msg' + (kind ? ' ' + kind : ''); }
function notice(text) { const n = $('kb-notice'); n.textContent = text || ''; n.hidden = !text; }
function enable(on) { for (const id of ['kb-watch-btn', 'kb-put', 'kb-get', 'kb-del']) $(id).disabled = !on; }
function errText(e) { return (e && e.code ? e.code + ': ' : '') + (e && e.message ? e.message : String(e)); }

// ── the table ──
function renderEmpty() {
  const body = $('kb-rows');
  if (rows.size > 0) { const e = body.querySelector('td.empty'); if (e) e.parentNode.remove(); return; }
  if (body.querySelector('td.empty')) return;
  const tr = el('tr'), td = el('td', 'empty muted', watching == null ? 'not watching' : 'no keys yet' + (watching ? ' starting with ' + watching : '') + ': put one below');
  td.colSpan = 3; tr.appendChild(td); body.appendChild(tr);
}
function renderFoot() {
  $('kb-count').textContent = rows.size + (rows.size === 1 ? ' key' : ' keys') +
    (hidden.size ? ' (and ' + hidden.size + ' more not shown: narrow the prefix)' : '') +
    (watching == null ? '' : hasWatch() ? ' · watching ' + (watching || '') + '*' : ' · looked up here (no live watch)');
  $('kb-rev').textContent = lastRev ? 'revision ' + lastRev : '';
}
function flash(tr) { tr.classList.remove('flash'); void tr.offsetWidth; tr.classList.add('flash'); }
function setValueCell(td, value) {
  td.textContent = '';
  td.appendChild(value === null ? el('div', 'none', 'deleted') : el('div', null, value));
  td.title = value === null ? '' : value.length > 200 ? value.slice(0, 200) + '…' : value;
}
/** A key's new value (null: deleted) at revision rev: insert in key order, update, or strike out. */
function show(key, value, rev) {
  if (rev != null && rev > lastRev) lastRev = rev;
  let row = rows.get(key);
  if (!row && (hidden.has(key) || rows.size >= MAX_ROWS)) {
    if (value === null) hidden.delete(key); else hidden.add(key);
    renderFoot();
    return;
  }
  if (value === null && !row) { renderFoot(); return; }
  if (!row) {
    const tr = el('tr'); tr.dataset.key = key;
    tr.appendChild(el('td', 'k', key)); tr.appendChild(el('td', 'v')); tr.appendChild(el('td', 'r'));
    tr.addEventListener('click', () => { $('kb-key').value = key; const r = rows.get(key); $('kb-value').value = r && r.value !== null ? r.value : ''; });
    row = { tr, value: null, rev: 0, timer: null };
    rows.set(key, row);
    const body = $('kb-rows');
    const after = [...body.querySelectorAll('tr[data-key]')].find((t) => t.dataset.key > key);
    body.insertBefore(tr, after || null);
  }
  if (rev != null && rev < row.rev) return; // older than what is shown
  clearTimeout(row.timer);
  row.value = value; row.rev = rev || row.rev;
  setValueCell(row.tr.children[1], value);
  row.tr.children[2].textContent = row.rev ? String(row.rev) : '–';
  row.tr.classList.toggle('gone', value === null);
  // Highlight changes, not the replay of what was there when the watch started.
  if (rev == null || rev > baseRev) flash(row.tr);
  if (value === null) {
    // Struck out for a moment, then gone (unless written again meanwhile).
    row.timer = setTimeout(() => { if (rows.get(key) === row && row.value === null) { rows.delete(key); row.tr.remove(); renderEmpty(); renderFoot(); } }, 1800);
  }
  renderEmpty();
  renderFoot();
}
function clearRows() {
  for (const r of rows.values()) clearTimeout(r.timer);
  rows.clear(); hidden.clear(); $('kb-rows').textContent = ''; renderEmpty(); renderFoot();
}

// ── watching ──
async function watch(prefix) {
  if (stopWatch) { try { stopWatch(); } catch (e) {} stopWatch = null; }
  clearInterval(fallbackTimer); fallbackTimer = null;
  const gen = ++watchGen;
  watching = prefix;
  clearRows();
  const url = new URL(location.href);
  if (prefix) url.searchParams.set('prefix', prefix); else url.searchParams.delete('prefix');
  history.replaceState(null, '', url);
  if (hasWatch()) {
    // One read first: store.revision is then the revision now, and the replay up to it is
    // shown without highlighting.
    try { await store.get(prefix || '_'); } catch (e) { /* the watch waits for a primary too */ }
    if (gen !== watchGen) return;
    baseRev = typeof store.revision === 'number' ? store.revision : 0;
    // fromRevision 0: the history replays every write (or a resync sends current values).
    stopWatch = store.watch(prefix + '*', (e) => show(e.key, e.value, e.revision), { fromRevision: 0 });
  } else {
    notice('This client has no live watch: the table shows keys you put or get here, refreshed every second.');
    fallbackTimer = setInterval(refreshKnown, 1000);
  }
  renderFoot();
}
async function refreshKnown() {
  for (const [key, row] of [...rows]) {
    try { const v = await store.get(key); if (v !== row.value) show(key, v, null); } catch (e) { /* shown by the state pill */ }
  }
}

// ── put / get / delete ──
async function run(what, fn) {
  const key = $('kb-key').value;
  if (!key) { say('enter a key', 'bad'); $('kb-key').focus(); return; }
  say(what + ' ' + key + '…');
  const t0 = performance.now();
  try {
    const result = await fn(key);
    say(what + ' ' + key + ': ' + result + ' · ' + Math.round(performance.now() - t0) + ' ms', 'ok');
  } catch (e) {
    say(what + ' ' + key + ' failed: ' + errText(e), 'bad');
  }
}
$('kb-edit').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const value = $('kb-value').value;
  run('put', async (key) => { await store.put(key, value); if (!hasWatch() && key.startsWith(watching || '')) show(key, value, null); return 'replicated'; });
});
$('kb-get').addEventListener('click', () => run('get', async (key) => {
  const v = await store.get(key);
  $('kb-value').value = v === null ? '' : v;
  if (!hasWatch() && v !== null && key.startsWith(watching || '')) show(key, v, null);
  return v === null ? 'no such key' : v.length + ' characters';
}));
$('kb-del').addEventListener('click', () => run('delete', async (key) => {
  const existed = await store.delete(key);
  if (!hasWatch()) show(key, null, null);
  return existed ? 'deleted' : 'no such key';
}));
$('kb-watch').addEventListener('submit', (ev) => { ev.preventDefault(); if (store) watch($('kb-prefix').value); });

// ── connection ──
function showState(s) {
  const map = { connected: ['connected', 'ok'], open: ['connected', 'ok'], connecting: ['connecting…', 'warn'], reconnecting: ['reconnecting…', 'warn'], closed: ['closed', 'bad'] };
  const [text, kind] = map[s] || [String(s), ''];
  pill(text, kind);
}
async function start() {
  let mod;
  try {
    mod = await import('/understudy.js');
  } catch (e) {
    pill('no client', 'bad');
    notice('The browser client is not built on this server (GET /understudy.js failed): run npm run build and restart the view service.');
    $('kb-rows').textContent = '';
    return;
  }
  pill('connecting…', 'warn');
  try {
    store = await mod.connect({ view, timeoutMs: 10000, ...(token ? { token } : {}) });
  } catch (e) {
    pill('offline', 'bad');
    notice('Cannot connect the client: ' + errText(e) + '. Retrying in 3 s.');
    setTimeout(start, 3000);
    return;
  }
  notice('');
  if ('state' in store) { showState(store.state); store.on('state', showState); }
  else { showState(store.status); store.on('status', showState); }
  store.on('error', (e) => say(errText(e), 'bad'));
  enable(true);
  const prefix = new URLSearchParams(location.search).get('prefix') || '';
  $('kb-prefix').value = prefix;
  watch(prefix);
  window.understudyStore = store; // for the console (and the browser tests)
}
start();
`;

const BODY = `
<header>
  <h1>Understudy <small>view service</small></h1>
  <span id="conn" class="pill">connecting…</span>
</header>
<main>
  <section id="view-section" aria-labelledby="view-title">
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
  <section id="keys-section" aria-labelledby="keys-title">
    <h2 id="keys-title">Keys <span id="kb-conn" class="pill">loading client…</span></h2>
    <p id="kb-notice" class="notice" hidden></p>
    <form id="kb-watch" class="watch row" autocomplete="off">
      <div class="grow">
        <label for="kb-prefix">Watch keys starting with</label>
        <div class="prefix"><input id="kb-prefix" type="text" placeholder="every key" spellcheck="false" autocapitalize="off"><span class="star">*</span></div>
      </div>
      <button id="kb-watch-btn" type="submit" disabled>Watch</button>
    </form>
    <div class="kv-wrap">
      <table class="kv">
        <thead><tr><th class="k" scope="col">Key</th><th class="v" scope="col">Value</th><th class="r" scope="col">Revision</th></tr></thead>
        <tbody id="kb-rows"><tr><td class="empty muted" colspan="3">connecting…</td></tr></tbody>
      </table>
    </div>
    <p class="kv-foot"><span id="kb-count"></span><span id="kb-rev"></span></p>
    <form id="kb-edit" class="edit" autocomplete="off">
      <div><label for="kb-key">Key</label><input id="kb-key" type="text" required spellcheck="false" autocapitalize="off"></div>
      <div><label for="kb-value">Value</label><textarea id="kb-value" rows="1" spellcheck="false" autocapitalize="off"></textarea></div>
      <div class="actions">
        <button id="kb-put" class="primary" type="submit" disabled>Put</button>
        <button id="kb-get" type="button" disabled>Get</button>
        <button id="kb-del" class="danger" type="button" disabled>Delete</button>
        <p id="kb-msg" class="msg" role="status" aria-live="polite"></p>
      </div>
    </form>
  </section>
  <div class="side">
    <section id="servers-section" aria-labelledby="servers-title">
      <h2 id="servers-title">Replicas</h2>
      <ul id="servers" class="servers"></ul>
    </section>
    <section id="timeline-section" aria-labelledby="timeline-title">
      <h2 id="timeline-title">View changes</h2>
      <ol id="timeline" class="timeline"></ol>
    </section>
  </div>
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
<script type="module">${KEYS_SCRIPT}</script>
</body>
</html>
`;

const sha256 = (s: string): string => `'sha256-${createHash('sha256').update(s, 'utf8').digest('base64')}'`;

const CSP = [
  "default-src 'none'",
  // The two inline scripts by hash; 'self' for the client module they import (/understudy.js).
  `script-src 'self' ${sha256(SCRIPT)} ${sha256(KEYS_SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  // The view service over ws/wss on this host (older browsers don't match ws: with 'self'),
  // and the key browser's links to the replicas, which listen on other ports and hosts.
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
