/**
 * Catch-up by log suffix with real processes (SPEC §9: "A backup that restarts from disk
 * catches up from the primary's log suffix when the primary still has it, instead of a full
 * transfer"; issue #11's target: a restarted backup of 20k keys, ≤ 10 % of a full transfer's
 * bytes, in under 1 s). The primary's traffic to the backup goes through a fault proxy that
 * counts it. The figures are printed (and reported in docs/DURABILITY.md §9); only bytes and
 * behaviour are asserted, never time.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort, waitForView } from '../support/processes';
import { startCluster, waitForEqualDigests, type Cluster, type ClusterReplica } from '../support/cluster';
import type { FaultProxy } from '../support/fault-proxy';
import { teardownAfterEach } from '../support/teardown';

const KEYS = Number(process.env.CATCHUP_KEYS ?? 20_000);
const MISSED = 500;
const dataEnv = (dir: string): Record<string, string> => ({ UNDERSTUDY_DATA_DIR: dir, UNDERSTUDY_FSYNC: 'always' });

async function putAll(c: Cluster, keys: string[], value: (k: string) => string): Promise<void> {
  const s = await c.client({ timeoutMs: 30_000 });
  let next = 0;
  await Promise.all(Array.from({ length: 128 }, async () => {
    while (next < keys.length) { const k = keys[next++]; await s.put(k, value(k)); }
  }));
}

describe('e2e: catch-up by log suffix (SPEC §9)', function () {
  this.timeout(180_000);
  const teardown = teardownAfterEach();

  it(`a backup of ${KEYS} keys restarted from its data dir catches up by the log suffix: a fraction of a full transfer's bytes (SPEC §9)`, async () => {
    const c = await startCluster(0, { teardown, pingMs: 100, deadPings: 10 }); // a busy machine must not look like a dead replica
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'understudy-catchup-'));
    teardown.push(() => fs.rmSync(root, { recursive: true, force: true }));
    const a = await c.startReplica({ env: dataEnv(path.join(root, 'a')) });
    await waitForView(c.vs, (v) => v.primary === a.id && v.acked);
    const port = await freePort();
    const proxy: FaultProxy = await c.proxy(`ws://127.0.0.1:${port}`, 'to-backup');
    const startB = (): Promise<ClusterReplica> => c.startReplica({ port, url: proxy.url, env: dataEnv(path.join(root, 'b')) });
    let b = await startB();
    await waitForView(c.vs, (v) => v.backup === b.id && v.acked, 30_000);
    await putAll(c, Array.from({ length: KEYS }, (_, i) => `key-${i}`), (k) => `${k}:${'v'.repeat(80)}`);

    // Measure one restart: bytes the primary sends the backup from its kill to the acknowledged view, and the time.
    const restart = async (wipe: boolean): Promise<{ bytes: number; ms: number; suffix: boolean }> => {
      await b.kill('SIGKILL');
      await waitForView(c.vs, (v) => v.primary === a.id && v.backup === null && v.acked, 30_000).catch((err: Error) => {
        throw new Error(`${err.message}\nprimary:\n${a.logs.slice(-30).join('\n')}\nview service:\n${c.vs.logs.slice(-20).join('\n')}`);
      });
      await putAll(c, Array.from({ length: MISSED }, (_, i) => `key-${i * 37 % KEYS}`), (k) => `${k}:missed:${wipe}`);
      if (wipe) fs.rmSync(path.join(root, 'b'), { recursive: true, force: true });
      const before = proxy.stats().toTarget.bytes;
      const logsBefore = a.logs.length;
      b = await startB();
      const t0 = performance.now();
      await waitForView(c.vs, (v) => v.backup === b.id && v.acked, 60_000);
      const ms = performance.now() - t0;
      const bytes = proxy.stats().toTarget.bytes - before;
      const line = a.logs.slice(logsBefore).find((l) => l.includes('catch-up by log suffix') || l.includes('full state transfer'));
      if (process.env.CATCHUP_DEBUG) console.log(line, before, proxy.stats());
      return { bytes, ms, suffix: line?.includes('catch-up by log suffix') ?? false };
    };
    const suffix = await restart(false);
    await waitForEqualDigests(c, 30_000);
    const full = await restart(true);
    await waitForEqualDigests(c, 30_000);
    console.log(`      catch-up of ${KEYS} keys after ${MISSED} missed writes: suffix ${suffix.bytes} B in ${Math.round(suffix.ms)} ms; ` +
      `full transfer ${full.bytes} B in ${Math.round(full.ms)} ms; suffix/full = ${(100 * suffix.bytes / full.bytes).toFixed(1)} %`);
    expect(suffix.suffix, 'the primary sent a log suffix').to.equal(true);
    expect(full.suffix, 'a wiped backup gets the full transfer').to.equal(false);
    expect(suffix.bytes).to.be.below(full.bytes * 0.1);
  });
});
