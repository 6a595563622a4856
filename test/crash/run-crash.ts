/**
 * Whole-cluster crashes (SPEC §9, issue #11): a view service and two replicas with data dirs
 * (--fsync always) under load from clients that record every operation; each cycle kills -9
 * every process at once at a random moment, restarts them all from their data dirs, and goes
 * on. At the end: a read of every key (in the history too), the history checked for
 * linearizability across the restarts (acknowledged writes lost would show there), and the
 * primary's and backup's digests compared.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Store } from '../../client/node';
import { startCluster, waitForEqualDigests, type Cluster } from '../support/cluster';
import { freePort, waitForView, getJson, type ViewStatus } from '../support/processes';
import { pickInjection, crashEnv, wipe, diedAtPoint, type Injection, type InjectionCounts } from './inject';
import { powerLossEnv, powerCut } from '../support/power-loss-cut';
import { HistoryRecorder, checkHistory, type CheckResult } from '../support/linearizability';
import { mulberry32 } from '../support/random';
import { runCleanups, type Cleanup } from '../support/teardown';
import { sleep } from '../support/wait';

export interface CrashOptions { cycles: number; seed: number; clients?: number; keys?: number; /** Injected crash points in about half the cycles (inject.ts). @default true */ inject?: boolean;
  /** Replicas run under the power-loss preload; after each kill their data dirs lose what was not synced. @default false */ powerLoss?: boolean }
export interface CrashReport { seed: number; cycles: number; ok: number; unknown: number; check: CheckResult; digestsEqual: boolean; pass: boolean; injected: InjectionCounts; /** --power-loss: bytes and names the cuts dropped. */ cut: { bytes: number; names: number } }

export async function runCrash(o: CrashOptions): Promise<CrashReport> {
  const rand = mulberry32(o.seed);
  const cleanups: Cleanup[] = [];
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `understudy-crash-${o.seed}-`));
  cleanups.push(() => fs.rmSync(root, { recursive: true, force: true }));
  try {
    const env = (name: string) => ({ UNDERSTUDY_DATA_DIR: path.join(root, name), UNDERSTUDY_FSYNC: 'always' });
    const c = await startCluster(0, { teardown: { push: (f: Cleanup) => cleanups.push(f) }, viewEnv: env('view') });
    const ports = [await freePort(), await freePort()];
    const injected: InjectionCounts = {};
    const cut = { bytes: 0, names: 0 };
    const journal = (port: number): string => path.join(root, `r${port}.journal`);
    const plEnv = (port: number): Record<string, string> => (o.powerLoss ? powerLossEnv(journal(port)) : {});
    let armed: { inj: Injection; port: number } | null = null;
    const startReplicas = () => Promise.all(ports.map((port) => c.startReplica({ port, env: { ...env(`r${port}`), ...plEnv(port), ...(armed?.port === port ? crashEnv(armed.inj) : {}) } })));
    await startReplicas();
    await waitForView(c.vs, (v) => v.primary !== null && v.backup !== null && v.acked, 20_000);
    const rec = new HistoryRecorder(() => performance.now());
    const keys = o.keys ?? 5;
    let stop = false;
    const stores: Store[] = [];
    for (let i = 0; i < (o.clients ?? 4); i++) stores.push(await c.client({ timeoutMs: 2000 }));
    const workers = stores.map((s, i) => worker(s, i, o.seed, keys, rec, () => stop));
    for (let cycle = 0; cycle < o.cycles; cycle++) {
      const victim = armed === null ? null : [...c.replicas].reverse().find((r) => r.port === armed!.port) ?? null;
      const delay = sleep(100 + Math.floor(rand() * 500));
      // An armed replica gets up to 3 s to reach its point (it dies there by itself), then everything is killed.
      await (victim === null ? delay : Promise.race([victim.exited, sleep(3000)]));
      if (armed !== null && victim !== null) {
        const k = (injected[armed.inj.point] ??= { armed: 0, hit: 0 });
        k.armed++;
        if (diedAtPoint(victim.logs)) k.hit++;
      }
      const view = await getJson<ViewStatus>(`${c.vs.http}/view`).catch(() => null);
      await Promise.all([c.vs.kill('SIGKILL'), ...c.replicas.map((r) => r.kill('SIGKILL'))]);
      if (o.powerLoss) {
        for (const port of ports) {
          const d = powerCut(env(`r${port}`).UNDERSTUDY_DATA_DIR, journal(port));
          cut.bytes += d.bytes;
          cut.names += d.names;
        }
      }
      armed = null;
      // The last restart is never armed: the run ends with every process up, to check the digests.
      const inj = o.inject === false || cycle === o.cycles - 1 ? null : pickInjection(rand);
      if (inj !== null) armed = armVictim(inj, view, ports, rand, (port) => { wipe(env(`r${port}`).UNDERSTUDY_DATA_DIR); wipe(journal(port)); });
      await sleep(Math.floor(rand() * 100));
      await c.startVs();
      if (rand() < 0.5) ports.reverse(); // either replica may come back first
      const started = await startReplicas();
      // An armed transfer point may kill its replica before the view is acknowledged: then the next cycle goes on.
      const armedProc = armed === null ? null : started.find((r) => r.port === armed!.port);
      const acked = waitForView(c.vs, (v) => v.primary !== null && v.acked, 20_000);
      acked.catch(() => undefined); // (raced below: a rejection after the victim died is not unhandled)
      await Promise.race([acked, ...(armedProc ? [armedProc.exited] : [])]);
    }
    armed = null;
    await sleep(300);
    stop = true;
    await Promise.all(workers);
    const s = await c.client({ timeoutMs: 10_000 });
    for (let k = 0; k < keys; k++) {
      const id = rec.invoke('final', 'get', `k${k}`);
      rec.ok(id, await s.get(`k${k}`));
    }
    const digestsEqual = await waitForEqualDigests(c, 20_000).then(() => true, () => false);
    const history = rec.history();
    const check = checkHistory(history, { timeoutMsPerKey: 30_000 });
    const ok = history.filter((h) => h.status === 'ok').length;
    return { seed: o.seed, cycles: o.cycles, ok, unknown: history.filter((h) => h.status === 'unknown').length, check, digestsEqual, pass: check.verdict === 'ok' && digestsEqual, injected, cut };
  } finally {
    await runCleanups(cleanups);
  }
}

