/**
 * The dashboard's load panel (issue #15) in headless Chromium against real processes: per
 * replica, ops/s and p99 charts drawn from live traffic, the backup's lag, and the progress
 * bar with keys, bytes and time left while a new backup receives a large state transfer.
 * Everything the page shows comes from the view service (GET /stats, GET /view).
 *
 * The suite transfers DASHBOARD_TRANSFER_KEYS keys (20k by default, in `npm test`: 44–48 s
 * measured at load average 15–21, mostly the transfer); `npm run test:dashboard-transfer` runs it with 200k and saves the screenshots shown
 * in the README under docs/ (DOCS_SCREENSHOTS=1; the viewport, not the full page). The
 * transfer link is throttled so the transfer lasts several seconds whatever the key count:
 * the page polls once a second.
 *
 * It once timed out in CI waiting 20 s for the charts, and failed 5 of 10 runs on a machine
 * at load average 13–20 with a 12 s transfer: the page showed the transfer late (once only at
 * 100%) or not at all while GET /stats had it from the start (polled from the test), so the
 * transfer outlasted a starved page by too little. The waits are now generous, the transfer
 * lasts about 20 s, and a failure says when the view service first had the transfer and what
 * the page showed.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { freePort, waitForView } from '../support/processes';
import { startCluster, type Cluster } from '../support/cluster';
import { teardownAfterEach } from '../support/teardown';
import { launchChromium, openPage, ARTIFACTS } from '../support/browser';

const KEYS = Number(process.env.DASHBOARD_TRANSFER_KEYS ?? 20_000);
const VALUE_BYTES = 100;
/**
 * About 20 s of transfer: a key costs about 2 × VALUE_BYTES of xfer-data (3.7 MiB for 20k
 * keys). Long enough that a page starved for several seconds on a loaded machine still sees
 * it under way (at load average 25 the page's polls were answered up to 5 s apart).
 */
const TRANSFER_BPS = Math.max(120_000, Math.round((KEYS * 2 * VALUE_BYTES) / 20));
const DESKTOP = { viewport: { width: 1280, height: 900 } };
const DOCS = path.resolve(__dirname, '..', '..', 'docs');

interface TransferShown { value: number; max: number; text: string }

