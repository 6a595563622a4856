/**
 * `list` at scale (SPEC §10, issue #12), real processes: N keys paged 1000 at a time while
 * writers overwrite, create and delete keys under the same prefix.
 *
 *  - every key that existed throughout the paging appears exactly once, no key twice, and
 *    nothing that never existed;
 *  - list then watch(prefix, { fromRevision }) misses nothing: each page's entries, brought
 *    forward by the watch's events after that page's revision, rebuild exactly what a final
 *    listing shows once the writers stop;
 *  - another client's gets go on meanwhile: their latency during the paging and during a
 *    stretch without paging is measured and printed (not asserted: this machine is shared).
 *
 * npm test: 10k keys; `npm run list-soak`: 100k keys (LIST_KEYS), figures in README.
 */
import { expect } from 'chai';
import type { Store } from '../../client/node';
import type { WatchEvent } from '../../client/core/watches';
import { startCluster } from '../support/cluster';
import { teardownAfterEach } from '../support/teardown';
import { sleep, waitFor } from '../support/wait';

const KEYS = Number(process.env.LIST_KEYS ?? 10_000);
const PAGE = 1000;
const key = (i: number) => `item:${String(i).padStart(7, '0')}`;
/** Every 10th key is churned (deleted, maybe recreated) by the writers: it need not have existed throughout. */
const churned = (i: number) => i % 10 === 0;

interface Page { after: string | undefined; last: string | undefined; revision: number; entries: [string, string][]; more: boolean }

/** Until stop(): overwrite stable keys, delete and recreate churned ones, create new keys. */
async function writer(s: Store, w: number, stopped: () => boolean): Promise<number> {
  let n = 0;
  for (; !stopped(); n++) {
    const i = Math.floor(Math.random() * KEYS);
    const x = Math.random();
    if (x < 0.4) await s.put(key(churned(i) ? i + 1 : i), `w${w}.${n}`);
    else if (x < 0.7) await (Math.random() < 0.5 ? s.delete(key(i - (i % 10))) : s.put(key(i - (i % 10)), `w${w}.${n}`));
    else await s.put(`item:new:${w}:${n}`, `w${w}.${n}`);
    await sleep(2);
  }
  return n;
}

/** Sequential gets of one key until stop(); their latencies. */
async function prober(s: Store, stopped: () => boolean): Promise<number[]> {
  const ms: number[] = [];
  while (!stopped()) {
    const t0 = performance.now();
    await s.get(key(1));
    ms.push(performance.now() - t0);
  }
  return ms;
}

function summary(ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))].toFixed(1);
  return `${s.length} gets, median ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${s[s.length - 1].toFixed(1)} ms`;
}

async function pageAll(s: Store): Promise<Page[]> {
  const pages: Page[] = [];
  let after: string | undefined;
  for (;;) {
    const p = await s.list('item:', { limit: PAGE, ...(after !== undefined ? { after } : {}) });
    const entries = p.entries.map((e) => [e.key, e.value as string] as [string, string]);
    const last = entries.length > 0 ? entries[entries.length - 1][0] : after;
    pages.push({ after, last, revision: p.revision, entries, more: p.more });
    if (!p.more) return pages;
    after = last;
  }
}

describe('e2e: list at scale while writers run (SPEC §10)', function () {
  this.timeout(KEYS >= 50_000 ? 1_200_000 : 180_000);
  const teardown = teardownAfterEach();

  it(`${KEYS} keys paged ${PAGE} at a time under writes: every key that existed throughout appears exactly once, and list then watch(fromRevision) misses nothing (SPEC §10)`, async () => {
    const c = await startCluster(2, { teardown });
    const loaders = await Promise.all([0, 1, 2, 3].map(() => c.client({ timeoutMs: 60_000 })));
    const t0 = Date.now();
    for (let base = 0; base < KEYS; base += 4000) {
      await Promise.all(loaders.map((s, l) => Promise.all(Array.from({ length: 1000 }, (_, j) => base + l * 1000 + j).filter((i) => i < KEYS).map((i) => s.put(key(i), `v${i}`)))));
    }
    console.log(`      loaded ${KEYS} keys in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const [reader, probe, ...writers] = await Promise.all([0, 1, 2, 3].map(() => c.client({ timeoutMs: 30_000 })));

    let stopWriters = false;
    const writing = writers.map((s, w) => writer(s, w, () => stopWriters));
    // A stretch without paging, for comparison.
    let stopProbe = false;
    let probing = prober(probe, () => stopProbe);
    await sleep(3000);
    stopProbe = true;
    const quiet = await probing;

    stopProbe = false;
    probing = prober(probe, () => stopProbe);
    const first = await reader.list('item:', { limit: PAGE });
    const events: WatchEvent[] = [];
    const stopWatch = reader.watch('item:*', (e) => { events.push(e); }, { fromRevision: first.revision });
    const tp = Date.now();
    const pages = await pageAll(reader);
    const pagingMs = Date.now() - tp;
    stopProbe = true;
    const during = await probing;
    stopWriters = true;
    const writes = (await Promise.all(writing)).reduce((a, b) => a + b, 0);

    // Every stable key exactly once; nothing twice; nothing that never existed.
    const seen = new Map<string, number>();
    for (const p of pages) for (const [k] of p.entries) seen.set(k, (seen.get(k) ?? 0) + 1);
    const twice = [...seen].filter(([, n]) => n > 1).map(([k]) => k);
    expect(twice, 'keys listed twice').to.deep.equal([]);
    const missing: string[] = [];
    for (let i = 0; i < KEYS; i++) if (!churned(i) && !seen.has(key(i))) missing.push(key(i));
    expect(missing.slice(0, 10), `${missing.length} stable keys missing`).to.deep.equal([]);
    for (const k of seen.keys()) expect(/^item:(\d{7}|new:\d+:\d+)$/.test(k), k).to.equal(true);

    // list then watch misses nothing: rebuild from the pages and the events, compare with a final listing.
    const final = await pageAll(reader);
    const finalRevision = final[final.length - 1].revision;
    await waitFor('the watch reaches the final revision', () => (events.length > 0 && events[events.length - 1].revision >= finalRevision) || first.revision >= finalRevision, 30_000, 20);
    stopWatch();
    const rebuilt = new Map<string, string>();
    for (const p of pages) {
      const inPage = (k: string) => (p.after === undefined || k > p.after) && (!p.more || k <= (p.last as string));
      const mine = new Map(p.entries);
      for (const e of events) {
        if (e.revision <= p.revision || !inPage(e.key)) continue;
        if (e.value === null) mine.delete(e.key);
        else mine.set(e.key, e.value);
      }
      for (const [k, v] of mine) rebuilt.set(k, v);
    }
    const want = new Map(final.flatMap((p) => p.entries));
    expect(rebuilt.size, 'keys rebuilt from pages + watch').to.equal(want.size);
    const differ = [...want].filter(([k, v]) => rebuilt.get(k) !== v).slice(0, 5);
    expect(differ, 'keys whose rebuilt value differs from the final listing').to.deep.equal([]);

    console.log(`      ${pages.length} pages in ${(pagingMs / 1000).toFixed(1)} s (${(pagingMs / pages.length).toFixed(1)} ms a page) while ${writers.length} writers did ${writes} writes; ${events.length} watch events`);
    console.log(`      another client's gets without paging: ${summary(quiet)}`);
    console.log(`      another client's gets during paging:  ${summary(during)}`);
  });
});
