/**
 * Shared pieces of the operations e2e suites (view-service restarts, graceful shutdown): a
 * client load that records what was acknowledged and any stale read, and small probes. The
 * cluster comes from the one builder, test/support/cluster.ts (its view service restarts on
 * its own port).
 */
import { connect, type Store } from '../../client/node';
import { getJson, type ViewStatus } from '../support/processes';
import { waitFor } from '../support/wait';
import { startCluster, type Cluster } from '../support/cluster';

export { PING_MS } from '../support/cluster';

/** @deprecated the one builder is `startCluster` (test/support/cluster.ts); kept for graceful-shutdown.test.ts. */
export type OpsCluster = Cluster;
/**
 * @deprecated use `startCluster` (test/support/cluster.ts); kept for graceful-shutdown.test.ts.
 * As before, `env` goes to the view service only.
 */
export function opsCluster(n: number, o: { deadPings?: number; env?: Record<string, string> } = {}): Promise<Cluster> {
  return startCluster(n, { deadPings: o.deadPings, viewEnv: o.env });
}

/** GET /readyz's status code, 0 if the process does not answer. */
export async function readyz(http: string): Promise<number> {
  try {
    const res = await fetch(`${http}/readyz`, { signal: AbortSignal.timeout(1000) });
    return res.status;
  } catch {
    return 0;
  }
}

/** GET /view of the cluster's view service. */
export function view(c: Cluster): Promise<ViewStatus> {
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

  constructor(private readonly viewUrl: string | readonly string[], private readonly o: { clients?: number; timeoutMs?: number } = {}) {}

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
    try {
      await waitFor(`${n} more load operations`, () => this.ops >= target, timeoutMs, 10);
    } catch (err) {
      throw new Error(`load: ${(err as Error).message} (${this.timeouts} timeouts; ${this.failures.slice(-1)})`);
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
