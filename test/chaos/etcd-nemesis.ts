/**
 * `npm run chaos -- --etcd` (issue #14, SPEC §12): the chaos cluster's view service becomes
 * three `understudy view --etcd` instances on a 3-member etcd, and a second nemesis, beside
 * the replica and link faults of schedule.ts, kills view-service instances (the leader most
 * often), pauses the leader past its lease, and kills etcd members — one fault at a time,
 * from its own seeded schedule, so the same seed gives the same run.
 *
 * Replicas and clients are given every instance, each through its own fault proxy (a
 * ProxyGroup: the link faults of schedule.ts hit all of a replica's or client's links to the
 * view service at once). The proxies' URLs are not what the instances advertise, so the
 * leader hint is read as "not here" and replicas and clients find the leader by walking their
 * list (docs/PROTOCOL.md §1.1): the path a PaaS router gives them too.
 *
 * At the end every instance and member runs again, and the view key's history in etcd is
 * checked (strictly increasing view numbers, view i+1 after the acknowledgement of view i,
 * no term writing after a later one began: test/support/etcd.ts checkHistory).
 */
import type { FaultProxy } from '../support/fault-proxy';
import { seededRandom } from '../support/fault-proxy';
import { spawnView, freePort, getJson, type ViewProc, type ViewStatus } from '../support/processes';
import { startEtcd, stopAllEtcd, checkHistory, type EtcdCluster } from '../support/etcd';

/** etcd's practical minimum: takeovers are as fast as they get. */
const LEASE_TTL_S = 2;

export interface EtcdChaosCounts {
  leaderKills: number;
  followerKills: number;
  leaderPauses: number;
  memberKills: number;
  /** Entries of the view key's history in etcd, all checked (0 until checked). */
  historyEntries: number;
  /** The check's failure, if any. */
  historyError?: string;
}

type HaStatus = ViewStatus & { role?: 'leader' | 'follower' };