/**
 * Who is armed: any replica for the log points; for the transfer points, the backup of an
 * acknowledged view (wiped: a new server, so it takes a full transfer), or nobody when the
 * view had none (a wiped primary of an unacknowledged view could leave it stuck for good).
 */
function armVictim(inj: Injection, view: ViewStatus | null, ports: number[], rand: () => number, wipeDir: (port: number) => void): { inj: Injection; port: number } | null {
  if (inj.victim === 'any') return { inj, port: ports[Math.floor(rand() * ports.length)] };
  const backup = view?.acked ? view.backup : null;
  const port = backup === null || backup === undefined ? -1 : Number(new URL(backup).port);
  if (!ports.includes(port)) return null;
  wipeDir(port);
  return { inj, port };
}

async function worker(s: Store, c: number, seed: number, keys: number, rec: HistoryRecorder, stopped: () => boolean): Promise<void> {
  const r = mulberry32(seed * 1000 + c);
  for (let n = 0; !stopped(); n++) {
    const key = `k${Math.floor(r() * keys)}`;
    const x = r();
    const op = x < 0.3 ? 'get' : x < 0.6 ? 'put' : x < 0.9 ? 'append' : 'delete';
    const value = op === 'put' ? `c${c}.${n}` : op === 'append' ? `c${c}.${n};` : undefined;
    const id = rec.invoke(c, op, key, value);
    try {
      let out: string | null | number | boolean;
      if (op === 'get') out = await s.get(key);
      else if (op === 'put') { await s.put(key, value!); out = null; }
      else if (op === 'append') out = await s.append(key, value!);
      else out = await s.delete(key);
      rec.ok(id, out);
    } catch {
      rec.unknown(id);
      await sleep(50); // the cluster is down: do not spin
    }
  }
}

export function formatCrashReport(r: CrashReport): string {
  return `seed ${r.seed}: ${r.cycles} whole-cluster kill -9 cycles, ${r.ok} ok / ${r.unknown} unknown operations; ` +
    `linearizability ${r.check.verdict} (${Math.round(r.check.ms)} ms)${r.check.explanation ? `: ${r.check.explanation}` : ''}; digests equal: ${r.digestsEqual}; ` +
    `injected (hit/armed): ${Object.entries(r.injected).map(([p, k]) => `${p} ${k.hit}/${k.armed}`).join(', ') || 'none'}; ` +
    `${r.cut.bytes + r.cut.names > 0 ? `power cuts dropped ${r.cut.bytes} unsynced bytes and ${r.cut.names} unsynced names; ` : ''}${r.pass ? 'PASS' : 'FAIL'}`;
}
