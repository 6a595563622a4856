/**
 * The one cluster builder of the e2e suites (STYLE §12): a view service and N replicas as
 * real processes on 127.0.0.1 ports, with what the test opens registered with its teardown
 * (processes killed by pid, proxies and client stores closed). Options set every process's
 * environment, the ping interval and deadPings. A replica can sit behind a fault proxy (its
 * advertised URL is the proxy's, so the primary and clients go through it) or reach the
 * view service through one. The view service restarts on its own port (`startVs`), so the
 * replicas and clients find it again.
 */
import { connect, type ConnectOptions, type Store } from '../../client/node';
import { startFaultProxy, type FaultProxy } from './fault-proxy';
import { spawnView, spawnReplica, waitForView, getJson, freePort, type ViewProc, type ReplicaProc, type Digest } from './processes';
import type { Teardown } from './teardown';
import { waitFor } from './wait';

/** The ping interval of e2e clusters: short, so failovers are quick. */
export const PING_MS = 50;
/** deadPings of e2e clusters (× PING_MS = 250 ms before a silent replica is dead). */
export const DEAD_PINGS = 5;

export interface ClusterOptions {
  /** Added to every process's environment (e.g. UNDERSTUDY_CLUSTER_TOKEN). */
  env?: Record<string, string>;
  /** Added to the view service's environment only (e.g. its UNDERSTUDY_DATA_DIR). */
  viewEnv?: Record<string, string>;
  /** @default PING_MS */
  pingMs?: number;
  /** @default DEAD_PINGS */
  deadPings?: number;
  /**
   * Where every process's kill, proxy and store is registered. Without it the processes are
   * reclaimed only by `killAll()` (for suites outside test/e2e that still call it).
   */
  teardown?: Teardown;
}

export interface ReplicaOptions {
  /** A fixed port, e.g. to restart the replica at the same address. @default a free port */
  port?: number;
  /** The URL the replica advertises (`--url`), e.g. a proxy's to its port. @default its own */
  url?: string;
  /** Put a fault proxy (named so in its logs) in front: the replica advertises the proxy's URL. */
  proxied?: string;
  /** The view service URL the replica dials, e.g. a proxy's. @default the cluster's */
  view?: string;
  /** Added to this replica's environment (e.g. its UNDERSTUDY_DATA_DIR). */
  env?: Record<string, string>;
}

export interface ClusterReplica extends ReplicaProc {
  /** The fault proxy in front of it, when started with `proxied`. */
  readonly proxy: FaultProxy | null;
}

export interface Cluster {
  /** The running view service (replaced by `startVs`). */
  vs: ViewProc;
  /** Every replica started, dead ones included. */
  readonly replicas: ClusterReplica[];
  readonly pingMs: number;
  /** The live replica whose id is `id` (throws if there is none). */
  byId(id: string | null): ClusterReplica;
  /** Start the view service again on its port (after a kill or SIGTERM), with `viewEnv` unless given another. */
  startVs(viewEnv?: Record<string, string>): Promise<ViewProc>;
  startReplica(o?: ReplicaOptions): Promise<ClusterReplica>;
  /** A fault proxy to `target`, closed after the test. */
  proxy(target: string, name: string): Promise<FaultProxy>;
  /** A client store on the view service (or `o.view`), closed after the test. */
  client(o?: Partial<ConnectOptions>): Promise<Store>;
}

/**
 * A view service, then `n` replicas one after the other; resolves once the view has a
 * primary and (n ≥ 2) a backup, acknowledged.
 */
export async function startCluster(n: number, o: ClusterOptions = {}): Promise<Cluster> {
  const pingMs = o.pingMs ?? PING_MS;
  const deadPings = o.deadPings ?? DEAD_PINGS;
  const register = (cleanup: () => unknown) => { o.teardown?.push(cleanup); };
  const c: Cluster = {
    vs: null as unknown as ViewProc,
    replicas: [],
    pingMs,
    byId(id) {
      const r = c.replicas.find((x) => x.id === id && x.child.exitCode === null && x.child.signalCode === null);
      if (!r) throw new Error(`no live replica ${id}`);
      return r;
    },
    async startVs(viewEnv = o.viewEnv) {
      const vs = await spawnView({ port: c.vs?.port ?? 0, pingInterval: pingMs, deadPings, env: { ...o.env, ...viewEnv } });
      register(() => vs.kill('SIGKILL'));
      c.vs = vs;
      return vs;
    },
    async startReplica(ro = {}) {
      let proxy: FaultProxy | null = null;
      let port = ro.port;
      if (ro.proxied !== undefined) {
        port ??= await freePort();
        proxy = await c.proxy(`ws://127.0.0.1:${port}`, ro.proxied);
      }
      const r = await spawnReplica({ view: ro.view ?? c.vs.url, port, url: proxy?.url ?? ro.url, pingInterval: pingMs, env: { ...o.env, ...ro.env } });
      register(() => r.kill('SIGKILL'));
      const replica = Object.assign(r, { proxy });
      c.replicas.push(replica);
      return replica;
    },
    async proxy(target, name) {
      const p = await startFaultProxy({ target, name });
      register(() => p.close());
      return p;
    },
    async client(co = {}) {
      const s = await connect({ view: c.vs.url, timeoutMs: 5000, ...co });
      register(() => s.close());
      return s;
    },
  };
  await c.startVs();
  for (let i = 0; i < n; i++) {
    await c.startReplica();
    if (i === 0) await waitForView(c.vs, (v) => v.primary !== null && v.acked);
  }
  if (n >= 2) await waitForView(c.vs, (v) => v.primary !== null && v.backup !== null && v.acked);
  return c;
}

/** GET /digest of a replica (SPEC §5). */
export function digest(r: ReplicaProc): Promise<Digest> {
  return getJson<Digest>(`${r.http}/digest`);
}

/** Wait until primary and backup of the current, acknowledged view report the same digest and revision. */
export async function waitForEqualDigests(c: Cluster, timeoutMs = 10000): Promise<{ primary: Digest; backup: Digest }> {
  return waitFor('equal digests on primary and backup', async () => {
    const v = await waitForView(c.vs, (x) => x.primary !== null && x.backup !== null && x.acked);
    const [p, b] = await Promise.all([digest(c.byId(v.primary)), digest(c.byId(v.backup))]);
    return p.sha256 === b.sha256 && p.revision === b.revision ? { primary: p, backup: b } : undefined;
  }, timeoutMs, 50);
}
