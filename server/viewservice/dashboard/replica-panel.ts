/**
 * What an operator looks at (issue #15): per replica, ops/s and p99 latency over the last
 * minutes (charts.ts), the backup's replication lag as its primary sees it, and a progress
 * bar with keys, bytes and time left while a state transfer runs. Everything comes from the
 * view service alone: `GET /stats` (the stats replicas send beside their pings,
 * server/viewservice/stats-ring.ts) and `GET /view` for the roles, every second — the rate
 * the replicas report at.
 */
import { byId, el } from './dom';
import { Chart } from './charts';

const POLL_MS = 1000;
/**
 * The charts' span: the view service keeps 5 minutes; the last 3 read well at this size. A
 * younger cluster is drawn over the time it has (at least a minute), not squeezed to the right.
 */
const CHART_MS = 3 * 60_000;
const MIN_CHART_MS = 60_000;
const ROLE_ORDER: Readonly<Record<string, number>> = { primary: 0, backup: 1 };

interface Transfer { keys: number; keysTotal: number; bytes: number; bytesTotal: number; etaMs: number | null }
/** One replica in `GET /stats`. */
interface Series {
  id: string;
  at: number[];
  opsPerSec: number[];
  p99Ms: (number | null)[];
  lagOps: (number | null)[];
  lag?: { ops: number; bytes: number };
  transfer?: Transfer;
  /** With --data-dir: the last operation on the replica's disk. */
  durableIndex?: number;
}
interface StatsJson { now: number; windowMs: number; replicas: Series[] }
interface ViewJson { primary: string | null; backup: string | null }

/** One replica's card, kept across polls so the charts redraw in place. */
interface Card {
  root: HTMLElement;
  role: HTMLElement;
  ops: Chart;
  p99: Chart;
  lag: HTMLElement;
  durable: HTMLElement;
  transfer: HTMLElement;
  bar: HTMLProgressElement;
  transferText: HTMLElement;
}

const cards = new Map<string, Card>();

export function formatBytes(n: number): string {
  if (n < 1024) return `${Math.round(n)} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

function formatCount(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return n.toLocaleString('en-US', { maximumFractionDigits: n < 10 ? 1 : 0 });
}

function formatMs(ms: number): string {
  if (ms < 1) return `${(ms * 1000).toFixed(0)} µs`;
  if (ms < 10) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${ms.toFixed(0)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

function formatLeft(ms: number | null): string {
  if (ms === null) return 'time left: estimating…';
  if (ms < 1000) return 'under a second left';
  if (ms < 120_000) return `${Math.ceil(ms / 1000)} s left`;
  return `${Math.ceil(ms / 60_000)} min left`;
}

function newCard(id: string): Card {
  const root = el('article', 'load-card');
  root.dataset.id = id;
  const head = el('h3');
  const role = el('span', 'pill');
  head.append(role, el('span', 'id', id));
  const ops = new Chart('ops/s', 'ops', (v) => `${formatCount(v)} ops/s`);
  const p99 = new Chart('p99 latency', 'p99', formatMs);
  const lag = el('p', 'lag');
  const durable = el('p', 'durable muted');
  const transfer = el('div', 'transfer');
  const bar = el('progress');
  const transferText = el('p', 'transfer-text');
  transfer.append(el('p', 'transfer-title', 'State transfer'), bar, transferText);
  transfer.hidden = true;
  root.append(head, ops.root, p99.root, lag, durable, transfer);
  return { root, role, ops, p99, lag, durable, transfer, bar, transferText };
}

function roleOf(id: string, view: ViewJson | null): string {
  return view === null ? '' : id === view.primary ? 'primary' : id === view.backup ? 'backup' : 'idle';
}

function renderCard(c: Card, s: Series, view: ViewJson | null, now: number, spanMs: number): void {
  const role = roleOf(s.id, view);
  c.role.textContent = role || '…';
  c.role.className = 'pill' + (role === 'primary' ? ' ok' : role === 'backup' ? ' warn' : '');
  c.root.dataset.role = role;
  c.ops.draw(s.at, s.opsPerSec, now - spanMs, now);
  c.p99.draw(s.at, s.p99Ms, now - spanMs, now);
  if (s.lag && role === 'primary' && view?.backup) {
    c.lag.textContent = `Backup behind by ${s.lag.ops.toLocaleString('en-US')} ops · ${formatBytes(s.lag.bytes)}`;
    c.lag.className = 'lag' + (s.lag.ops > 1000 ? ' behind' : '');
  } else {
    c.lag.textContent = role === 'primary' ? 'No backup: nothing to replicate to' : '';
    c.lag.className = 'lag muted';
  }
  c.durable.textContent = s.durableIndex === undefined ? 'In memory only (no --data-dir)' : `On disk up to op ${s.durableIndex.toLocaleString('en-US')}`;
  renderTransfer(c, s.transfer);
}

function renderTransfer(c: Card, t: Transfer | undefined): void {
  c.transfer.hidden = t === undefined;
  if (t === undefined) return;
  c.bar.max = Math.max(1, t.keysTotal);
  c.bar.value = t.keys;
  const pct = t.keysTotal > 0 ? Math.floor((100 * t.keys) / t.keysTotal) : 100;
  c.bar.textContent = `${pct}%`;
  c.transferText.textContent = `${t.keys.toLocaleString('en-US')} / ${t.keysTotal.toLocaleString('en-US')} keys (${pct}%) · ` +
    `${formatBytes(t.bytes)} / ~${formatBytes(t.bytesTotal)} · ${formatLeft(t.etaMs)}`;
}

function render(stats: StatsJson, view: ViewJson | null): void {
  const list = byId('load');
  const seen = new Set<string>();
  const oldest = Math.min(...stats.replicas.map((s) => s.at[0] ?? stats.now));
  const spanMs = Math.min(CHART_MS, Math.max(MIN_CHART_MS, stats.now - oldest));
  // The primary first, then the backup, then the others by id (the view service's order).
  const rank = (id: string): number => ROLE_ORDER[roleOf(id, view)] ?? 2;
  const replicas = [...stats.replicas].sort((a, b) => rank(a.id) - rank(b.id));
  for (const s of replicas) {
    seen.add(s.id);
    let c = cards.get(s.id);
    if (c === undefined) {
      c = newCard(s.id);
      cards.set(s.id, c);
    }
    renderCard(c, s, view, stats.now, spanMs);
    list.append(c.root);
  }
  for (const [id, c] of cards) {
    if (!seen.has(id)) { c.root.remove(); cards.delete(id); }
  }
  byId('load-empty').hidden = stats.replicas.length > 0;
}

/** A poll that has not answered by then is given up, so one lost request cannot stop the polling (`busy`). */
const FETCH_TIMEOUT_MS = 5000;

async function getJson<T>(path: string): Promise<T> {
  const res = await fetch(path, { cache: 'no-store', signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  return (await res.json()) as T;
}

/** Poll the view service every second; a failed poll keeps the last picture. */
export function startReplicaPanel(): void {
  let busy = false;
  const poll = async (): Promise<void> => {
    if (busy) return;
    busy = true;
    try {
      const [stats, view] = await Promise.all([getJson<StatsJson>('/stats'), getJson<ViewJson>('/view').catch(() => null)]);
      render(stats, view);
    } catch {
      // The view panel already says the view service is unreachable.
    } finally {
      busy = false;
    }
  };
  void poll();
  setInterval(() => void poll(), POLL_MS);
}
