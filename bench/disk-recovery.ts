/**
 * Recovery benchmark (SPEC §9, issue #11 target: 1M keys + 64 MiB of log recover to /readyz
 * in ≤ 5 s; disk use ≤ 3× the live data). Prints figures; asserts nothing about time.
 *
 *   TS_NODE_TRANSPILE_ONLY=true node -r ts-node/register bench/disk-recovery.ts [--keys 1000000] [--log-mib 64] [--dir DIR]
 *   (bench/disk.ts runs it too; needs `npx tsc -p tsconfig.json`: the replica runs from dist/)
 *
 *  1. build a data dir as a replica leaves it: a snapshot of `keys` keys of 100 B, written
 *     by the replica's own code (openSnapshot/writeSnapshot, a chunk per turn), the manifest
 *     naming it, then `log-mib` MiB of log after it (64-put fwd frames);
 *  2. disk use: the files' sizes against the live data (keys + values, in bytes);
 *  3. start a view service and `understudy replica --data-dir` on it: time to "listening"
 *     (recovery: read, check, install the snapshot, replay the log) and to /readyz 200.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { KvState } from '../server/replica/kv-state';
import { openSnapshot, writeSnapshot } from '../server/replica/snapshot-task';
import { recover, walStateFrom, Wal, installSnapshot, promisedFs, nodeDiskFs } from '../server/replica/disk';
import { spawn } from 'node:child_process';
import * as readline from 'node:readline';
import { spawnView, freePort, getJson, killAll } from '../test/support/processes';

const BIN = path.resolve(__dirname, '..', 'bin', 'understudy.js');

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

const VALUE = 'x'.repeat(100);
const MiB = 1024 * 1024;

export interface RecoveryFigures {
  keys: number;
  logMiB: number;
  liveBytes: number;
  diskBytes: number;
  snapshotBytes: number;
  buildMs: number;
  listenMs: number;
  readyMs: number;
  /** CPU time (user + system) of the replica process up to /readyz: what the load of other processes changes least. */
  cpuMs: number | null;
  loadAverage: number;
  /** CPU ms of a fixed reference task here and now (1M Map.set of fresh string keys): how slow this machine is at the moment. */
  calibrationMs: number;
  recoveredIndex: number;
}

/** The reference task: most of recovery is Map inserts of fresh strings (and JSON.parse). */
function calibrate(): number {
  const c0 = process.cpuUsage();
  const m = new Map<string, number>();
  for (let i = 0; i < 1_000_000; i++) m.set(`key:${i}`, i);
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000;
}

/** utime + stime of a process, in ms (Linux /proc; null elsewhere). */
function cpuMsOf(pid: number): number | null {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // clock ticks: 100 Hz on Linux
  } catch { return null; }
}

/** 1. A data dir holding a snapshot of `keys` keys and `logMiB` MiB of log after it. */
export async function buildDataDir(dir: string, id: string, keys: number, logMiB: number): Promise<{ liveBytes: number; snapshotBytes: number; lastIndex: number }> {
  const fresh = (): { id: string; incarnation: string; lineage: string } => ({ id, incarnation: 'bench', lineage: 'L' });
  const rec = await recover({ dir, fresh });
  const store = new KvState();
  let liveBytes = 0;
  for (let i = 0; i < keys; i++) {
    const key = `key:${i}`;
    store.apply({ type: 'req', client: 'seed', seq: i + 1, ack: i + 1, op: 'put', key, value: VALUE });
    liveBytes += key.length + VALUE.length;
  }
  const snap = await writeSnapshot(promisedFs(nodeDiskFs), dir, openSnapshot(store), () => false);
  await installSnapshot(promisedFs(nodeDiskFs), dir, rec.manifest, snap.file, snap.index, 1);
  const wal = new Wal({ dir, ...walStateFrom(rec), lastIndex: snap.index, fsync: 'no', onDurable: () => durable(), onError: (e) => { throw e; } });
  let durable: () => void = () => undefined;
  let index = snap.index + 1;
  let seq = 0;
  while (wal.stats.bytes < logMiB * MiB) {
    const written = new Promise<void>((r) => { durable = r; });
    for (let f = 0; f < 16; f++) {
      const ops = [];
      for (let k = 0; k < 64; k++) { seq++; ops.push(`{"type":"req","client":"load","seq":${seq},"ack":${seq},"op":"put","key":"key:${(seq * 7919) % keys}","value":"${VALUE}"}`); }
      wal.appendOps(index, 64, `{"type":"fwd","viewnum":1,"index":${index},"ops":[${ops.join(',')}]}`);
      index += 64;
    }
    await written;
  }
  await new Promise<void>((r) => wal.close(r));
  return { liveBytes, snapshotBytes: snap.bytes, lastIndex: index - 1 };
}