type EtcdFault =
  | { kind: 'kill-leader' | 'kill-follower'; downMs: number }
  | { kind: 'pause-leader'; downMs: number }
  | { kind: 'kill-member'; member: number; downMs: number };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class EtcdViews {
  readonly counts: EtcdChaosCounts = { leaderKills: 0, followerKills: 0, leaderPauses: 0, memberKills: 0, historyEntries: 0 };
  private readonly paused = new Set<number>();
  private stopped = false;

  private constructor(readonly etcd: EtcdCluster, private readonly ports: number[], private readonly procs: (ViewProc | null)[],
    private readonly o: { pingInterval: number; deadPings: number }, private readonly prefix: string) {}

  /** A 3-member etcd and three instances on fixed ports (a killed one comes back on its port). */
  static async start(o: { pingInterval: number; deadPings: number }): Promise<EtcdViews> {
    const etcd = await startEtcd({ size: 3 });
    const ports = [await freePort(), await freePort(), await freePort()];
    const views = new EtcdViews(etcd, ports, [null, null, null], o, '/understudy/chaos');
    for (let i = 0; i < 3; i++) await views.startInstance(i);
    return views;
  }

  /** One live instance, for what only needs a ViewProc-shaped value (the first that runs). */
  get any(): ViewProc {
    return this.procs.find((p) => p !== null) as ViewProc;
  }

  private async startInstance(i: number): Promise<void> {
    this.procs[i] = await spawnView({
      port: this.ports[i], pingInterval: this.o.pingInterval, deadPings: this.o.deadPings,
      env: { UNDERSTUDY_ETCD: this.etcd.endpoints, UNDERSTUDY_ETCD_PREFIX: this.prefix, UNDERSTUDY_LEASE_TTL: String(LEASE_TTL_S) },
    });
  }

  /** GET /view of the instance that leads (the newest view if two briefly say so), else of any that answers. */
  async viewNow(): Promise<ViewStatus> {
    const all = await Promise.all(this.ports.map((p, i) => (this.paused.has(i) ? null
      : getJson<HaStatus>(`http://127.0.0.1:${p}/view`, 500).catch(() => null))));
    const answered = all.filter((s): s is HaStatus => s !== null);
    const leaders = answered.filter((s) => s.role === 'leader').sort((a, b) => b.viewnum - a.viewnum);
    const best = leaders[0] ?? answered.sort((a, b) => b.viewnum - a.viewnum)[0];
    if (best === undefined) throw new Error('no view-service instance answers');
    return best;
  }

  /** One proxy per instance, faults on all at once; `url` is the comma-joined list (a replica's --view). */
  async proxyGroup(make: (target: string, name: string) => Promise<FaultProxy>, name: string): Promise<FaultProxy> {
    const ps: FaultProxy[] = [];
    for (let i = 0; i < this.ports.length; i++) ps.push(await make(`ws://127.0.0.1:${this.ports[i]}`, `${name}-${i}`));
    return proxyGroup(ps, name);
  }

  /** The etcd nemesis: seeded faults, one at a time, until `seconds` are over; everything runs again at the end. */
  async nemesis(o: { seed: number; seconds: number; log: (l: string) => void }): Promise<void> {
    const r = seededRandom(o.seed ^ 0xe7cd);
    const between = (a: number, b: number) => Math.round(a + r() * (b - a));
    const t0 = Date.now();
    const end = o.seconds * 1000 - 3000;
    let t = between(1500, 3000);
    while (t < end && !this.stopped) {
      const k = r();
      const downMs = between(300, 3500);
      const fault: EtcdFault = k < 0.4 ? { kind: 'kill-leader', downMs } : k < 0.55 ? { kind: 'kill-follower', downMs }
        : k < 0.7 ? { kind: 'pause-leader', downMs: between(1000, 4000) } : { kind: 'kill-member', member: Math.floor(r() * 3), downMs: between(500, 4000) };
      const wait = t0 + t - Date.now();
      if (wait > 0) await sleep(wait);
      if (this.stopped) break;
      o.log(`  t=${((Date.now() - t0) / 1000).toFixed(1)}s etcd nemesis: ${describe(fault)}`);
      await this.apply(fault).catch((e) => o.log(`  etcd nemesis: ${String(e)}`));
      t = Math.max(t + fault.downMs, Date.now() - t0) + between(1000, 3000);
    }
    await this.heal();
  }

  private async apply(f: EtcdFault): Promise<void> {
    if (f.kind === 'kill-member') {
      const m = this.etcd.members[f.member];
      this.counts.memberKills++;
      await m.kill();
      await sleep(f.downMs);
      await m.restart(true);
      return;
    }
    const i = await this.pick(f.kind === 'kill-follower' ? 'follower' : 'leader');
    const p = i === null ? null : this.procs[i];
    if (i === null || p === null) return;
    if (f.kind === 'pause-leader') {
      this.counts.leaderPauses++;
      process.kill(p.pid, 'SIGSTOP');
      this.paused.add(i);
      await sleep(f.downMs);
      process.kill(p.pid, 'SIGCONT');
      this.paused.delete(i);
      return;
    }
    if (f.kind === 'kill-leader') this.counts.leaderKills++;
    else this.counts.followerKills++;
    await p.kill('SIGKILL');
    this.procs[i] = null;
    await sleep(f.downMs);
    await this.startInstance(i);
  }

  /** The index of a running instance with that role now (a follower: any non-leader), or null. */
  private async pick(role: 'leader' | 'follower'): Promise<number | null> {
    const roles = await Promise.all(this.ports.map((port, i) => (this.procs[i] === null ? null
      : getJson<HaStatus>(`http://127.0.0.1:${port}/view`, 500).then((s) => s.role ?? null, () => null))));
    const i = roles.findIndex((x, j) => this.procs[j] !== null && (role === 'leader' ? x === 'leader' : x !== 'leader'));
    return i < 0 ? null : i;
  }

  /** Every member and instance running, none paused. */
  async heal(): Promise<void> {
    for (const i of this.paused) { const p = this.procs[i]; if (p) process.kill(p.pid, 'SIGCONT'); }
    this.paused.clear();
    await Promise.all(this.etcd.members.filter((m) => m.pid() === null).map((m) => m.restart(true)));
    for (let i = 0; i < this.procs.length; i++) if (this.procs[i] === null) await this.startInstance(i);
  }

  /**
   * SPEC §2 on the view key's history in etcd; the result goes into counts. With `diagnose`
   * (the cluster did not recover), each instance's role and last etcd-related log lines too.
   */
  async checkHistory(diagnose?: (l: string) => void): Promise<boolean> {
    if (diagnose) await this.diagnose(diagnose);
    try {
      this.counts.historyEntries = await checkHistory(this.etcd, this.prefix);
      return true;
    } catch (err) {
      this.counts.historyError = (err as Error).message;
      return false;
    }
  }

  private async diagnose(log: (l: string) => void): Promise<void> {
    for (let i = 0; i < this.procs.length; i++) {
      const p = this.procs[i];
      const s = await getJson<HaStatus & { leader?: string | null }>(`http://127.0.0.1:${this.ports[i]}/view`, 1000).catch((e: Error) => e.message);
      log(`  instance ${i} (:${this.ports[i]}): ${typeof s === 'string' ? s : JSON.stringify({ role: s.role, leader: s.leader, viewnum: s.viewnum, acked: s.acked, primary: s.primary, backup: s.backup, servers: s.servers })}`);
      for (const l of (p?.logs ?? []).filter((x) => /etcd|lead|commit/.test(x)).slice(-8)) log(`    ${l.slice(0, 300)}`);
    }
    for (const m of this.etcd.members) log(`  etcd ${m.name}: pid ${m.pid()}; ${m.logs.slice(-2).join(' | ').slice(0, 300)}`);
  }

  /** Stop the nemesis; the instances are killed by processes.ts killAll, the members here. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const i of this.paused) { const p = this.procs[i]; if (p) { try { process.kill(p.pid, 'SIGCONT'); } catch { /* gone */ } } }
    await this.etcd.stop().catch(() => undefined);
    await stopAllEtcd();
  }
}

