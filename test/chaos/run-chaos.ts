/**
 * The Jepsen-style harness (issue #3): a real cluster (view service + 3 replicas as
 * processes), a fault-injecting proxy on every link, concurrent clients doing random
 * get/put/append/delete with unique values, a nemesis following a seeded schedule, then
 * heal, check recovery, and check the whole history for linearizability.
 *
 *   client c ──proxy client-vs[c]──▶ view service ◀──proxy replica-vs[i]── replica i
 *   client c ─────────────proxy to-replica[i]──────────────────────────────▶ replica i
 *   primary  ─────────────proxy to-replica[backup]─────────────────────────▶ backup
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { connect } from '../../client/node';
import type { Store } from '../../client/store';
import { startFaultProxy, FaultProxy, seededRandom } from '../support/fault-proxy';
import { HistoryRecorder, checkHistory, writeHistory, CheckResult } from '../support/linearizability';
import { spawnView, spawnReplica, freePort, getJson, killAll, ViewProc, ReplicaProc, ViewStatus, Digest } from '../support/processes';
import { waitFor } from '../support/wait';
import { makeSchedule, describeFault, Fault, Role, ScheduledFault } from './schedule';
import { appOp } from './app-ops';
import { isRevisioned } from '../support/linearizability-rev';
import { EtcdViews, type EtcdChaosCounts } from './etcd-nemesis';
import { DurableNemesis } from './durable-nemesis';

export interface ChaosOptions {
  seconds: number;
  seed: number;
  clients: number;
  keys: number;
  unsafe: boolean;
  pingInterval: number;
  deadPings: number;
  timeoutMs: number;
  /**
   * Most operations a client starts per second (0: as fast as it can). Bounded so that a
   * 60 s history stays checkable in seconds: the checker's work grows with the number of
   * operations per key, while the faults find bugs through timing, not volume.
   */
  rate: number;
  /**
   * Filler keys (100 B each) written before the workload starts, so that every state
   * transfer streams many chunks while the workload's keys (created after them, so sent
   * last or pulled ahead of a write) keep changing. Checked by the digests. @default 0
   */
  preload: number;
  /** Share of operations that are SPEC §10's (getEntry, conditional writes, atomic commits: app-ops.ts). @default 0.2 */
  appOps: number;
  /** Three view services on a 3-member etcd, and the etcd nemesis beside this one (etcd-nemesis.ts). */
  etcd: boolean;
  /** Data dirs everywhere, and whole-cluster kill -9 and restart (durable-nemesis.ts). @default false */
  durable: boolean;
  /** Where a violating history is written. */
  outDir: string;
  log: (line: string) => void;
}

export const CHAOS_DEFAULTS: ChaosOptions = {
  seconds: 60, seed: 1, clients: 8, keys: 5, unsafe: false, pingInterval: 50, deadPings: 5, timeoutMs: 4000, rate: 250, preload: 0, appOps: 0.2, etcd: false, durable: false,
  outDir: 'chaos-histories', log: (l) => process.stdout.write(l + '\n'),
};

export interface ChaosReport {
  seed: number;
  seconds: number;
  ok: number;
  failed: number;
  indeterminate: number;
  /** Of the ok operations, those of SPEC §10 (getEntry, conditional writes, atomic commits). */
  appOk: number;
  failovers: number;
  viewChanges: number;
  faults: number;
  longestUnavailabilityMs: number;
  recovered: boolean;
  digestsEqual: boolean;
  check: CheckResult;
  linearizable: boolean;
  historyFile?: string;
  /** With --etcd: the etcd nemesis's faults and the view key's history check. */
  etcd?: EtcdChaosCounts;
}

