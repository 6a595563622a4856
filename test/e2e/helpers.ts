/** Shared setup for the e2e suites: a view service and replicas as real processes. */
import { spawnView, spawnReplica, waitForView, getJson, ViewProc, ReplicaProc, Digest, waitFor, killAll } from '../support/processes';
import type { FaultProxy } from '../support/fault-proxy';
import type { Store } from '../../client/store';

export const PING_MS = 50;
export const DEAD_PINGS = 5;

export interface Cluster {
  vs: ViewProc;
  replicas: ReplicaProc[];
  byId(id: string | null): ReplicaProc;
  startReplica(o?: { port?: number; url?: string }): Promise<ReplicaProc>;
}

/**
 * A view service, then `n` replicas started one after the other; resolves once the view has a primary and (n ≥ 2) a backup, acknowledged.
 * `env` is added to every process's environment (e.g. UNDERSTUDY_CLUSTER_TOKEN); `deadPings` overrides DEAD_PINGS.
 */
export async function startCluster(n: number, o: { env?: Record<string, string>; deadPings?: number } = {}): Promise<Cluster> {
  const vs = await spawnView({ pingInterval: PING_MS, deadPings: o.deadPings ?? DEAD_PINGS, env: o.env });
  const replicas: ReplicaProc[] = [];
  const c: Cluster = {
    vs,
    replicas,
    byId(id) {
      const r = replicas.find((x) => x.id === id && x.child.exitCode === null && x.child.signalCode === null);
      if (!r) throw new Error(`no live replica ${id}`);
      return r;
    },
    async startReplica(opts = {}) {
      const r = await spawnReplica({ view: vs.url, pingInterval: PING_MS, env: o.env, ...opts });
      replicas.push(r);
      return r;
    },
  };
  for (let i = 0; i < n; i++) {
    await c.startReplica();
    if (i === 0) await waitForView(vs, (v) => v.primary !== null && v.acked);
  }
  if (n >= 2) await waitForView(vs, (v) => v.primary !== null && v.backup !== null && v.acked);
  return c;
}

export function digest(r: ReplicaProc): Promise<Digest> {
  return getJson<Digest>(`${r.http}/digest`);
}

/** Wait until primary and backup of the current view report the same digest and revision. */
export async function waitForEqualDigests(c: Cluster, timeoutMs = 10000): Promise<{ primary: Digest; backup: Digest }> {
  return waitFor('equal digests on primary and backup', async () => {
    const v = await waitForView(c.vs, (x) => x.primary !== null && x.backup !== null && x.acked);
    const [p, b] = await Promise.all([digest(c.byId(v.primary)), digest(c.byId(v.backup))]);
    return p.sha256 === b.sha256 && p.revision === b.revision ? { primary: p, backup: b } : undefined;
  }, timeoutMs, 50);
}

/**
 * What a suite opens, closed after each test: client stores, fault proxies, then every
 * process it started (killed by pid). Call inside `describe`.
 */
export function cleanupAfterEach(): { stores: Store[]; proxies: FaultProxy[] } {
  const opened = { stores: [] as Store[], proxies: [] as FaultProxy[] };
  afterEach(async () => {
    await Promise.all(opened.stores.splice(0).map((s) => s.close().catch(() => {})));
    await Promise.all(opened.proxies.splice(0).map((p) => p.close()));
    await killAll();
  });
  return opened;
}
