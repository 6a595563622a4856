/**
 * SPEC §11 in headless Chromium: a page holding alice's JWT (from a token function, as a real
 * page would fetch it) writes and reads her own keys, and can neither read nor watch bob's.
 */
import { expect } from 'chai';
import type { Browser, BrowserContext } from 'playwright-core';
import { killAll } from '../support/processes';
import { startCluster } from '../support/cluster';
import { launchChromium, openPage, servePage, clientPage } from '../support/browser';
import { JWT_SECRET, tokenFor, rulesFile } from '../support/jwt';
import { connect } from '../../client/node';
import type { Store } from '../../client/store';

/* eslint-disable @typescript-eslint/no-explicit-any */
type W = Window & typeof globalThis & { understudy: any; [k: string]: any };

describe('browser: a page with alice\'s token (SPEC §11)', function () {
  this.timeout(90_000);
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const stores: Store[] = [];
  const closers: (() => Promise<void>)[] = [];

  before(async function () {
    this.timeout(60_000);
    browser = await launchChromium();
  });
  after(async () => { await browser?.close(); });
  afterEach(async () => {
    await Promise.all(contexts.splice(0).map((c) => c.close().catch(() => {})));
    await Promise.all(stores.splice(0).map((s) => s.close().catch(() => {})));
    await Promise.all(closers.splice(0).map((f) => f().catch(() => {})));
    await killAll();
  });

  it('cannot read or watch bob\'s keys, and can write its own (SPEC §11)', async () => {
    const c = await startCluster(2, { env: { UNDERSTUDY_JWT_SECRET: JWT_SECRET, UNDERSTUDY_RULES: rulesFile() } });
    const bob = await connect({ view: c.vs.url, timeoutMs: 5000, token: await tokenFor('bob') });
    stores.push(bob);
    await bob.put('user:bob:secret', 'bob only');

    const site = await servePage(clientPage(`${c.vs.http}/understudy.js`));
    closers.push(site.close);
    const { context, page } = await openPage(browser);
    contexts.push(context);
    await page.goto(site.url);
    await page.waitForFunction(() => (window as W).clientReady === true);
    const aliceToken = await tokenFor('alice');
    const out = await page.evaluate(async ({ view, token }) => {
      const w = window as W;
      const s = await w.understudy.connect({ view, timeoutMs: 5000, token: async () => token });
      const errors: string[] = [];
      s.on('error', (e: { code: string }) => errors.push(e.code));
      const seen: string[] = [];
      s.watch('user:bob:*', (e: { key: string }) => seen.push(e.key));
      s.watch('user:*', (e: { key: string }) => seen.push(e.key));
      s.watch('user:alice:*', (e: { key: string }) => seen.push(e.key));
      const code = (p: Promise<unknown>): Promise<string> => p.then(() => 'ok', (e: { code: string }) => e.code);
      const own = await code(s.put('user:alice:note', 'mine'));
      const readOwn = await s.get('user:alice:note');
      const readBob = await code(s.get('user:bob:secret'));
      const writeBob = await code(s.put('user:bob:secret', 'pwned'));
      await new Promise((r) => setTimeout(r, 300));
      s.close();
      return { own, readOwn, readBob, writeBob, errors, seen };
    }, { view: c.vs.url, token: aliceToken });
    expect(out.own).to.equal('ok');
    expect(out.readOwn).to.equal('mine');
    expect(out.readBob).to.equal('UNAUTHORIZED');
    expect(out.writeBob).to.equal('UNAUTHORIZED');
    expect(out.errors).to.deep.equal(['UNAUTHORIZED', 'UNAUTHORIZED']); // both watches reaching bob's keys
    expect(out.seen).to.deep.equal(['user:alice:note']);
    expect(await bob.get('user:bob:secret')).to.equal('bob only');
  });
});