function diskUse(dir: string): number {
  return fs.readdirSync(dir).reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
}

/** Build, measure, start a replica on it; figures. */
export async function recoveryBench(base: string, keys: number, logMiB: number): Promise<RecoveryFigures> {
  const dir = fs.mkdtempSync(path.join(base, 'understudy-bench-recovery-'));
  try {
    const port = await freePort();
    const id = `ws://127.0.0.1:${port}`;
    const t0 = Date.now();
    const built = await buildDataDir(dir, id, keys, logMiB);
    const buildMs = Date.now() - t0;
    const diskBytes = diskUse(dir);
    const calibrationMs = calibrate();
    const vs = await spawnView({ pingInterval: 50 });
    const start = performance.now();
    // Spawned here, not by spawnReplica: recovering takes longer than its start-up timeout.
    const child = spawn(process.execPath, [BIN, 'replica', '--host', '127.0.0.1', '--port', String(port), '--view', vs.url, '--ping-interval', '50'], {
      stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, PORT: '', UNDERSTUDY_DATA_DIR: dir, LOG_LEVEL: 'info' },
    });
    const logs: string[] = [];
    readline.createInterface({ input: child.stdout! }).on('line', (l) => logs.push(l));
    const r = { pid: child.pid!, logs, http: `http://127.0.0.1:${port}` };
    let listenMs = 0;
    try {
      for (;;) {
        if (child.exitCode !== null) throw new Error(`the replica exited (${child.exitCode}):\n${logs.slice(-10).join('\n')}`);
        const ready = await getJson<{ ready: boolean }>(`${r.http}/readyz`).then((x) => x.ready, (e: Error) => (/503/.test(e.message) ? false : null));
        if (ready !== null && listenMs === 0) listenMs = performance.now() - start;
        if (ready === true) break;
        await new Promise((res) => setTimeout(res, 10));
      }
    } catch (err) { child.kill('SIGKILL'); throw err; }
    const readyMs = performance.now() - start;
    const cpuMs = cpuMsOf(r.pid);
    child.kill('SIGKILL');
    const line = r.logs.find((l) => l.includes('recovered the data dir'));
    const recoveredIndex = line === undefined ? -1 : (JSON.parse(line) as { index: number }).index;
    if (recoveredIndex !== built.lastIndex) throw new Error(`recovered index ${recoveredIndex}, expected ${built.lastIndex}`);
    return { keys, logMiB, liveBytes: built.liveBytes, diskBytes, snapshotBytes: built.snapshotBytes, buildMs, listenMs, readyMs, cpuMs, loadAverage: os.loadavg()[0], calibrationMs, recoveredIndex };
  } finally {
    await killAll();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function formatRecovery(f: RecoveryFigures): string {
  const mib = (n: number): string => `${(n / MiB).toFixed(1)} MiB`;
  return `recovery of ${f.keys.toLocaleString('en-US')} keys + ${f.logMiB} MiB of log: listening after ${(f.listenMs / 1000).toFixed(2)} s, /readyz after ${(f.readyMs / 1000).toFixed(2)} s ` +
    `(replica CPU ${f.cpuMs === null ? '?' : (f.cpuMs / 1000).toFixed(2)} s; load average ${f.loadAverage.toFixed(1)}, 1M Map.set takes ${Math.round(f.calibrationMs)} ms CPU here now); ` +
    `disk ${mib(f.diskBytes)} (snapshot ${mib(f.snapshotBytes)}) = ${(f.diskBytes / f.liveBytes).toFixed(2)}× the live data (${mib(f.liveBytes)})`;
}

if (require.main === module) {
  const keys = Number(arg('--keys', '1000000'));
  const logMiB = Number(arg('--log-mib', '64'));
  recoveryBench(arg('--dir', os.tmpdir()), keys, logMiB)
    .then((f) => { console.log(formatRecovery(f)); process.exit(0); })
    .catch((err) => { console.error(err); process.exit(1); });
}
