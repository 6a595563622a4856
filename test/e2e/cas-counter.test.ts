/**
 * Compare-and-set under failover (SPEC §10, issue #12): N clients each increment one key M
 * times with getEntry then put(ifRevision), retrying on CONFLICT, while the primary is killed
 * with kill -9 K times. Every increment lands exactly once: the final value is exactly N × M.
 * A lost CAS (a retried put applied twice, a stale read passing the check) shows as a
 * different count.
 *
 * npm test runs 4 × 100 with one kill; `npm run cas` runs 16 × 1000 with two kills
 * (CAS_CLIENTS, CAS_INCREMENTS, CAS_KILLS) and prints the figures recorded in README.
 */
import { expect } from 'chai';
import type { Store } from '../../client/node';
import { waitForView, getJson, type ViewStatus } from '../support/processes';
import { startCluster, waitForEqualDigests, type Cluster } from '../support/cluster';
import { teardownAfterEach } from '../support/teardown';
import { sleep } from '../support/wait';

const CLIENTS = Number(process.env.CAS_CLIENTS ?? 4);
const INCREMENTS = Number(process.env.CAS_INCREMENTS ?? 100);
const KILLS = Number(process.env.CAS_KILLS ?? 1);
const FULL = process.env.CAS_CLIENTS !== undefined;

interface Tally { conflicts: number; attempts: number }

/** One client's M increments: read the entry, write value + 1 only at that revision. */
async function incrementer(s: Store, times: number, tally: Tally): Promise<void> {
  for (let done = 0; done < times;) {
    const e = await s.getEntry('counter');
    tally.attempts++;
    try {
      await s.put('counter', String(Number(e.value ?? '0') + 1), { ifRevision: e.revision });
      done++;
    } catch (err) {
      if ((err as { code?: string }).code !== 'CONFLICT') throw err;
      tally.conflicts++;
    }
  }
}

/** Kill the primary once the counter passes `at`, wait for the next acknowledged view with a backup, start a fresh idle replica. */
async function killPrimaryAt(c: Cluster, s: Store, at: number, log: string[]): Promise<void> {
  for (;;) {
    const v = Number((await s.get('counter')) ?? '0');
    if (v >= at) break;
    await sleep(20);
  }
  const view = await getJson<ViewStatus>(`${c.vs.http}/view`);
  const t0 = Date.now();
  await c.byId(view.primary).kill('SIGKILL');
  await waitForView(c.vs, (x) => x.viewnum > view.viewnum && x.primary !== null && x.primary !== view.primary && x.acked, 20_000);
  log.push(`kill -9 of the primary at counter ≥ ${at}: new primary in ${Date.now() - t0} ms`);
  await c.startReplica();
}

describe('e2e: compare-and-set increments across kill -9 of the primary (SPEC §10)', function () {
  this.timeout(FULL ? 1_800_000 : 90_000);
  const teardown = teardownAfterEach();

  it(`${CLIENTS} clients × ${INCREMENTS} getEntry + put(ifRevision) increments of one key, ${KILLS} kill -9 of the primary: the final value is exactly ${CLIENTS * INCREMENTS} (SPEC §10)`, async () => {
    const c = await startCluster(3, { teardown });
    // Long timeouts: a TIMEOUT leaves an increment's outcome unknown, which this test cannot
    // count; the client's own retries (same clientId, seq) carry each put across the failover.
    const stores = await Promise.all(Array.from({ length: CLIENTS + 1 }, () => c.client({ timeoutMs: 60_000 })));
    const tally: Tally = { conflicts: 0, attempts: 0 };
    const log: string[] = [];
    const t0 = Date.now();
    const work = Promise.all(stores.slice(1).map((s) => incrementer(s, INCREMENTS, tally)));
    const total = CLIENTS * INCREMENTS;
    const killer = (async () => {
      for (let k = 1; k <= KILLS; k++) await killPrimaryAt(c, stores[0], Math.floor((total * k) / (KILLS + 1)), log);
    })();
    await Promise.all([work, killer]);
    const ms = Date.now() - t0;
    const final = await stores[0].getEntry('counter');
    for (const l of log) console.log(`      ${l}`);
    console.log(`      ${total} increments in ${(ms / 1000).toFixed(1)} s (${Math.round(total / (ms / 1000))}/s), ${tally.attempts} attempts, ${tally.conflicts} CONFLICTs; final ${final.value} at revision ${final.revision}`);
    expect(final.value).to.equal(String(total));
    await waitForEqualDigests(c, 20_000);
  });
});
