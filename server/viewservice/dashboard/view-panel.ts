/**
 * The view, the replicas and the view changes (SPEC §5). Three inputs: pushes on a
 * WebSocket subscription to the view service (SPEC §6, path `/`), `GET /view` every 500 ms
 * for liveness and last-ping ages, and `GET /view/history` once, for the changes before
 * the page was opened.
 */
import { byId, el, setPill, wsOrigin } from './dom';

const POLL_MS = 500;
const MAX_HISTORY = 200;

interface View { viewnum: number; primary: string | null; backup: string | null }
/** `GET /view` (SPEC §5). */
interface ViewStatus extends View { acked: boolean; servers: ServerStatus[]; role?: 'leader' | 'follower'; leader?: string | null }
interface ServerStatus { id: string; alive: boolean; lastPingMs: number }
/** One entry of the timeline: the view, when the page (or the view service) saw it, and what changed. */
interface Change { view: View; at: number; what: string }

const state = {
  view: null as View | null,
  status: null as ViewStatus | null,
  history: [] as Change[],
  /** The subscription is open and delivering views. */
  live: false,
  /** The last `GET /view` succeeded. */
  polled: false,
  /** The view service closed the subscription with 4401: retrying would not help. */
  unauthorized: false,
};

function age(ms: number): string {
  if (ms < 1000) return Math.round(ms) + ' ms ago';
  if (ms < 60000) return (ms / 1000).toFixed(1) + ' s ago';
  if (ms < 3600000) return Math.floor(ms / 60000) + ' min ago';
  return Math.floor(ms / 3600000) + ' h ago';
}

function clock(t: number): string {
  const d = new Date(t);
  return d.toLocaleTimeString([], { hour12: false }) + '.' + String(d.getMilliseconds()).padStart(3, '0');
}

function serverOf(id: string | null | undefined): ServerStatus | null {
  const s = state.status;
  if (!s || id == null) return null;
  return s.servers.find((x) => x.id === id) ?? null;
}

// ── view changes ──

function describe(prev: View | null, v: View): string {
  if (!prev || prev.viewnum === 0) return 'first primary';
  if (v.primary !== prev.primary) return 'failover: backup promoted';
  if (prev.backup === null) return 'backup added';
  if (v.backup === null) return 'backup removed';
  return 'backup replaced';
}

function addHistory(v: View, at: number): boolean {
  const h = state.history;
  if (h.length && h[h.length - 1].view.viewnum >= v.viewnum) return false;
  const prev = h.length ? h[h.length - 1].view : null;
  // Only a change from the view just before can be described; after a gap it is just "a change".
  const consecutive = (prev && prev.viewnum === v.viewnum - 1) || v.viewnum === 1;
  h.push({ view: v, at, what: consecutive ? describe(prev, v) : 'view change' });
  if (h.length > MAX_HISTORY) h.shift();
  return true;
}

function onView(v: View | undefined, at: number): void {
  if (!v || typeof v.viewnum !== 'number') return;
  if (state.view && v.viewnum < state.view.viewnum) return;
  state.view = v;
  if (v.viewnum > 0 && addHistory(v, at)) renderTimeline();
  renderView();
}

// ── rendering ──

function renderSlot(name: 'primary' | 'backup', id: string | null): void {
  byId(name).textContent = id == null ? '—' : id;
  const st = byId(name + '-state');
  if (id == null) { setPill(st, name === 'backup' ? 'none' : 'none yet'); return; }
  const s = serverOf(id);
  if (!s) { setPill(st, 'unknown'); return; }
  setPill(st, s.alive ? 'alive · pinged ' + age(s.lastPingMs) : 'dead · last ping ' + age(s.lastPingMs), s.alive ? 'ok' : 'bad');
}

function renderView(): void {
  const v = state.view, s = state.status;
  byId('viewnum').textContent = v ? String(v.viewnum) : '–';
  renderSlot('primary', v && v.primary);
  renderSlot('backup', v && v.backup);
  const health = byId('health');
  if (!v || v.viewnum === 0) setPill(health, 'waiting for a replica', 'warn');
  else if (s && s.viewnum === v.viewnum) {
    const p = serverOf(v.primary), b = serverOf(v.backup);
    if (!s.acked) setPill(health, 'waiting for the primary to acknowledge', 'warn');
    else if (p && !p.alive && !(b && b.alive)) setPill(health, 'stuck: primary down, no live backup', 'bad');
    else if (!v.backup) setPill(health, 'no backup', 'warn');
    else setPill(health, 'acknowledged', 'ok');
  }
  renderServers();
}