interface Node {
  index: number;
  port: number;
  toReplica: FaultProxy;
  toVs: FaultProxy;
  proc: ReplicaProc | null;
  paused: boolean;
  /** --durable: its data dir. */
  env?: Record<string, string>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runChaos(partial: Partial<ChaosOptions> = {}): Promise<ChaosReport> {
  const o: ChaosOptions = { ...CHAOS_DEFAULTS, ...partial };
  const log = o.log;
  const schedule = makeSchedule({ seed: o.seed, seconds: o.seconds, clients: o.clients, unsafe: o.unsafe });
  const pickRandom = seededRandom(o.seed ^ 0x5eed);
  const proxies: FaultProxy[] = [];
  const stores: Store[] = [];
  const nodes: Node[] = [];
  let vs: ViewProc | null = null;
  let poller: NodeJS.Timeout | null = null;
  let ha: EtcdViews | null = null;
  if (o.etcd && o.durable) throw new Error('--etcd and --durable are separate nemeses: pick one');
  const dn = o.durable ? await DurableNemesis.create(o.seed, o.pingInterval, o.deadPings) : null;
  try {
    ha = o.etcd ? await EtcdViews.start(o) : null;
    vs = ha ? ha.any : dn ? await dn.spawnView() : await spawnView({ pingInterval: o.pingInterval, deadPings: o.deadPings });
    const proxy = async (target: string, name: string) => {
      const p = await startFaultProxy({ target, name, random: seededRandom(o.seed + proxies.length + 1) });
      proxies.push(p);
      return p;
    };
    const vsProxy = (name: string) => (ha ? ha.proxyGroup(proxy, name) : proxy(vs!.url, name));
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const node: Node = { index: i, port, toReplica: await proxy(`ws://127.0.0.1:${port}`, `to-replica-${i}`), toVs: await vsProxy(`replica-vs-${i}`), proc: null, paused: false, env: dn?.replicaEnv(i) };
      nodes.push(node);
      await startNode(node, o, vs);
    }
    const viewNow = () => (ha ? ha.viewNow() : getJson<ViewStatus>(`${vs!.http}/view`, 1000));
    await waitFor('initial view', async () => { const v = await viewNow(); return v.primary && v.backup && v.acked; }, 15000, 50);

    // Watch the view directly (no proxy) to count failovers.
    let lastView: ViewStatus | null = null;
    let failovers = 0;
    let viewChanges = 0;
    poller = setInterval(() => {
      viewNow().then((v) => {
        if (lastView && v.viewnum !== lastView.viewnum) {
          viewChanges += v.viewnum - lastView.viewnum;
          if (v.primary !== lastView.primary) failovers++;
        }
        lastView = v;
      }, () => {});
    }, 50);

    const clientVs: FaultProxy[] = [];
    for (let c = 0; c < o.clients; c++) clientVs.push(await vsProxy(`client-vs-${c}`));
    for (let c = 0; c < o.clients; c++) stores.push(await connect({ view: clientVs[c].url.split(','), timeoutMs: o.timeoutMs }));
    for (let base = 0; base < o.preload; base += 1000) {
      const n = Math.min(1000, o.preload - base);
      await Promise.all(Array.from({ length: n }, (_, i) => stores[0].put(`fill:${base + i}`, `f${base + i}`.padEnd(100, '.'), { timeoutMs: 30_000 })));
    }
    if (o.preload > 0) log(`  preloaded ${o.preload} filler keys`);

    const rec = new HistoryRecorder(() => performance.now());
    let stop = false;
    const completions: number[] = [];
    const workers = stores.map((s, c) => worker(s, c, o, rec, () => stop, completions));
    const crashes = dn?.run({ nodes, vs: () => vs!, setVs: (v) => { vs = v; }, startNode: (n) => startNode(n as Node, o, vs!), stopped: () => stop, log, t0: Date.now() });

    // The nemesis (and with --etcd the etcd nemesis beside it).
    const haNemesis = ha?.nemesis({ seed: o.seed, seconds: o.seconds, log });
    const t0 = Date.now();
    const undo: Promise<void>[] = [];
    for (const sf of schedule) {
      const wait = t0 + sf.atMs - Date.now();
      if (wait > 0) await sleep(wait);
      if (!sf.overlaps) {
        await Promise.all(undo.splice(0));
        if (!o.unsafe) await waitFor('recovery between faults', async () => { const v = await viewNow(); return v.primary && v.backup && v.acked; }, 10000, 50).catch(() => {});
      }
      const v = await viewNow().catch(() => null);
      log(`  t=${((Date.now() - t0) / 1000).toFixed(1)}s view ${v?.viewnum ?? '?'}: ${describeFault(sf.fault)}`);
      undo.push(applyFault(sf, v, nodes, clientVs, o, vs, pickRandom, log));
    }
    const left = t0 + o.seconds * 1000 - Date.now();
    if (left > 0) await sleep(left);
    stop = true;
    await Promise.all(workers);
    await Promise.all(undo);
    await haNemesis;
    await crashes;
    if (dn) log(`  durable nemesis: ${dn.crashes} whole-cluster kill -9 and restarts`);

    // Heal everything and check recovery: every client completes a final read of every key.
    for (const p of proxies) p.heal();
    for (const n of nodes) {
      if (n.paused && n.proc) { process.kill(n.proc.pid, 'SIGCONT'); n.paused = false; }
      if (!n.proc) await startNode(n, o, vs);
    }
    const healedAt = Date.now();
    let recovered = await waitFor('recovery', async () => { const v = await viewNow(); return v.primary && v.backup && v.acked; }, 20000, 50).then(() => true, () => false);
    const finals = await Promise.all(stores.map(async (s, c) => {
      let ok = true;
      for (let k = 0; k < o.keys; k++) {
        const id = rec.invoke(c, 'get', `k${k}`);
        try {
          rec.ok(id, await s.get(`k${k}`, { timeoutMs: 15000 }));
        } catch (e) {
          rec.unknown(id);
          ok = false;
          log(`  final get k${k} by client ${c} failed: ${(e as { code?: string }).code ?? e} (client view ${JSON.stringify(s.view)}, link ${s.status})`);
        }
      }
      return ok;
    }));
    recovered = recovered && finals.every(Boolean);
    log(`  healed; recovered in ${Date.now() - healedAt} ms: ${recovered}`);

    let digestsEqual = false;
    try {
      const v = await viewNow();
      const byId = (id: string | null) => nodes.find((n) => n.toReplica.url === id);
      const [p, b] = await Promise.all([v.primary, v.backup].map((id) => getJson<Digest>(`http://127.0.0.1:${byId(id)!.port}/digest`)));
      digestsEqual = p.sha256 === b.sha256;
    } catch { /* reported as false */ }

    const history = rec.history();
    const check = checkHistory(history, { timeoutMsPerKey: 30000 });
    const report: ChaosReport = {
      seed: o.seed,
      seconds: o.seconds,
      ok: history.filter((h) => h.status === 'ok').length,
      failed: history.filter((h) => h.status === 'fail').length,
      indeterminate: history.filter((h) => h.status === 'unknown').length,
      appOk: history.filter((h) => h.status === 'ok' && isRevisioned(h)).length,
      failovers,
      viewChanges,
      faults: schedule.length,
      longestUnavailabilityMs: longestGap(completions, t0, t0 + o.seconds * 1000),
      recovered,
      digestsEqual,
      check,
      linearizable: check.verdict === 'ok',
      ...(ha ? { etcd: ha.counts } : {}),
    };
    if (ha && !(await ha.checkHistory(recovered ? undefined : log))) report.recovered = false;
    if (check.verdict !== 'ok') {
      fs.mkdirSync(o.outDir, { recursive: true });
      report.historyFile = path.join(o.outDir, `seed-${o.seed}.json`);
      writeHistory(history, report.historyFile);
      if (check.explanation) log(check.explanation);
    }
    return report;
  } finally {
    if (poller) clearInterval(poller);
    for (const n of nodes) if (n.paused && n.proc) { try { process.kill(n.proc.pid, 'SIGCONT'); } catch { /* gone */ } }
    await Promise.all(stores.map((s) => s.close().catch(() => {})));
    await Promise.all(proxies.map((p) => p.close()));
    await killAll();
    await ha?.stop();
    dn?.cleanup();
  }
}

