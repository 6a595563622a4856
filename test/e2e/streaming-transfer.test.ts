/**
 * The streaming state transfer with real processes (SPEC §3.4, issue #6): a new backup
 * receives 20k keys through a bandwidth-limited link (1 MB/s, so the transfer lasts
 * seconds) while clients keep writing — appends to keys the stream has not sent yet,
 * deletes, new keys. Clients are answered during the transfer (before the view is
 * acknowledged), every acknowledged write is on the backup once it is ready, the digests
 * are equal, and after kill -9 of the primary the backup serves every acknowledged write.
 * Nothing here is timed: the throttle only makes the transfer long enough to write into.
 */
import { expect } from 'chai';
import { freePort, waitForView, getJson } from '../support/processes';
import { startCluster, waitForEqualDigests } from '../support/cluster';
import { teardownAfterEach } from '../support/teardown';

interface ViewJson { viewnum: number; primary: string | null; backup: string | null; acked: boolean }

describe('e2e: streaming state transfer (SPEC §3.4)', function () {
  this.timeout(90_000);
  const teardown = teardownAfterEach();

  it('serves clients while a new backup receives 20k keys; every acknowledged write survives the primary\'s kill -9', async () => {
    const KEYS = 20_000;
    // deadPings 20 (1 s): the two replicas hash 20k keys for /digest and stream a transfer,
    // and on a loaded machine a 250 ms silence made the view service declare both dead at
    // once (a view then formed that its primary never acknowledged before the kill -9).
    // Nothing here is about failure detection, so a slower one costs nothing.
    const cluster = await startCluster(1, { teardown, deadPings: 20 });
    const { vs } = cluster;
    const a = cluster.replicas[0];
    await waitForView(vs, (v) => v.primary === a.id && v.acked);
    const loader = await cluster.client({ timeoutMs: 10_000 });
    for (let base = 0; base < KEYS; base += 2000) {
      await Promise.all(Array.from({ length: 2000 }, (_, i) => loader.put(`key:${base + i}`, `v${base + i}-`.padEnd(100, 'x'))));
    }

    const portB = await freePort();
    const proxy = await cluster.proxy(`ws://127.0.0.1:${portB}`, 'A→B');
    proxy.slow({ bytesPerSecond: 1_000_000, direction: 'toTarget' }); // before B exists: the whole transfer is slow
    const b = await cluster.startReplica({ port: portB, url: proxy.url });

    // What every lane's acknowledged writes make each of its keys (undefined: deleted).
    const expected = new Map<string, string | undefined>();
    let ackedDuringTransfer = 0;
    let transferring = false;
    let done = false;
    const watcher = (async () => {
      while (!done) {
        const v = await getJson<ViewJson>(`${vs.http}/view`).catch(() => null);
        if (v) transferring = v.backup === b.id && !v.acked;
        if (v && v.backup === b.id && v.acked) return;
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const lanes = [0, 1, 2].map(async (lane) => {
      const s = await cluster.client({ timeoutMs: 20_000 });
      for (let i = 0; !done; i++) {
        // keys spread over the whole key space (most not streamed yet when written); each
        // lane has its own keys (n ≡ lane mod 3), so the model's order is the store's
        const n = ((i * 104_729) % Math.floor(KEYS / 3)) * 3 + lane;
        const key = `key:${n}`;
        const kind = i % 4;
        if (kind === 0) {
          await s.append(key, `+${lane}.${i}`);
          const before = expected.has(key) ? expected.get(key) : `v${n}-`.padEnd(100, 'x');
          expected.set(key, (before ?? '') + `+${lane}.${i}`);
        } else if (kind === 1) {
          await s.delete(key);
          expected.set(key, undefined);
        } else if (kind === 2) {
          await s.put(`new:${lane}:${i}`, `n${i}`);
          expected.set(`new:${lane}:${i}`, `n${i}`);
        } else {
          await s.put(key, `p${lane}.${i}`);
          expected.set(key, `p${lane}.${i}`);
        }
        if (transferring) ackedDuringTransfer++;
      }
    });
    await waitForView(vs, (v) => v.primary === a.id && v.backup === b.id && v.acked, 60_000);
    done = true;
    await Promise.all([...lanes, watcher]);
    console.log(`      ${ackedDuringTransfer} writes acknowledged while the transfer was under way; ${expected.size} keys written`);
    expect(ackedDuringTransfer, 'clients are answered during the transfer').to.be.greaterThan(10);

    const { primary, backup } = await waitForEqualDigests(cluster);
    expect(backup.sha256).to.equal(primary.sha256);
    expect(backup.keys).to.equal(primary.keys);

    // The backup takes over with every acknowledged write.
    await a.kill('SIGKILL');
    await waitForView(vs, (v) => v.primary === b.id, 20_000);
    const reader = await cluster.client({ timeoutMs: 20_000 });
    const keys = [...expected.keys()];
    const got = await Promise.all(keys.map((k) => reader.get(k)));
    const wrong = keys.filter((k, i) => (got[i] ?? undefined) !== expected.get(k));
    expect(wrong.slice(0, 5).map((k) => ({ key: k, expected: expected.get(k), got: got[keys.indexOf(k)] }))).to.deep.equal([]);
    // and the keys nobody wrote during the transfer, as loaded
    const spot = [0, 1, 2, 4999, 10_001, 19_999].map((n) => `key:${n}`).filter((k) => !expected.has(k));
    for (const k of spot) expect(await reader.get(k)).to.equal(`v${k.slice(4)}-`.padEnd(100, 'x'));
  });
});
