/**
 * The dashboard's list of view-service instances (SPEC §12, issue #14) in headless Chromium,
 * against two real `understudy view --etcd` processes on a private etcd: every instance is
 * listed with the leader marked, on a follower's dashboard too, and after kill -9 of the
 * leader the list shows the other instance leading. Without --etcd the section stays hidden.
 */
import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { spawnView, getJson, killAll, waitFor, type ViewProc } from '../support/processes';
import { startEtcd, stopAllEtcd, checkHistory, type EtcdCluster } from '../support/etcd';
import { launchChromium, openPage, screenshot } from '../support/browser';

type HaStatus = { role?: 'leader' | 'follower'; viewnum: number };

/** The page's instance rows: [URL, leading?]. */
function rows(page: Page): Promise<[string, boolean][]> {
  return page.evaluate(() => Array.from(document.querySelectorAll('#instances li[data-leading]'))
    .map((li) => [li.querySelector('a')!.textContent!, (li as HTMLElement).dataset.leading === 'true'] as [string, boolean]));
}

describe('dashboard: the view-service instances on etcd and who leads (SPEC §12)', function () {
  this.timeout(90_000);
  let browser: Browser;
  let etcd: EtcdCluster | null = null;
  const contexts: BrowserContext[] = [];

  before(async () => { browser = await launchChromium(); });
  after(async () => { await browser?.close(); });
  afterEach(async () => {
    await Promise.all(contexts.splice(0).map((c) => c.close().catch(() => {})));
    await killAll();
    await etcd?.stop();
    etcd = null;
    await stopAllEtcd();
  });

  async function open(url: string): Promise<{ page: Page; errors: string[] }> {
    const { context, page, errors } = await openPage(browser, { viewport: { width: 1280, height: 860 } });
    contexts.push(context);
    await page.goto(url);
    return { page, errors };
  }

  it("lists every instance with the leader marked, on a follower's dashboard too, and the new leader after kill -9 of the leader", async () => {
    etcd = await startEtcd();
    const prefix = '/understudy/dash';
    const env = { UNDERSTUDY_ETCD: etcd.endpoints, UNDERSTUDY_ETCD_PREFIX: prefix, UNDERSTUDY_LEASE_TTL: '2' };
    const a: ViewProc = await spawnView({ pingInterval: 50, env });
    await waitFor('a leads', async () => (await getJson<HaStatus>(`${a.http}/view`)).role === 'leader', 10_000);
    const b: ViewProc = await spawnView({ pingInterval: 50, env });
    const { page, errors } = await open(`${b.http}/`);
    await page.waitForFunction(() => document.querySelectorAll('#instances li[data-leading]').length === 2, undefined, { timeout: 10_000 });
    expect(await rows(page)).to.deep.equal([[a.url, true], [b.url, false]]);
    expect(await page.locator('#instances-section').isVisible()).to.equal(true);
    expect(await page.locator('#instances li', { hasText: 'this instance' }).locator('a').textContent()).to.equal(b.url);
    await screenshot(page, 'dashboard-instances.png');

    await a.kill('SIGKILL');
    await page.waitForFunction((url) => {
      const li = Array.from(document.querySelectorAll('#instances li[data-leading]'));
      return li.length === 1 && li[0].querySelector('a')!.textContent === url && (li[0] as HTMLElement).dataset.leading === 'true';
    }, b.url, { timeout: 15_000, polling: 100 });
    expect(errors).to.deep.equal([]);
    // A ping at the new leader forms view 1, for the history check.
    const { WebSocket } = await import('ws');
    const ws = new WebSocket(b.url);
    await new Promise((r) => ws.once('open', r));
    ws.send(JSON.stringify({ type: 'ping', id: 'ws://127.0.0.1:1', incarnation: 'x', viewnum: 0 }));
    await waitFor('view 1', async () => (await getJson<HaStatus>(`${b.http}/view`)).viewnum === 1, 10_000);
    ws.terminate();
    await checkHistory(etcd, prefix);
  });

  it('without --etcd the section stays hidden (GET /instances is 404)', async () => {
    const vs = await spawnView({ pingInterval: 50 });
    const { page, errors } = await open(`${vs.http}/`);
    await page.waitForFunction(() => document.getElementById('conn')!.textContent !== 'connecting…');
    await new Promise((r) => setTimeout(r, 500)); // the first poll of /instances answered
    expect(await page.locator('#instances-section').isVisible()).to.equal(false);
    expect(errors.filter((e) => !/404/.test(e))).to.deep.equal([]);
  });
});