function renderServers(): void {
  const list = byId('servers'), v = state.view, s = state.status;
  list.textContent = '';
  if (!s || s.servers.length === 0) { list.appendChild(el('li', 'empty', 'no replica has pinged yet')); return; }
  const rank = (x: ServerStatus): number => (v && x.id === v.primary ? 0 : v && x.id === v.backup ? 1 : 2);
  for (const x of s.servers.slice().sort((a, b) => rank(a) - rank(b))) {
    const li = el('li');
    li.appendChild(el('span', 'dot' + (x.alive ? ' alive' : ''))).title = x.alive ? 'alive' : 'dead';
    const who = el('div');
    who.appendChild(el('p', 'id', x.id));
    const role = ['primary', 'backup', 'idle'][rank(x)];
    who.appendChild(el('span', 'pill' + (!x.alive ? ' bad' : role === 'idle' ? '' : ' ok'), role + (x.alive ? '' : ' · dead')));
    li.appendChild(who);
    li.appendChild(el('span', 'age', age(x.lastPingMs)));
    list.appendChild(li);
  }
}

function renderTimeline(): void {
  const list = byId('timeline');
  list.textContent = '';
  if (state.history.length === 0) { list.appendChild(el('li', 'empty', 'no view yet')); return; }
  for (let i = state.history.length - 1; i >= 0; i--) {
    const e = state.history[i], li = el('li');
    const head = el('div');
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

function renderConn(): void {
  const c = byId('conn');
  if (state.unauthorized) setPill(c, 'unauthorized: add ?token=', 'bad');
  else if (state.live) setPill(c, 'live', 'ok');
  else if (state.polled) setPill(c, 'polling', 'warn');
  else setPill(c, 'offline', 'bad');
}

// ── inputs: WebSocket pushes, /view polling, /view/history once ──

function subscribe(token: string | null, attempt: number): void {
  const url = wsOrigin() + '/' + (token ? '?token=' + encodeURIComponent(token) : '');
  let ws: WebSocket;
  try { ws = new WebSocket(url); } catch { retry(token, attempt); return; }
  ws.onopen = () => {
    attempt = 0;
    ws.send(JSON.stringify(token ? { type: 'subscribe', token } : { type: 'subscribe' }));
  };
  ws.onmessage = (e: MessageEvent) => {
    let m: { type?: unknown; view?: View } | null;
    try { m = JSON.parse(String(e.data)); } catch { return; }
    if (m && m.type === 'view') { state.live = true; renderConn(); onView(m.view, Date.now()); }
  };
  ws.onclose = (e: CloseEvent) => {
    state.live = false;
    state.unauthorized = e.code === 4401;
    renderConn();
    if (!state.unauthorized) retry(token, attempt + 1);
  };
}

function retry(token: string | null, attempt: number): void {
  setTimeout(() => subscribe(token, attempt), Math.min(5000, 250 * Math.pow(2, attempt)) * (0.5 + Math.random() / 2));
}

function poll(): void {
  fetch('/view', { cache: 'no-store' })
    .then((r) => { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json() as Promise<ViewStatus>; })
    .then((s) => {
      state.status = s;
      state.polled = true;
      renderHa(s);
      onView({ viewnum: s.viewnum, primary: s.primary, backup: s.backup }, Date.now());
      renderView();
    })
    .catch(() => { state.polled = false; })
    .then(() => { renderConn(); setTimeout(poll, POLL_MS); });
}

/** With --etcd (SPEC §12): whether this instance leads, and which instance does. */
function renderHa(s: ViewStatus): void {
  const pill = document.getElementById('ha');
  if (!pill || s.role === undefined) return;
  pill.hidden = false;
  pill.className = 'pill' + (s.role === 'leader' ? ' ok' : s.leader ? '' : ' bad');
  pill.textContent = s.role === 'leader' ? 'this instance leads' : 'follower · leader ' + (s.leader ?? 'unknown');
}

function loadHistory(): void {
  fetch('/view/history', { cache: 'no-store' })
    .then((r) => (r.ok ? r.json() : { history: [] }) as Promise<{ history?: (View & { at: number })[] }>)
    .then((body) => {
      // What the subscription delivered meanwhile goes after the view service's history.
      const known = state.history;
      state.history = [];
      for (const e of body.history || []) addHistory({ viewnum: e.viewnum, primary: e.primary, backup: e.backup }, e.at);
      for (const e of known) addHistory(e.view, e.at);
      renderTimeline();
    })
    .catch(() => {});
}

/** Render the empty panel, then start its three inputs. */
export function startViewPanel(token: string | null): void {
  renderView();
  renderTimeline();
  renderConn();
  loadHistory();
  subscribe(token, 0);
  poll();
}