async function startNode(n: Node, o: ChaosOptions, vs: ViewProc): Promise<void> {
  n.proc = await spawnReplica({ view: n.toVs.url, port: n.port, url: n.toReplica.url, pingInterval: o.pingInterval, env: n.env });
  void vs;
}

function resolveRole(role: Role, v: ViewStatus | null, nodes: Node[], r: () => number): Node {
  const byId = (id: string | null) => nodes.find((n) => n.toReplica.url === id);
  if (role === 'primary' && byId(v?.primary ?? null)) return byId(v!.primary)!;
  if (role === 'backup' && byId(v?.backup ?? null)) return byId(v!.backup)!;
  if (role === 'idle') {
    const idle = nodes.filter((n) => n.toReplica.url !== v?.primary && n.toReplica.url !== v?.backup);
    if (idle.length) return idle[Math.floor(r() * idle.length)];
  }
  return nodes[Math.floor(r() * nodes.length)];
}

async function applyFault(sf: ScheduledFault, v: ViewStatus | null, nodes: Node[], clientVs: FaultProxy[], o: ChaosOptions, vs: ViewProc, r: () => number, log: (l: string) => void): Promise<void> {
  const f: Fault = sf.fault;
  if (f.kind === 'restart-vs-links') {
    for (const n of nodes) n.toVs.closeAll();
    for (const p of clientVs) p.closeAll();
    return;
  }
  const node = resolveRole(f.role, v, nodes, r);
  if (f.kind === 'kill') {
    if (!node.proc || node.paused) return;
    await node.proc.kill('SIGKILL');
    node.proc = null;
    await sleep(f.downMs);
    await startNode(node, o, vs).catch((e) => log(`  restart failed: ${e}`));
    return;
  }
  if (f.kind === 'pause') {
    if (!node.proc || node.paused) return;
    process.kill(node.proc.pid, 'SIGSTOP');
    node.paused = true;
    await sleep(f.downMs);
    if (node.proc && node.paused) process.kill(node.proc.pid, 'SIGCONT');
    node.paused = false;
    return;
  }
  const proxy = f.link === 'client-vs' ? clientVs[f.client % clientVs.length] : f.link === 'replica-vs' ? node.toVs : node.toReplica;
  switch (f.kind) {
    case 'cut': proxy.cut(); break;
    case 'blackhole': proxy.blackhole(f.direction); break;
    case 'delay': proxy.delay({ fixedMs: f.fixedMs, randomMs: f.randomMs }); break;
    case 'flaky': proxy.flaky({ closeProbabilityPerMessage: f.p }); break;
    case 'slow': proxy.slow({ bytesPerSecond: f.bytesPerSecond }); break;
  }
  await sleep(f.downMs);
  proxy.heal();
}

