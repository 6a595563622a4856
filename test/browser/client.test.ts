/**
 * The browser client in a real browser (issue #4): headless Chromium (playwright-core, the
 * system's chromium) loads a page from its own origin that imports the ESM bundle from the
 * view service (`/understudy.js`, so CORS and the module build are exercised), against a
 * cluster of real processes; the primary is killed with kill -9.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { killAll, getJson, ViewStatus } from '../support/processes';
import { startCluster, Cluster } from '../e2e/helpers';
import { launchChromium, openPage, servePage, clientPage } from '../support/browser';
import { connect } from '../../client/node';
import type { Store } from '../../client/store';

/* eslint-disable @typescript-eslint/no-explicit-any */
/** The page's globals (set by clientPage and by the tests' evaluate calls). */
type W = Window & typeof globalThis & { understudy: any; store: any; [k: string]: any };

describe('browser client in headless Chromium (issue #4)', function () {
  this.timeout(90_000);
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const stores: Store[] = [];
  const closers: (() => Promise<void>)[] = [];

  before(async function () {
    this.timeout(60_000);
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
  });
  afterEach(async () => {
    await Promise.all(contexts.splice(0).map((c) => c.close().catch(() => {})));
    await Promise.all(stores.splice(0).map((s) => s.close().catch(() => {})));
    await Promise.all(closers.splice(0).map((f) => f().catch(() => {})));
    await killAll();
  });

  /** A page on its own origin that has imported the client from the view service. */
  async function pageWithClient(c: Cluster): Promise<{ page: Page; errors: string[] }> {
    const site = await servePage(clientPage(`${c.vs.http}/understudy.js`));
    closers.push(site.close);
    const { context, page, errors } = await openPage(browser);
    contexts.push(context);
    await page.goto(site.url);
    await page.waitForFunction(() => (window as W).clientReady === true);
    return { page, errors };
  }

  it('a page on another origin imports /understudy.js from the view service and puts, gets, appends and deletes over the native WebSocket', async () => {
    const c = await startCluster(2);
    const { page, errors } = await pageWithClient(c);
    const out = await page.evaluate(async (view) => {
      const w = window as W;
      const s = await w.understudy.connect({ view, timeoutMs: 5000 });
      await s.put('greeting', 'hello');
      const got = await s.get('greeting');
      const len = await s.append('greeting', ', wörld');
      const after = await s.get('greeting');
      const existed = await s.delete('greeting');
      const gone = await s.get('greeting');
      const err = await s.put('', 'x'.repeat(2 * 1024 * 1024)).then(() => null, (e: any) => ({ name: e.name, code: e.code }));
      const view2 = s.view;
      await s.close();
      const closed = await s.get('x').then(() => null, (e: any) => e.code);
      return { got, len, after, existed, gone, err, viewnum: view2.viewnum, closed, exports: Object.keys(w.understudy).sort() };
    }, c.vs.url);
    expect(out).to.deep.include({ got: 'hello', len: 13, after: 'hello, wörld', existed: true, gone: null, closed: 'CLOSED' });
    expect(out.err).to.deep.equal({ name: 'UnderstudyError', code: 'TOO_LARGE' });
    expect(out.viewnum).to.be.greaterThan(0);
    expect(out.exports).to.include.members(['connect', 'UnderstudyError', 'isUnderstudyError', 'Store', 'VIEW0']);
    // The Node side sees the same data: one store, two kinds of client.
    const s = await connect({ view: c.vs.url });
    stores.push(s);
    await page.evaluate(async (view) => {
      const st = await (window as W).understudy.connect({ view });
      await st.put('from-browser', 'yes');
      await st.close();
    }, c.vs.url);
    expect(await s.get('from-browser')).to.equal('yes');
    expect(errors).to.deep.equal([]);
  });

  it("the README's <script type=\"module\"> example works as written (VIEW:7000 replaced by the view service's address)", async () => {
    const c = await startCluster(2);
    const readme = fs.readFileSync(path.resolve(__dirname, '..', '..', 'README.md'), 'utf8');
    const example = /```html\n(<script type="module">[\s\S]*?<\/script>)\n```/.exec(readme);
    expect(example, 'README has a ```html <script type="module"> example').to.not.equal(null);
    const html = `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><body>\n${example![1].replaceAll('VIEW:7000', `127.0.0.1:${c.vs.port}`)}`;
    const site = await servePage(html);
    closers.push(site.close);
    const { context, page, errors } = await openPage(browser);
    contexts.push(context);
    await page.goto(site.url);
    await page.waitForFunction(() => document.body.textContent === 'hello from the browser');
    expect(errors).to.deep.equal([]);
  });

  it("kill -9 of the primary: the page's pending operations all complete, and the page moves to the new view", async () => {
    const c = await startCluster(3);
    const { page, errors } = await pageWithClient(c);
    await page.evaluate(async (view) => {
      const w = window as W;
      w.store = await w.understudy.connect({ view, timeoutMs: 20_000 });
      w.acked = 0;
      w.failures = [];
      // Four writers, 60 sequential puts each: always some operations in flight.
      w.writers = Promise.all([0, 1, 2, 3].map(async (n) => {
        for (let i = 0; i < 60; i++) {
          try {
            await w.store.put(`w${n}:${i}`, `${n}/${i}`);
            w.acked++;
          } catch (e: any) {
            w.failures.push(`w${n}:${i}: ${e.code} ${e.message}`);
          }
        }
      }));
    }, c.vs.url);
    await page.waitForFunction(() => (window as W).acked >= 40);
    const before = await getJson<ViewStatus>(`${c.vs.http}/view`);
    c.byId(before.primary).child.kill('SIGKILL');
    const inFlightAtKill = await page.evaluate(() => 240 - (window as W).acked);
    await page.evaluate(() => (window as W).writers);
    const out = await page.evaluate(async () => {
      const w = window as W;
      const wrong: string[] = [];
      for (let n = 0; n < 4; n++) {
        for (let i = 0; i < 60; i++) {
          const v = await w.store.get(`w${n}:${i}`);
          if (v !== `${n}/${i}`) wrong.push(`w${n}:${i} = ${JSON.stringify(v)}`);
        }
      }
      return { acked: w.acked, failures: w.failures, wrong, view: w.store.view };
    });
    expect(out.failures, 'no operation failed').to.deep.equal([]);
    expect(out.acked).to.equal(240);
    expect(out.wrong, 'every acknowledged put is readable').to.deep.equal([]);
    expect(out.view.viewnum).to.be.greaterThan(before.viewnum);
    expect(out.view.primary, 'the killed replica is no longer primary').to.not.equal(before.primary);
    expect(inFlightAtKill, 'the kill happened while the writers were still busy').to.be.greaterThan(0);
    expect(errors).to.deep.equal([]);
  });

  it('a watch in the page continues across kill -9 of the primary: every write once, in revision order, no gap', async function () {
    const c = await startCluster(3);
    const { page, errors } = await pageWithClient(c);
    const hasWatch = await page.evaluate(async (view) => {
      const w = window as W;
      w.store = await w.understudy.connect({ view, timeoutMs: 20_000 });
      if (typeof w.store.watch !== 'function') return false;
      w.events = [];
      // fromRevision 0: every write to w:* is delivered, also one that the primary orders
      // before this registration (without it the watch starts "from now", and a write racing
      // the registration is, correctly, not an event of this watch).
      w.stop = w.store.watch('w:*', (e: any) => w.events.push({ key: e.key, value: e.value, revision: e.revision, resync: e.resync === true }), { fromRevision: 0 });
      return true;
    }, c.vs.url);
    if (!hasWatch) this.skip(); // the client has no store.watch yet
    // A Node client writes steadily; the page watches. All writes in this cluster go to w:*,
    // so their revisions are consecutive: a gap or a duplicate shows in the sequence.
    const writer = await connect({ view: c.vs.url, timeoutMs: 20_000 });
    stores.push(writer);
    await writer.put('w:start', 'start');
    await page.waitForFunction(() => (window as W).events.length >= 1);
    const N = 150;
    let killed: ViewStatus | null = null;
    for (let i = 0; i < N; i++) {
      if (i === 50) {
        killed = await getJson<ViewStatus>(`${c.vs.http}/view`);
        c.byId(killed.primary).child.kill('SIGKILL');
      }
      await writer.put(`w:${i % 10}`, String(i));
    }
    await page.waitForFunction((n) => (window as W).events.some((e: any) => e.value === String(n - 1)), N, { timeout: 20_000 });
    const events = await page.evaluate(() => (window as W).events as { key: string; value: string; revision: number; resync: boolean }[]);
    const values = events.map((e) => e.value);
    expect(values).to.deep.equal(['start', ...Array.from({ length: N }, (_, i) => String(i))]);
    expect(events.filter((e) => e.resync), 'no resync: the history covers the failover').to.deep.equal([]);
    for (let i = 1; i < events.length; i++) {
      expect(events[i].revision, `event ${i} follows event ${i - 1}`).to.equal(events[i - 1].revision + 1);
    }
    const now = await getJson<ViewStatus>(`${c.vs.http}/view`);
    expect(now.viewnum).to.be.greaterThan(killed!.viewnum);
    expect(now.primary, 'the watch went through a failover').to.not.equal(killed!.primary);
    expect(errors).to.deep.equal([]);
  });

  it("in a page, 'online' and the tab becoming visible call store.reconnectNow(); close() removes the listeners", async () => {
    const c = await startCluster(1);
    const { page } = await pageWithClient(c);
    const calls = await page.evaluate(async (view) => {
      const w = window as W;
      const s = await w.understudy.connect({ view });
      let n = 0;
      s.reconnectNow = () => { n++; }; // a spy over the real one (if any)
      const counts: number[] = [];
      window.dispatchEvent(new Event('online'));
      counts.push(n);
      document.dispatchEvent(new Event('visibilitychange')); // headless tabs are visible
      counts.push(n);
      await s.close();
      window.dispatchEvent(new Event('online'));
      document.dispatchEvent(new Event('visibilitychange'));
      counts.push(n);
      return { counts, visibility: document.visibilityState };
    }, c.vs.url);
    expect(calls).to.deep.equal({ counts: [1, 2, 2], visibility: 'visible' });
  });
});
