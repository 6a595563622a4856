/**
 * Durability with real processes, continued (SPEC §9, issue #11): `--fsync everysec|no`,
 * and kill -9 in the middle of a background snapshot. kill -9 keeps the page cache, so
 * every acknowledged write comes back under every policy; what `always` adds (surviving a
 * power cut) is the power-loss shim's to show (test/unit/disk-*.test.ts).
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort, waitForView, getJson } from '../support/processes';
import { startCluster, waitForEqualDigests, type Cluster, type ClusterReplica } from '../support/cluster';
import { teardownAfterEach } from '../support/teardown';
import { waitFor, sleep } from '../support/wait';

function tempDir(teardown: { push(c: () => unknown): void }, name: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `understudy-${name}-`));
  teardown.push(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

/** A metric's value (summed over its labels) from a replica's /metrics. */
async function metric(r: ClusterReplica, name: string): Promise<number> {
  const res = await fetch(`${r.http}/metrics`);
  const text = await res.text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

interface Pair { c: Cluster; dirs: string[]; ports: number[]; reps: ClusterReplica[]; env: (i: number) => Record<string, string> }

/** A view service and a primary/backup pair with data dirs, acknowledged. */
async function durablePair(teardown: { push(c: () => unknown): void }, extra: Record<string, string>): Promise<Pair> {
  const vsDir = tempDir(teardown, 'vs');
  const c = await startCluster(0, { teardown, viewEnv: { UNDERSTUDY_DATA_DIR: vsDir } });
  const dirs = [tempDir(teardown, 'a'), tempDir(teardown, 'b')];
  const ports = [await freePort(), await freePort()];
  const env = (i: number): Record<string, string> => ({ UNDERSTUDY_DATA_DIR: dirs[i], ...extra });
  const reps = [await c.startReplica({ port: ports[0], env: env(0) })];
  await waitForView(c.vs, (v) => v.primary !== null && v.acked);
  reps.push(await c.startReplica({ port: ports[1], env: env(1) }));
  await waitForView(c.vs, (v) => v.backup !== null && v.acked);
  return { c, dirs, ports, reps, env };
}

interface Writes { acked: Map<string, string>; inFlight: Map<string, string>; stop: () => Promise<void> }

/**
 * Writers putting `valueBytes`-sized values over `keys` keys until stopped, each over its
 * own keys (so a key's last acknowledged value is its value); the acknowledged ones and
 * the one in flight per writer (it may or may not have taken effect) are recorded.
 */
function writers(c: Cluster, n: number, valueBytes: number, keys: number): Writes {
  const acked = new Map<string, string>();
  const inFlight = new Map<string, string>();
  let stopped = false;
  const one = async (w: number): Promise<void> => {
    const s = await c.client({ timeoutMs: 3000 });
    for (let i = 0; !stopped; i++) {
      const k = `w${w}-${i % Math.ceil(keys / n)}`;
      const v = `${w}:${i}:`.padEnd(valueBytes, 'x');
      inFlight.set(k, v);
      try {
        await s.put(k, v);
        if (!stopped) acked.set(k, v);
      } catch { return; }
    }
  };
  const all = Array.from({ length: n }, (_, w) => one(w));
  return { acked, inFlight, stop: async () => { stopped = true; await Promise.all(all); } };
}

/** kill -9 every process, restart them all from their dirs: every write acknowledged before the kill reads back. */
async function killAllAndCheck(p: Pair, w: Writes): Promise<void> {
  const kept = new Map(w.acked);
  await Promise.all([p.c.vs.kill('SIGKILL'), ...p.reps.map((r) => r.kill('SIGKILL'))]);
  const inFlight = new Map(w.inFlight); // as of the kill: at most these were unacknowledged
  await w.stop();
  await p.c.startVs();
  p.reps = await Promise.all(p.ports.map((port, i) => p.c.startReplica({ port, env: p.env(i) })));
  await waitForEqualDigests(p.c, 30_000);
  const s = await p.c.client({ timeoutMs: 5000 });
  const lost: string[] = [];
  for (const [k, v] of kept) {
    const now = await s.get(k);
    if (now !== v && now !== inFlight.get(k)) lost.push(k);
  }
  expect(lost, `${lost.length} of ${kept.size} acknowledged writes lost`).to.deep.equal([]);
}

describe('e2e: durable replicas, fsync policies and snapshots (SPEC §9)', function () {
  this.timeout(120_000);
  const teardown = teardownAfterEach();

  for (const mode of ['everysec', 'no'] as const) {
    it(`--fsync ${mode}: serves, ${mode === 'everysec' ? 'fdatasyncs at most once a second (not per batch)' : 'never fdatasyncs the log'}, and a kill -9 of every process loses no acknowledged write (the page cache keeps it) (SPEC §9)`, async () => {
      const p = await durablePair(teardown, { UNDERSTUDY_FSYNC: mode });
      const since = Date.now();
      const before = await Promise.all(p.reps.map((r) => metric(r, 'understudy_fsync_duration_seconds_count')));
      const w = writers(p.c, 8, 100, 5000);
      await waitFor('writes acknowledged', () => (w.acked.size >= 500 ? true : undefined), 30_000, 20);
      await sleep(1500); // everysec: at least one tick under load
      const fsyncs = (await Promise.all(p.reps.map((r) => metric(r, 'understudy_fsync_duration_seconds_count')))).map((n, i) => n - before[i]);
      const seconds = (Date.now() - since) / 1000;
      if (mode === 'no') expect(fsyncs).to.deep.equal([0, 0]);
      else {
        for (const n of fsyncs) expect(n).to.be.at.most(Math.ceil(seconds) + 1); // a timer's ticks, not the batches'
        expect(fsyncs[0] + fsyncs[1], 'the once-a-second fsync ran').to.be.above(0);
      }
      await killAllAndCheck(p, w);
    });
  }

  it('kill -9 of primary and backup while a background snapshot is being written: both recover, no acknowledged write lost, digests equal (SPEC §9)', async () => {
    // A small threshold, 2 000 keys of 1 KiB: snapshots of ~2 MiB, a chunk per turn, one after another.
    const p = await durablePair(teardown, { UNDERSTUDY_SNAPSHOT_LOG_BYTES: String(256 * 1024) });
    const w = writers(p.c, 8, 1024, 2000);
    await waitFor('writes acknowledged', () => (w.acked.size >= 1000 ? true : undefined), 30_000, 20);
    const writing = (dir: string): boolean => fs.readdirSync(dir).some((n) => /^snap-.*\.snap\.tmp$/.test(n));
    await waitFor('a snapshot being written', () => (p.dirs.some(writing) ? true : undefined), 60_000, 1);
    await killAllAndCheck(p, w);
    // Both replicas snapshotted before, and the old segments went: the logs are short.
    const installed = await Promise.all(p.reps.map((r) => metric(r, 'understudy_durable_index')));
    expect(installed.every((n) => n > 0)).to.equal(true);
    for (const dir of p.dirs) expect(fs.readdirSync(dir).filter((n) => n.endsWith('.snap')).length).to.equal(1);
  });

  it('/info reports the durable index; the metrics count log bytes and snapshots (SPEC §9)', async () => {
    const p = await durablePair(teardown, { UNDERSTUDY_SNAPSHOT_LOG_BYTES: String(64 * 1024) });
    const w = writers(p.c, 4, 1024, 500);
    await waitFor('a snapshot on both replicas', async () => {
      const n = await Promise.all(p.reps.map((r) => metric(r, 'understudy_snapshot_duration_seconds_count')));
      return n.every((x) => x > 0) ? true : undefined;
    }, 60_000, 100);
    await w.stop();
    const info = await getJson<{ durableIndex?: number }>(`${p.reps[0].http}/info`);
    expect(info.durableIndex).to.be.a('number').and.to.be.above(0);
    expect(await metric(p.reps[0], 'understudy_log_written_bytes_total')).to.be.above(64 * 1024);
    expect(await metric(p.reps[0], 'understudy_ops_per_fsync_count')).to.be.above(0);
  });
});
