/**
 * The live dashboard served at `GET /` (SPEC §5): the current view, every replica with its
 * liveness and last-ping age, a timeline of view changes, and a key browser. One page from
 * this server alone: it subscribes over WebSocket on the same host (SPEC §6, path `/`) for
 * pushes, and polls `GET /view` every 500 ms for liveness; `GET /view/history` seeds the
 * timeline with the changes before the page was opened.
 *
 * The page is real files, server/viewservice/dashboard/ (dashboard.html, dashboard.css and
 * dashboard.ts with its modules), bundled by scripts/build-browser.js into dist/dashboard/
 * and read once here at startup, like the browser client (browser-bundle.ts). The key
 * browser imports the client from this server's `/understudy.js`; it talks to the replicas
 * directly, so the CSP allows WebSocket connections to any host (`ws:`/`wss:`: replicas
 * listen on other ports and hosts).
 *
 * Everything that comes from the network (replica ids, keys and values) is put in the page
 * with textContent, never as HTML. The page has no inline script or style at all: the
 * Content-Security-Policy allows scripts and styles from 'self' only.
 */
import * as path from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pathOf } from '../metrics';
import { readAssets, distDir, refuseMethod, sendAsset, type Asset, type AssetFiles } from './static-assets';

/** The URL paths of the dashboard, and the file in dist/dashboard/ each one is. */
const FILES: AssetFiles = {
  '/': { file: 'dashboard.html', type: 'text/html; charset=utf-8' },
  '/dashboard.js': { file: 'dashboard.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard.css': { file: 'dashboard.css', type: 'text/css; charset=utf-8' },
};

/** The Content-Security-Policy sent with the page. */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  // The page's script and style (/dashboard.js, /dashboard.css) and the client module the
  // key browser imports (/understudy.js): from this server, never inline.
  "script-src 'self'",
  "style-src 'self'",
  // The view service over ws/wss on this host (older browsers don't match ws: with 'self'),
  // and the key browser's links to the replicas, which listen on other ports and hosts.
  "connect-src 'self' ws: wss:",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** The dashboard as loaded at startup. */
export interface Dashboard {
  readonly dir: string;
  readonly assets: ReadonlyMap<string, Asset>;
}

/** dist/dashboard/, from the build or from source (see distDir). */
export function defaultDashboardDir(): string {
  return distDir('dashboard', 'dashboard.html');
}

/** Read the dashboard's files once. Missing files are absent (answered 404 with what to run). */
export function loadDashboard(dir: string = defaultDashboardDir()): Dashboard {
  return { dir, assets: readAssets(dir, FILES) };
}

/** True when every file of the page was found. */
export function dashboardComplete(d: Dashboard): boolean {
  return Object.keys(FILES).every((p) => d.assets.has(p));
}

/**
 * An HTTP handler (ws-server's `http` list) for `/`, `/dashboard.js` and `/dashboard.css`;
 * false for any other path. The page is never cached (a new view service version shows at
 * once); its script and style are revalidated every time, which costs a 304.
 */
export function dashboardHandler(d: Dashboard): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    const p = pathOf(req);
    if (!Object.prototype.hasOwnProperty.call(FILES, p)) return false;
    if (refuseMethod(req, res)) return true;
    const asset = d.assets.get(p);
    if (!asset) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
      res.end(`the dashboard is not built: the view service found no ${path.join(d.dir, FILES[p].file)} at startup. ` +
        'Run `npm run build` (it runs scripts/build-browser.js) and restart the view service.\n');
      return true;
    }
    const headers: Record<string, string> = { 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' };
    if (p === '/') {
      headers['cache-control'] = 'no-store';
      headers['content-security-policy'] = DASHBOARD_CSP;
    } else {
      headers['cache-control'] = 'no-cache';
    }
    sendAsset(req, res, asset, headers);
    return true;
  };
}