async function worker(s: Store, c: number, o: ChaosOptions, rec: HistoryRecorder, stopped: () => boolean, completions: number[]): Promise<void> {
  const r = seededRandom(o.seed * 1000 + c);
  const start = Date.now();
  const seen = new Map<string, number>();
  for (let n = 0; !stopped(); n++) {
    if (o.rate > 0) {
      const due = start + (n * 1000) / o.rate - Date.now();
      if (due > 0) await new Promise((res) => setTimeout(res, due));
      if (stopped()) break;
    }
    if (o.appOps > 0 && r() < o.appOps) {
      if (await appOp(s, c, n, r, rec, seen)) completions.push(Date.now());
      continue;
    }
    const key = `k${Math.floor(r() * o.keys)}`;
    const x = r();
    const op = x < 0.4 ? 'get' : x < 0.65 ? 'put' : x < 0.9 ? 'append' : 'delete';
    const value = op === 'put' ? `c${c}.${n}` : op === 'append' ? `c${c}.${n};` : undefined;
    const id = rec.invoke(c, op, key, value);
    try {
      let out: string | null | number | boolean;
      if (op === 'get') out = await s.get(key);
      else if (op === 'put') { await s.put(key, value!); out = null; }
      else if (op === 'append') out = await s.append(key, value!);
      else out = await s.delete(key);
      rec.ok(id, out);
      completions.push(Date.now());
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'BAD_REQUEST' || code === 'TOO_LARGE') rec.fail(id);
      else rec.unknown(id);
    }
  }
}

/** The longest interval in [from, to] in which no client completed an operation. */
export function longestGap(times: number[], from: number, to: number): number {
  const ts = times.filter((t) => t >= from && t <= to).sort((a, b) => a - b);
  let prev = from;
  let max = 0;
  for (const t of ts) { max = Math.max(max, t - prev); prev = t; }
  return Math.max(max, to - prev);
}

export function formatReport(r: ChaosReport): string {
  return [
    `seed ${r.seed}, ${r.seconds} s: ${r.faults} faults, ${r.viewChanges} view changes, ${r.failovers} failovers`,
    `operations: ${r.ok} ok (${r.appOk} of them getEntry, conditional or atomic), ${r.failed} failed, ${r.indeterminate} indeterminate`,
    `longest client-observed unavailability: ${r.longestUnavailabilityMs} ms`,
    `recovered: ${r.recovered}; primary/backup digests equal: ${r.digestsEqual}`,
    ...(r.etcd ? [`etcd nemesis: ${r.etcd.leaderKills} leader kills, ${r.etcd.followerKills} follower kills, ${r.etcd.leaderPauses} leader pauses, ${r.etcd.memberKills} etcd member kills; view key history: ${r.etcd.historyError ?? `${r.etcd.historyEntries} entries, SPEC §2 holds`}`] : []),
    `linearizability: ${r.check.verdict} (checked in ${Math.round(r.check.ms)} ms)${r.historyFile ? `; history written to ${r.historyFile}` : ''}`,
    `verdict: ${r.linearizable && r.recovered ? 'PASS' : 'FAIL'}`,
  ].join('\n');
}