function describe(f: EtcdFault): string {
  switch (f.kind) {
    case 'kill-leader': return `kill -9 the leading view service, restart after ${f.downMs} ms`;
    case 'kill-follower': return `kill -9 a following view service, restart after ${f.downMs} ms`;
    case 'pause-leader': return `SIGSTOP the leading view service for ${f.downMs} ms (lease ${LEASE_TTL_S} s)`;
    case 'kill-member': return `kill -9 etcd member m${f.member}, restart after ${f.downMs} ms`;
  }
}

/** Several proxies as one: every fault on all of them; `url` is their URLs, comma-separated. */
function proxyGroup(ps: FaultProxy[], name: string): FaultProxy {
  const all = <A extends unknown[]>(f: (p: FaultProxy, ...a: A) => void) => (...a: A): void => { for (const p of ps) f(p, ...a); };
  return {
    url: ps.map((p) => p.url).join(','),
    port: ps[0].port,
    name,
    target: ps.map((p) => p.target).join(','),
    close: async () => { await Promise.all(ps.map((p) => p.close())); },
    stats: () => ps[0].stats(),
    faults: () => ps[0].faults(),
    cut: all((p, ms?: number) => p.cut(ms)),
    blackhole: all((p, d) => p.blackhole(d)),
    delay: all((p, o) => p.delay(o)),
    hold: all((p, d) => p.hold(d)),
    release: all((p, d?) => p.release(d)),
    flaky: all((p, o) => p.flaky(o)),
    slow: all((p, o) => p.slow(o)),
    heal: all((p) => p.heal()),
    links: () => ps.reduce((n, p) => n + p.links(), 0),
    closeAll: (code?: number) => ps.reduce((n, p) => n + p.closeAll(code), 0),
  };
}
