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
import * as path from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pathOf } from '../metrics';
import { readAssets, distDir, refuseMethod, sendAsset, type Asset, type AssetFiles } from './static-assets';

/** The URL paths served, and the file in dist/browser/ each one is. */
const FILES: AssetFiles = {
  '/understudy.js': { file: 'understudy.js', type: 'text/javascript; charset=utf-8' },
  '/understudy.min.js': { file: 'understudy.min.js', type: 'text/javascript; charset=utf-8' },
  '/understudy.js.map': { file: 'understudy.js.map', type: 'application/json; charset=utf-8' },
  '/understudy.min.js.map': { file: 'understudy.min.js.map', type: 'application/json; charset=utf-8' },
};

/** Seconds a browser may use its copy without asking again. */
const MAX_AGE_S = 300;

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
  return distDir('browser', 'understudy.js');
}

/** Read the bundle's files once. Missing files are simply absent (answered 404). */
export function loadBrowserBundle(dir: string = defaultBundleDir()): BrowserBundle {
  return { dir, assets: readAssets(dir, FILES) };
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
    if (refuseMethod(req, res)) return true;
    const asset = bundle.assets.get(p);
    if (!asset) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', 'access-control-allow-origin': '*' });
      res.end(`${p} is not built: the view service found no ${path.join(bundle.dir, FILES[p].file)} at startup. ` +
        'Run `npm run build` (it runs scripts/build-browser.js) and restart the view service.\n');
      return true;
    }
    sendAsset(req, res, asset, {
      'cache-control': `public, max-age=${MAX_AGE_S}`,
      'access-control-allow-origin': '*',
      'cross-origin-resource-policy': 'cross-origin',
      'x-content-type-options': 'nosniff',
    });
    return true;
  };
}
