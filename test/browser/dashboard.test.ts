/**
 * The live dashboard (`GET /` of the view service, issue #4) in headless Chromium against
 * real processes: the view after kill -9 of the primary, the key browser (the browser
 * client imported from /understudy.js), and the layout on a desktop and a phone, with
 * screenshots saved under test-artifacts/. First, without a browser: the built page
 * (dist/dashboard/, from server/viewservice/dashboard/ by scripts/build-browser.js) is
 * there and has nothing inline that its CSP forbids.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { killAll, getJson, waitForView, ViewStatus } from '../support/processes';
import { startCluster, Cluster } from '../e2e/helpers';
import { launchChromium, openPage, screenshot } from '../support/browser';
import { connect } from '../../client/node';
import type { Store } from '../../client/store';
import { loadDashboard, dashboardComplete, dashboardHandler, defaultDashboardDir, DASHBOARD_CSP } from '../../server/viewservice/dashboard-assets';

/* eslint-disable @typescript-eslint/no-explicit-any */
type W = Window & typeof globalThis & { [k: string]: any };

const DESKTOP = { viewport: { width: 1280, height: 860 } };
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
const ROOT = path.resolve(__dirname, '..', '..');

describe('dashboard assets, as built (SPEC §5)', () => {
  const dir = defaultDashboardDir();
  const html = (): string => fs.readFileSync(path.join(dir, 'dashboard.html'), 'utf8');
  /** One CSP directive's sources, e.g. `script-src` → ["'self'"]. */
  const directive = (name: string): string[] =>
    DASHBOARD_CSP.split(';').map((d) => d.trim().split(/\s+/)).find((d) => d[0] === name)?.slice(1) ?? [];

  it('dist/dashboard/ has the page, its script and its style, built from the current sources', () => {
    expect(dir).to.equal(path.join(ROOT, 'dist', 'dashboard'));
    const d = loadDashboard(dir);
    expect(dashboardComplete(d), `${dir} is incomplete: run \`npm run build\` (scripts/build-browser.js)`).to.equal(true);
    expect(html(), 'dist/dashboard/dashboard.html is stale: run scripts/build-browser.js')
      .to.equal(fs.readFileSync(path.join(ROOT, 'server', 'viewservice', 'dashboard', 'dashboard.html'), 'utf8'));
    // Only the dashboard's own modules are bundled: the client is imported from the server.
    const js = fs.readFileSync(path.join(dir, 'dashboard.js'), 'utf8');
    const sources = [...js.matchAll(/^\/\/ (\S+\.ts)$/gm)].map((m) => m[1]);
    expect(sources).to.include.members(['server/viewservice/dashboard/dashboard.ts', 'server/viewservice/dashboard/key-browser.ts']);
    for (const src of sources) expect(src).to.match(/^server\/viewservice\/dashboard\//);
    expect(js).to.include('import("/understudy.js")');
  });

  it("the page has no inline script, style or event handler: its CSP allows scripts and styles from 'self' only", () => {
    expect(directive('script-src')).to.deep.equal(["'self'"]);
    expect(directive('style-src')).to.deep.equal(["'self'"]);
    expect(directive('default-src')).to.deep.equal(["'none'"]);
    const page = html();
    const scripts = [...page.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)];
    expect(scripts).to.have.length(1);
    for (const [, attrs, body] of scripts) {
      expect(attrs, 'a script from a file').to.match(/\bsrc="\/[\w.-]+"/);
      expect(body, 'no inline code').to.equal('');
    }
    expect(page, 'no <style>').to.not.match(/<style\b/i);
    expect(page, 'no style="" attribute').to.not.match(/\sstyle\s*=/i);
    expect(page, 'no on…="" handler').to.not.match(/\son[a-z]+\s*=/i);
    expect(page, 'no javascript: URL').to.not.match(/javascript:/i);
    // Every file the page refers to is one the view service serves from memory (or data:).
    const d = loadDashboard(dir);
    const refs = [...page.matchAll(/\s(?:src|href)="([^"]*)"/gi)].map((m) => m[1]).filter((r) => !r.startsWith('data:'));
    expect(refs).to.have.members(['/dashboard.css', '/dashboard.js']);
    for (const r of refs) expect(d.assets.has(r), r).to.equal(true);
  });

  it('GET / of a view service that finds no built dashboard answers 404 with what to run; other paths are not its business', () => {
    const handler = dashboardHandler(loadDashboard(path.join(os.tmpdir(), 'understudy-no-such-dir')));
    const answer = { status: 0, body: '' };
    const res = {
      writeHead(status: number) { answer.status = status; return res; },
      end(body?: string) { answer.body = body ?? ''; },
    } as unknown as ServerResponse;
    const get = (url: string) => ({ url, method: 'GET', headers: {} }) as IncomingMessage;
    expect(handler(get('/?token=x'), res)).to.equal(true);
    expect(answer.status).to.equal(404);
    expect(answer.body).to.match(/npm run build/);
    expect(handler(get('/view'), res)).to.equal(false);
  });
});

