/**
 * `GET /understudy.js` on the view service (issue #4): the browser client's ESM bundle
 * (built by scripts/build-browser.js into dist/browser/), so a page can do
 *
 *   <script type="module">
 *     import { connect } from 'http://VIEW:7000/understudy.js';
 *   </script>
 *
 * The files are read once, when the view service starts; a checkout that was never built
 * answers 404 with what to run. Served with CORS (module scripts are fetched in CORS mode,
 * so a page on another origin needs `access-control-allow-origin`), a strong ETag and a
 * short max-age: the URL does not change between versions, so caches revalidate often and
 * a 304 costs nothing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pathOf } from '../metrics';

/** The URL paths served, and the file in dist/browser/ each one is. */
const FILES: Record<string, { file: string; type: string }> = {
  '/understudy.js': { file: 'understudy.js', type: 'text/javascript; charset=utf-8' },
  '/understudy.min.js': { file: 'understudy.min.js', type: 'text/javascript; charset=utf-8' },
  '/understudy.js.map': { file: 'understudy.js.map', type: 'application/json; charset=utf-8' },
  '/understudy.min.js.map': { file: 'understudy.min.js.map', type: 'application/json; charset=utf-8' },
};

/** Seconds a browser may use its copy without asking again. */
const MAX_AGE_S = 300;

interface Asset { body: Buffer; type: string; etag: string }

/** The browser bundle as loaded at startup: the files found, or why there are none. */
export interface BrowserBundle {
  readonly dir: string;
  readonly assets: ReadonlyMap<string, Asset>;
}

/**
 * dist/browser/ seen from this file: dist/server/viewservice/ in the build, and
 * server/viewservice/ when run from source with ts-node.
 */
export function defaultBundleDir(): string {
  const fromDist = path.resolve(__dirname, '..', '..', 'browser');
  const fromSource = path.resolve(__dirname, '..', '..', 'dist', 'browser');
  return fs.existsSync(path.join(fromDist, 'understudy.js')) ? fromDist : fromSource;
}

/** Read the bundle's files once. Missing files are simply absent (answered 404). */
export function loadBrowserBundle(dir: string = defaultBundleDir()): BrowserBundle {
  const assets = new Map<string, Asset>();
  for (const [urlPath, { file, type }] of Object.entries(FILES)) {
    let body: Buffer;
    try {
      body = fs.readFileSync(path.join(dir, file));
    } catch {
      continue;
    }
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;
    assets.set(urlPath, { body, type, etag });
  }
  return { dir, assets };
}

/** An HTTP handler (ws-server's `http` list) for the bundle's paths; false for any other path. */
export function browserBundleHandler(bundle: BrowserBundle): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    const p = pathOf(req);
    if (!Object.prototype.hasOwnProperty.call(FILES, p)) return false;
    if (req.method === 'OPTIONS') {
      // A preflight is not needed for a plain GET, but answer one politely if it comes.
      res.writeHead(204, { 'access-control-allow-origin': '*', 'access-control-allow-methods': 'GET, HEAD', 'access-control-max-age': '86400' });
      res.end();
      return true;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
      res.end('method not allowed\n');
      return true;
    }
    const asset = bundle.assets.get(p);
    if (!asset) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', 'access-control-allow-origin': '*' });
      res.end(`${p} is not built: the view service found no ${path.join(bundle.dir, FILES[p].file)} at startup. ` +
        'Run `npm run build` (it runs scripts/build-browser.js) and restart the view service.\n');
      return true;
    }
    const headers = {
      'content-type': asset.type,
      'cache-control': `public, max-age=${MAX_AGE_S}`,
      etag: asset.etag,
      'access-control-allow-origin': '*',
      'cross-origin-resource-policy': 'cross-origin',
      'x-content-type-options': 'nosniff',
    };
    if (etagMatches(req.headers['if-none-match'], asset.etag)) {
      res.writeHead(304, headers);
      res.end();
      return true;
    }
    res.writeHead(200, { ...headers, 'content-length': String(asset.body.length) });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
    return true;
  };
}

/** If-None-Match: `*`, or a comma-separated list of (possibly weak) tags. */
function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((t) => {
    const tag = t.trim();
    return tag === '*' || tag === etag || tag === `W/${etag}`;
  });
}
