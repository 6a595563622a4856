/**
 * Shared pieces of the operations e2e suites (view-service restarts, graceful shutdown):
 * a cluster whose view service runs on a fixed port (so it can be restarted in place), and a
 * client load that records what was acknowledged and any stale read.
 */
import { connect } from '../../client/node';
import type { Store } from '../../client/store';
import { spawnView, spawnReplica, waitForView, freePort, getJson, type ViewProc, type ReplicaProc, type ViewStatus } from '../support/processes';

export const PING_MS = 50;

export interface OpsCluster {
  port: number;
  vs: ViewProc;
  replicas: ReplicaProc[];
  byId(id: string | null): ReplicaProc;
  /** Start (or restart) the view service on the same port. */
  startVs(env?: Record<string, string>): Promise<ViewProc>;
}

/** A view service on a fixed port and `n` replicas; resolves with {primary, backup} acknowledged. */
export async function opsCluster(n: number, o: { deadPings?: number; env?: Record<string, string> } = {}): Promise<OpsCluster> {
  const port = await freePort();
  const deadPings = o.deadPings ?? 5;
  const c: OpsCluster = {
    port,
    vs: null as unknown as ViewProc,
    replicas: [],
    byId(id) {
      const r = c.replicas.find((x) => x.id === id && x.child.exitCode === null && x.child.signalCode === null);
      if (!r) throw new Error(`no live replica ${id}`);
      return r;
    },
    async startVs(env = o.env ?? {}) {
      c.vs = await spawnView({ port, pingInterval: PING_MS, deadPings, env });
      return c.vs;
    },
  };
  await c.startVs();
  for (let i = 0; i < n; i++) {
    c.replicas.push(await spawnReplica({ view: c.vs.url, pingInterval: PING_MS }));
    if (i === 0) await waitForView(c.vs, (v) => v.primary !== null && v.acked);
  }
  if (n >= 2) await waitForView(c.vs, (v) => v.primary !== null && v.backup !== null && v.acked);
  return c;
}

export async function readyz(http: string): Promise<number> {
  try {
    const res = await fetch(`${http}/readyz`, { signal: AbortSignal.timeout(1000) });
    return res.status;
  } catch {
    return 0;
  }
}

export function view(c: OpsCluster): Promise<ViewStatus> {
  return getJson<ViewStatus>(`${c.vs.http}/view`);
}

/**
 * `clients` loops, each writing its own key and reading it back (read-your-writes). A read
 * must return the last acknowledged value, or one written since whose outcome is unknown
 * (a TIMEOUT): anything else is a stale or lost write. Records every completion time, so
 * the longest gap (the unavailability) can be measured.
 */
export class Load {
  readonly stores: Store[] = [];
  readonly wrong: string[] = [];
  readonly failures: string[] = [];
  /** key → the values a read may return now. */
  readonly allowed = new Map<string, Set<string | null>>();
  /** key → last acknowledged value. */
  readonly acked = new Map<string, string>();
  readonly completions: number[] = [];
  timeouts = 0;
  private stopped = false;
  private loops: Promise<void>[] = [];

  constructor(private readonly viewUrl: string, private readonly o: { clients?: number; timeoutMs?: number } = {}) {}

  async start(): Promise<void> {
    const n = this.o.clients ?? 3;
    for (let ci = 0; ci < n; ci++) {
      const s = await connect({ view: this.viewUrl, timeoutMs: this.o.timeoutMs ?? 5000 });
      this.stores.push(s);
      this.loops.push(this.loop(s, `load-${ci}`));
    }
  }

  private async loop(s: Store, key: string): Promise<void> {
    let allowed = new Set<string | null>([null]);
    this.allowed.set(key, allowed);
    for (let i = 0; !this.stopped; i++) {
      const value = `${key}#${i}`;
      try {
        await s.put(key, value);
        allowed = new Set([value]);
        this.allowed.set(key, allowed);
        this.acked.set(key, value);
        this.completions.push(Date.now());
      } catch (e) {
        if ((e as { code?: string }).code !== 'TIMEOUT') { this.failures.push(`put ${key}: ${String(e)}`); continue; }
        this.timeouts++;
        allowed.add(value);
        continue;
      }
      try {
        const got = await s.get(key);
        if (!allowed.has(got)) this.wrong.push(`${key}: read ${got}, allowed ${[...allowed].join('|')}`);
        this.completions.push(Date.now());
      } catch (e) {
        if ((e as { code?: string }).code !== 'TIMEOUT') this.failures.push(`get ${key}: ${String(e)}`);
        else this.timeouts++;
      }
    }
  }

  /** Completions so far. */
  get ops(): number {
    return this.completions.length;
  }

  /** Resolves once `n` more operations completed. */
  async more(n: number, timeoutMs = 15000): Promise<void> {
    const target = this.ops + n;
    const deadline = Date.now() + timeoutMs;
    while (this.ops < target) {
      if (Date.now() > deadline) throw new Error(`load: fewer than ${n} operations completed in ${timeoutMs} ms (${this.timeouts} timeouts; ${this.failures.slice(-1)})`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** The longest time without any completed operation between `from` and `to`. */
  longestGap(from: number, to: number): number {
    const ts = [from, ...this.completions.filter((t) => t > from && t < to), to].sort((a, b) => a - b);
    let gap = 0;
    for (let i = 1; i < ts.length; i++) gap = Math.max(gap, ts[i] - ts[i - 1]);
    return gap;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
  }

  /** Every key's last acknowledged value is what a fresh client reads (no acknowledged write lost). */
  async lostWrites(): Promise<string[]> {
    const s = await connect({ view: this.viewUrl, timeoutMs: 5000 });
    this.stores.push(s);
    const lost: string[] = [];
    for (const [key, allowed] of this.allowed) {
      const got = await s.get(key);
      if (!allowed.has(got)) lost.push(`${key}: read ${got}, acknowledged ${this.acked.get(key)}`);
    }
    return lost;
  }

  async close(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.stores.map((s) => s.close().catch(() => {})));
  }
}