describe('live dashboard in headless Chromium (issue #4)', function () {
  this.timeout(90_000);
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const stores: Store[] = [];

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
    await killAll();
  });

  async function openDashboard(c: Cluster, options = DESKTOP, query = ''): Promise<{ page: Page; errors: string[] }> {
    const { context, page, errors } = await openPage(browser, options);
    contexts.push(context);
    // Every CSP violation becomes a console error, so `errors` has it (Chromium logs most on its own).
    await page.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`));
    });
    await page.goto(`${c.vs.http}/${query}`);
    return { page, errors };
  }

  async function nodeClient(c: Cluster): Promise<Store> {
    const s = await connect({ view: c.vs.url, timeoutMs: 20_000 });
    stores.push(s);
    return s;
  }

  const text = (page: Page, sel: string) => page.locator(sel).textContent();

  it('shows the view, the replicas and the timeline, and the new view within one second of kill -9 of the primary', async () => {
    const c = await startCluster(3);
    const { page, errors } = await openDashboard(c);
    const before = await waitForView(c.vs, (v) => v.backup !== null && v.acked && v.servers.filter((s) => s.alive).length === 3);
    await page.waitForFunction((v) => document.getElementById('primary')!.textContent === v.primary &&
      document.getElementById('backup')!.textContent === v.backup &&
      document.getElementById('viewnum')!.textContent === String(v.viewnum) &&
      document.querySelectorAll('#servers li .dot.alive').length === 3, before);
    await page.waitForFunction(() => document.getElementById('health')!.textContent === 'acknowledged' && document.getElementById('conn')!.textContent === 'live');
    // Record, in the page, when the primary slot changes.
    await page.evaluate(() => {
      const w = window as W;
      new MutationObserver(() => { w.primaryChangedAt ??= Date.now(); })
        .observe(document.getElementById('primary')!, { childList: true, characterData: true, subtree: true });
    });
    const killedAt = Date.now();
    c.byId(before.primary).child.kill('SIGKILL');
    await page.waitForFunction((v) => document.getElementById('primary')!.textContent === v.backup, before, { polling: 10, timeout: 10_000 });
    const shownAt = await page.evaluate(() => (window as W).primaryChangedAt as number);
    const history = await getJson<{ history: { viewnum: number; primary: string; at: number }[] }>(`${c.vs.http}/view/history`);
    const change = history.history.find((h) => h.viewnum > before.viewnum && h.primary === before.backup)!;
    const killToDom = shownAt - killedAt;
    const vsToDom = shownAt - change.at;
    console.log(`      dashboard: kill -9 → new primary on the page ${killToDom} ms (view service's view change → page ${vsToDom} ms)`);
    expect(killToDom, 'kill -9 → the dashboard shows the new primary (ms)').to.be.below(1000);
    expect(vsToDom).to.be.below(1000);
    expect(Number(await text(page, '#viewnum'))).to.be.greaterThan(before.viewnum);
    expect(await page.locator('#timeline li').first().textContent()).to.include('failover: backup promoted');
    // The killed replica is listed as dead (its link closed), the idle one became backup.
    await page.waitForFunction((id) => Array.from(document.querySelectorAll('#servers li')).some((li) =>
      li.textContent!.includes(id) && li.textContent!.includes('dead') && !li.querySelector('.dot.alive')), before.primary!);
    const after = await waitForView(c.vs, (v) => v.viewnum > before.viewnum && v.backup !== null && v.acked);
    await page.waitForFunction((id) => document.getElementById('backup')!.textContent === id, after.backup);
    expect(errors).to.deep.equal([]);
  });

  it('the key browser watches a prefix: writes by another client appear live with their revision; put and delete from the form', async () => {
    const c = await startCluster(2);
    const writer = await nodeClient(c);
    await writer.put('user:1', 'alice');
    await writer.put('other', 'not shown');
    const { page, errors } = await openDashboard(c, DESKTOP, '?prefix=user:');
    await page.waitForSelector('#kb-put:not([disabled])');
    expect(await page.inputValue('#kb-prefix')).to.equal('user:');
    const live = await page.evaluate(() => typeof (window as W).understudyStore.watch === 'function');
    if (live) {
      // The existing key is replayed; a write from Node shows up live, highlighted.
      await page.waitForSelector('tr[data-key="user:1"]');
      await writer.put('user:2', 'bob');
      const row = page.locator('tr[data-key="user:2"]');
      await row.waitFor();
      expect(await row.locator('td.v').textContent()).to.equal('bob');
      const rev = Number(await row.locator('td.r').textContent());
      expect(rev).to.be.greaterThan(0);
      // A change is highlighted, and shows the new revision.
      await page.evaluate(() => document.querySelector('tr[data-key="user:2"]')!.classList.remove('flash'));
      await writer.put('user:2', 'bobby');
      await page.waitForFunction(() => document.querySelector('tr[data-key="user:2"] td.v')!.textContent === 'bobby');
      expect(await row.getAttribute('class')).to.include('flash');
      expect(Number(await row.locator('td.r').textContent())).to.equal(rev + 1);
      expect(await page.locator('tr[data-key="other"]').count(), 'outside the prefix').to.equal(0);
    } else {
      expect(await text(page, '#kb-notice')).to.match(/no live watch/);
    }
    // Put from the form: replicated (Node reads it), and listed.
    await page.fill('#kb-key', 'user:3');
    await page.fill('#kb-value', 'carol <b>not html</b>');
    await page.click('#kb-put');
    await page.waitForFunction(() => /replicated/.test(document.getElementById('kb-msg')!.textContent!));
    expect(await writer.get('user:3')).to.equal('carol <b>not html</b>');
    await page.waitForSelector('tr[data-key="user:3"]');
    expect(await page.locator('tr[data-key="user:3"] td.v').textContent(), 'shown as text').to.equal('carol <b>not html</b>');
    expect(await page.locator('tr[data-key="user:3"] b').count()).to.equal(0);
    // Keys are ordered.
    const keys = await page.locator('tr[data-key]').evaluateAll((trs) => trs.map((t) => (t as HTMLElement).dataset.key));
    expect(keys).to.deep.equal([...keys].sort());
    // Delete from the form: gone from the store, struck out and then removed from the table.
    await page.click('#kb-del');
    await page.waitForFunction(() => /deleted/.test(document.getElementById('kb-msg')!.textContent!));
    expect(await writer.get('user:3')).to.equal(null);
    await page.waitForSelector('tr[data-key="user:3"]', { state: 'detached', timeout: 5000 });
    // Clicking a row fills the form.
    if (live) {
      await page.click('tr[data-key="user:1"]');
      expect(await page.inputValue('#kb-key')).to.equal('user:1');
      expect(await page.inputValue('#kb-value')).to.equal('alice');
    }
    expect(errors).to.deep.equal([]);
  });

  it('the key browser pages through list 100 keys at a time (next, previous), and keeps the page shown live (SPEC §10)', async function () {
    const c = await startCluster(1);
    const writer = await nodeClient(c);
    const key = (i: number) => `k:${String(i).padStart(4, '0')}`;
    await Promise.all(Array.from({ length: 250 }, (_, i) => writer.put(key(i), String(i))));
    const { page, errors } = await openDashboard(c, DESKTOP, '?prefix=k:');
    await page.waitForSelector('#kb-put:not([disabled])');
    if (!(await page.evaluate(() => typeof (window as W).understudyStore.list === 'function'))) this.skip();
    const shown = () => page.locator('tr[data-key]').evaluateAll((trs) => trs.map((t) => (t as HTMLElement).dataset.key));
    const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => key(from + i));
    await page.waitForFunction(() => document.querySelectorAll('tr[data-key]').length === 100);
    expect(await shown()).to.deep.equal(range(0, 100));
    expect(await page.locator('#kb-prev').isDisabled()).to.equal(true);
    await page.click('#kb-next');
    await page.waitForSelector('tr[data-key="k:0100"]');
    expect(await shown()).to.deep.equal(range(100, 200));
    expect(await text(page, '#kb-count')).to.match(/100 keys on page 2/);
    // Live inside the page's range; a write outside it (page 1's key) does not appear.
    await writer.put('k:0150', 'changed');
    await writer.put('k:0150x', 'new in range');
    await writer.put('k:0001', 'outside');
    await page.waitForFunction(() => document.querySelector('tr[data-key="k:0150"] td.v')?.textContent === 'changed');
    await page.waitForSelector('tr[data-key="k:0150x"]');
    expect(await page.locator('tr[data-key="k:0001"]').count()).to.equal(0);
    await page.click('#kb-next');
    await page.waitForSelector('tr[data-key="k:0249"]');
    expect(await shown()).to.deep.equal(range(200, 250));
    expect(await page.locator('#kb-next').isDisabled(), 'the last page').to.equal(true);
    await page.click('#kb-prev');
    await page.waitForSelector('tr[data-key="k:0100"]');
    expect(await shown(), 'listed again: k:0150x now on it, k:0199 moved on').to.deep.equal([...range(100, 151), 'k:0150x', ...range(151, 199)]);
    await page.click('#kb-prev');
    await page.waitForSelector('tr[data-key="k:0000"]');
    expect(await page.locator('tr[data-key="k:0001"] td.v').textContent()).to.equal('outside');
    expect(errors).to.deep.equal([]);
  });

  it('fits a phone screen and a desktop (no sideways scrolling); screenshots in test-artifacts/', async () => {
    const c = await startCluster(3);
    const writer = await nodeClient(c);
    const seed: [string, string][] = [
      ['user:1', 'alice'],
      ['user:2', 'bob'],
      ['cart:17', JSON.stringify({ items: [{ sku: 'A-100', qty: 2 }, { sku: 'B-7', qty: 1 }], note: 'leave at the door' })],
      ['session:9f2c', 'expires 2025-12-01T10:00:00Z'],
      ['feature:dark-mode', 'on'],
    ];
    for (const [k, v] of seed) await writer.put(k, v);
    // One failover, so the timeline has a story to tell.
    const v0 = await getJson<ViewStatus>(`${c.vs.http}/view`);
    c.byId(v0.primary).child.kill('SIGKILL');
    await waitForView(c.vs, (v) => v.viewnum > v0.viewnum && v.backup !== null && v.acked);
    await writer.put('user:2', 'bobby');
    for (const [name, options] of [['desktop', DESKTOP], ['phone', PHONE]] as const) {
      const { page, errors } = await openDashboard(c, options);
      await page.waitForSelector('#kb-put:not([disabled])');
      const live = await page.evaluate(() => typeof (window as W).understudyStore.watch === 'function');
      if (live) await page.waitForFunction((n) => document.querySelectorAll('tr[data-key]').length >= n, seed.length);
      await page.waitForFunction(() => document.querySelectorAll('#timeline li').length >= 3 && document.querySelectorAll('#servers li').length === 3);
      await writer.put('feature:dark-mode', 'off'); // one row highlighted in the picture
      if (live) await page.waitForFunction(() => document.querySelector('tr[data-key="feature:dark-mode"] td.v')!.textContent === 'off');
      await page.fill('#kb-key', 'user:2');
      await page.fill('#kb-value', 'bobby');
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow, `${name}: page wider than the screen by ${overflow}px`).to.be.at.most(0);
      if (name === 'phone') {
        // Readable: the body text is not shrunk, and the buttons are large enough to tap.
        const fontPx = await page.evaluate(() => parseFloat(getComputedStyle(document.body).fontSize));
        expect(fontPx).to.be.at.least(14);
        const heights = await page.locator('#kb-edit button').evaluateAll((bs) => bs.map((b) => b.getBoundingClientRect().height));
        for (const h of heights) expect(h).to.be.at.least(36);
      }
      await page.evaluate(() => { (document.activeElement as HTMLElement | null)?.blur(); window.scrollTo(0, 0); });
      const file = await screenshot(page, `dashboard-${name}.png`);
      console.log(`      screenshot: ${file}`);
      expect(errors, name).to.deep.equal([]);
    }
  });
});