describe('dashboard load panel in headless Chromium (issue #15)', function () {
  this.timeout(240_000);
  const teardown = teardownAfterEach();
  let browser: Browser;
  const contexts: BrowserContext[] = [];

  before(async function () {
    this.timeout(60_000);
    browser = await launchChromium();
  });
  after(async () => { await browser?.close(); });
  afterEach(async () => { await Promise.all(contexts.splice(0).map((c) => c.close().catch(() => {}))); });

  /** The viewport (the view and the load panel), under test-artifacts/ and with DOCS_SCREENSHOTS under docs/. */
  async function shot(page: Page, name: string): Promise<void> {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    const file = path.join(ARTIFACTS, name);
    await page.screenshot({ path: file });
    if (process.env.DOCS_SCREENSHOTS) fs.copyFileSync(file, path.join(DOCS, name));
  }

  /** Clients writing small keys until stopped, so the charts have traffic. */
  async function traffic(c: Cluster): Promise<{ stop(): Promise<void> }> {
    const stores = await Promise.all([0, 1, 2].map(() => c.client({ timeoutMs: 30_000 })));
    let stopped = false;
    const lanes = stores.map(async (s, lane) => {
      for (let i = 0; !stopped; i++) await s.put(`load:${lane}:${i % 50}`, `v${i}`).catch(() => {});
    });
    const stop = async (): Promise<void> => { stopped = true; await Promise.all(lanes); };
    teardown.push(stop);
    return { stop };
  }

  /** When the view service's GET /stats first had `id`'s transfer (ms after `since`): the server's side of a failure. */
  function serverTransfer(c: Cluster, id: string, since: number): { firstAt: number | null; stop(): void } {
    const seen: { firstAt: number | null; stop(): void } = { firstAt: null, stop: () => { clearInterval(timer); } };
    const timer = setInterval(() => {
      fetch(`${c.vs.http}/stats`).then((r) => r.json()).then((j: { replicas: { id: string; transfer?: unknown }[] }) => {
        if (seen.firstAt === null && j.replicas.some((r) => r.id === id && r.transfer !== undefined)) seen.firstAt = Date.now() - since;
      }).catch(() => {});
    }, 250);
    teardown.push(() => seen.stop());
    return seen;
  }

  const transferShown = (page: Page, id: string): Promise<TransferShown | null> => page.evaluate((rid) => {
    const card = document.querySelector(`.load-card[data-id="${rid}"]`);
    const box = card?.querySelector('.transfer') as HTMLElement | null;
    if (!box || box.hidden) return null;
    const bar = box.querySelector('progress') as HTMLProgressElement;
    return { value: bar.value, max: bar.max, text: box.querySelector('.transfer-text')!.textContent! };
  }, id);

  it(`charts ops/s and p99 per replica from live traffic, and a progress bar with keys, bytes and time left while ${KEYS} keys go to a new backup`, async () => {
    // deadPings × ping = 1 s: a replica busy with 200k keys on a loaded machine can miss 250 ms of
    // pings (the suites' default), and a failover is not what this test shows.
    const c = await startCluster(1, { teardown, deadPings: 20 });
    const a = c.replicas[0];
    await waitForView(c.vs, (v) => v.primary === a.id && v.acked);
    const loader = await c.client({ timeoutMs: 60_000 });
    const t0 = Date.now();
    for (let base = 0; base < KEYS; base += 2000) {
      const n = Math.min(2000, KEYS - base);
      await Promise.all(Array.from({ length: n }, (_, i) => loader.put(`key:${base + i}`, `v${base + i}-`.padEnd(VALUE_BYTES, 'x'))));
    }
    console.log(`      preloaded ${KEYS} keys in ${Date.now() - t0} ms`);
    const load = await traffic(c);

    const { context, page, errors } = await openPage(browser, DESKTOP);
    contexts.push(context);
    page.setDefaultTimeout(30_000); // a loaded 2-core machine: the page may wait for a busy primary
    await page.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`));
    });
    // The key browser watches one lane's keys: listing every preloaded key is not this test's subject.
    await page.goto(`${c.vs.http}/?prefix=load:0:`);
    // The primary's card: a role, an ops/s line of several points with a value, a p99.
    const card = `.load-card[data-id="${a.id}"]`;
    await page.waitForFunction((sel) => {
      const ops = document.querySelector(`${sel} figure.ops`) as HTMLElement | null;
      return ops !== null && Number(ops.dataset.points) >= 3 && /ops\/s/.test(ops.querySelector('.now')!.textContent!);
    }, card, { timeout: 60_000 });
    await page.waitForFunction((sel) => document.querySelector(`${sel} .pill`)?.textContent === 'primary', card, { timeout: 30_000 });
    expect(await page.locator(`${card} figure.p99 .now`).textContent()).to.match(/(µs|ms)$/);
    expect(await page.locator(`${card} .lag`).textContent()).to.match(/No backup/);
    expect(await page.locator(`${card} figure.ops path.line`).getAttribute('d')).to.match(/^M[\d.]+ [\d.]+(L[\d.]+ [\d.]+)+/);

    // A new backup behind a throttled link: the transfer takes seconds.
    const portB = await freePort();
    const proxy = await c.proxy(`ws://127.0.0.1:${portB}`, 'A→B');
    proxy.slow({ bytesPerSecond: TRANSFER_BPS, direction: 'toTarget' });
    const startedAt = Date.now();
    const b = await c.startReplica({ port: portB, url: proxy.url });
    const served = serverTransfer(c, a.id, startedAt);
    await page.waitForFunction((sel) => {
      const box = document.querySelector(`${sel} .transfer`) as HTMLElement | null;
      return box !== null && !box.hidden && (box.querySelector('progress') as HTMLProgressElement).value > 0;
    }, card, { timeout: 60_000, polling: 50 }).catch(async (err: Error) => {
      throw new Error(`${err.message}\nGET /stats first had the transfer ${served.firstAt ?? 'never'} ms after the backup started; ` +
        `the page shows: ${await page.locator(card).textContent().catch(() => '?')}`);
    });
    served.stop();
    const first = (await transferShown(page, a.id)) as TransferShown;
    const firstAt = Date.now();
    expect(first.max).to.be.at.least(KEYS); // the snapshot's keys: the preload and the traffic's
    expect(first.text).to.match(/^[\d,]+ \/ [\d,]+ keys \(\d+%\) · [\d.]+ (B|KiB|MiB) \/ ~[\d.]+ (B|KiB|MiB|GiB) · .*(left|estimating…)$/);
    // It advances, and once a rate is known the time left is shown (the screenshot is taken then).
    const seen = await page.waitForFunction(([sel, v]) => {
      const box = document.querySelector(`${sel} .transfer`) as HTMLElement;
      const bar = box.querySelector('progress') as HTMLProgressElement;
      if (box.hidden) return 'ended';
      return bar.value > (v as number) && bar.value >= 0.2 * bar.max && / left$/.test(box.querySelector('.transfer-text')!.textContent!) ? 'shown' : null;
    }, [card, first.value] as const, { timeout: 60_000, polling: 50 });
    expect(await seen.jsonValue(), `the bar advanced with a time left before the transfer ended (first shown ${firstAt - startedAt} ms after the backup started: ${first.text})`).to.equal('shown');
    const mid = (await transferShown(page, a.id)) as TransferShown;
    const midAt = Date.now();
    expect(mid.value).to.be.greaterThan(first.value);
    expect(mid.text).to.match(/ · (\d+ s|\d+ min|under a second) left$/);
    await shot(page, 'dashboard-transfer.png');

    // Done: the bar goes, the view is acknowledged, the primary shows its backup's lag.
    await waitForView(c.vs, (v) => v.backup === b.id && v.acked, 120_000);
    console.log(`      transfer of ${KEYS} keys at ${TRANSFER_BPS} B/s: ${Date.now() - startedAt} ms; shown after ${firstAt - startedAt} ms: "${first.text}", then "${mid.text}" (acknowledged ${Date.now() - midAt} ms later)`);
    await page.waitForFunction((sel) => (document.querySelector(`${sel} .transfer`) as HTMLElement).hidden, card, { timeout: 30_000 });
    await page.waitForFunction((sel) => /^Backup behind by [\d,]+ ops · /.test(document.querySelector(`${sel} .lag`)!.textContent!), card, { timeout: 30_000 });
    await page.waitForFunction((id) => document.querySelector(`.load-card[data-id="${id}"] .pill`)?.textContent === 'backup', b.id, { timeout: 30_000 });
    await page.waitForFunction((v) => document.getElementById('viewnum')!.textContent === String(v.viewnum) &&
      document.getElementById('health')!.textContent === 'acknowledged', await waitForView(c.vs, (v) => v.backup === b.id && v.acked));
    await shot(page, 'dashboard-load.png');
    await load.stop();
    expect(errors).to.deep.equal([]);
  });
});
