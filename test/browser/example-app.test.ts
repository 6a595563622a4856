/**
 * The React example (examples/react-app, issue #15) in headless Chromium: built once with
 * Vite against the package's own builds (dist/browser/understudy.js and react.js, so
 * `npm run build` first, as `npm run test:browser` does), served from a small static
 * server, against an in-process view service and two replicas. Two pages see each other's
 * counter increments and list items live.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium, openPage, screenshot, ARTIFACTS } from '../support/browser';
import { inProcess } from '../support/in-process';

const ROOT = path.resolve(__dirname, '..', '..');
const EXAMPLE = path.join(ROOT, 'examples', 'react-app');
const OUT = path.join(ARTIFACTS, 'example-app');

const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml' };

/** Serve `dir` (GET only; unknown paths 404). */
async function serveDir(dir: string): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const pathname = new URL(req.url ?? '/', 'http://x').pathname;
    const file = path.join(dir, pathname === '/' ? 'index.html' : path.normalize(pathname));
    if (!file.startsWith(dir) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404).end('not found\n');
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

describe('the React example app in headless Chromium (issue #15)', function () {
  this.timeout(120_000);
  let browser: Browser;
  let site: { url: string; close(): Promise<void> };
  const contexts: BrowserContext[] = [];
  const teardown: (() => unknown)[] = [];
  const { startVs, startRep } = inProcess(teardown);

  before(async function () {
    this.timeout(120_000);
    for (const f of ['understudy.js', 'react.js']) {
      if (!fs.existsSync(path.join(ROOT, 'dist', 'browser', f))) throw new Error(`dist/browser/${f} is missing: run \`npm run build\` first`);
    }
    // Built once for the suite: a production build, as a deployed app would be.
    const vite = path.join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js');
    await promisify(execFile)(process.execPath, [vite, 'build', EXAMPLE, '--config', path.join(EXAMPLE, 'vite.config.ts'), '--outDir', OUT, '--emptyOutDir', '--logLevel', 'warn'], { cwd: ROOT });
    site = await serveDir(OUT);
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await site?.close();
  });
  afterEach(async () => {
    await Promise.all(contexts.splice(0).map((c) => c.close().catch(() => {})));
    for (const t of teardown.splice(0).reverse()) await t();
  });

  async function open(view: string): Promise<{ page: Page; errors: string[] }> {
    const { context, page, errors } = await openPage(browser);
    contexts.push(context);
    await page.goto(`${site.url}?view=${encodeURIComponent(view)}`);
    await page.getByTestId('status').filter({ hasText: /^connected/ }).waitFor();
    return { page, errors };
  }

  const count = (page: Page): Promise<string | null> => page.getByTestId('count').textContent();

  it('two pages see each other\'s counter increments and list items live (SPEC §13 hooks in a browser)', async () => {
    const vs = await startVs();
    await startRep(vs);
    await startRep(vs);
    const a = await open(vs.url);
    const b = await open(vs.url);
    await a.page.getByTestId('count').filter({ hasText: '0' }).waitFor();
    await b.page.getByTestId('count').filter({ hasText: '0' }).waitFor();

    for (let i = 0; i < 3; i++) await a.page.getByTestId('increment').click();
    await b.page.getByTestId('count').filter({ hasText: /^3$/ }).waitFor();
    await b.page.getByTestId('increment').click();
    await a.page.getByTestId('count').filter({ hasText: /^4$/ }).waitFor();
    expect(await count(a.page)).to.equal('4');
    expect(await count(b.page)).to.equal('4');

    await b.page.getByTestId('new-item').fill('milk');
    await b.page.getByTestId('new-item').press('Enter');
    await a.page.getByTestId('items').locator('li').filter({ hasText: 'milk' }).waitFor();
    await a.page.getByTestId('new-item').fill('bread');
    await a.page.getByTestId('new-item').press('Enter');
    for (const p of [a.page, b.page]) {
      await p.getByTestId('items').locator('li').nth(1).waitFor();
      expect(await p.getByTestId('items').locator('li').allTextContents()).to.deep.equal(['milk ×', 'bread ×']);
    }
    await screenshot(a.page, 'example-app.png');
    await a.page.getByRole('button', { name: 'remove milk' }).click();
    await b.page.getByTestId('items').locator('li').filter({ hasText: 'milk' }).waitFor({ state: 'detached' });

    expect(a.errors).to.deep.equal([]);
    expect(b.errors).to.deep.equal([]);
  });
});
