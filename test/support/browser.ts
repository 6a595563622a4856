/**
 * Headless Chromium for the browser tests (issue #4), driven by playwright-core. The browser
 * is the system's (Debian's `chromium`, which .ci/run installs): nothing is downloaded.
 * When it is missing, launching fails at once with what to install, never hangs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';

/** Where the browser is: $CHROMIUM_PATH if set (and only it), else the first of the usual Debian/Ubuntu paths that exists. */
export function chromiumPath(): string | null {
  const candidates = process.env.CHROMIUM_PATH ? [process.env.CHROMIUM_PATH] : ['/usr/bin/chromium', '/usr/bin/chromium-browser'];
  return candidates.find((p) => fs.existsSync(p)) ?? null;
}

export const ARTIFACTS = path.resolve(__dirname, '..', '..', 'test-artifacts');

/** Launch headless Chromium; rejects with a clear message if it is not installed or does not start in time. */
export async function launchChromium(timeoutMs = 30_000): Promise<Browser> {
  const executablePath = chromiumPath();
  if (executablePath === null) {
    throw new Error(`Chromium not found (looked at ${process.env.CHROMIUM_PATH ?? '/usr/bin/chromium, /usr/bin/chromium-browser'}): ` +
      'install it with `apt-get install chromium` (.ci/run does) or set CHROMIUM_PATH. The browser tests never download a browser.');
  }
  const { chromium } = await import('playwright-core');
  try {
    return await chromium.launch({
      executablePath,
      timeout: timeoutMs,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    });
  } catch (err) {
    throw new Error(`Chromium at ${executablePath} did not start within ${timeoutMs} ms: ${(err as Error).message.split('\n')[0]}`);
  }
}

/**
 * A new context and page whose console errors and uncaught exceptions are collected (a test
 * can assert there were none) and echoed when BROWSER_LOG is set.
 */
export async function openPage(browser: Browser, options: Parameters<Browser['newContext']>[0] = {}): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (process.env.BROWSER_LOG) console.log(`[browser ${msg.type()}] ${msg.text()}`);
    // The browser itself logs every refused WebSocket (a killed replica, before the new
    // view arrives): expected during failover, not an error of the page.
    if (msg.type() === 'error' && !/^WebSocket connection to .* failed/.test(msg.text())) {
      errors.push(`console.error: ${msg.text()} (${msg.location().url})`);
    }
  });
  return { context, page, errors };
}

/** Save a screenshot under test-artifacts/ (git-ignored); returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, name);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/**
 * A tiny HTTP server for a test page (another origin than the view service, like a real
 * web app): GET / answers `html`. Resolves to its base URL and a close function.
 */
export async function servePage(html: string): Promise<{ url: string; close(): Promise<void> }> {
  const http = await import('node:http');
  const server = http.createServer((req, res) => {
    if (req.url === '/' || req.url?.startsWith('/?')) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(html);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as import('node:net').AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

/** A page that imports the browser client from `bundleUrl` as an ES module and exposes it as `window.understudy`. */
export function clientPage(bundleUrl: string): string {
  return `<!doctype html><meta charset="utf-8"><title>understudy browser test</title><link rel="icon" href="data:,">
<script type="module">
import * as understudy from ${JSON.stringify(bundleUrl)};
window.understudy = understudy;
window.clientReady = true;
</script>`;
}
