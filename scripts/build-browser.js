#!/usr/bin/env node
/**
 * The browser build of the client (issue #4, SPEC §7): one ESM bundle of client/index.ts
 * with esbuild, for browsers and bundlers, plus a minified copy.
 *
 *   dist/browser/understudy.js        ESM, readable, with a source map
 *   dist/browser/understudy.min.js    ESM, minified, with a source map
 *   dist/browser/package.json         {"type":"module"}: the .js files are ESM to Node and bundlers too
 *
 * and the view service's dashboard (SPEC §5) from server/viewservice/dashboard/:
 *
 *   dist/dashboard/dashboard.html     the page, copied as is (no inline script or style: the CSP forbids them)
 *   dist/dashboard/dashboard.js       the page's script (dashboard.ts and its modules), ESM, readable
 *   dist/dashboard/dashboard.css      the page's style
 *
 * The dashboard imports the client at run time from the view service's /understudy.js
 * (kept external here), so the page works without it; its bundle may contain only the
 * dashboard's own sources.
 *
 * The bundle must not contain `ws` or anything from Node (STYLE §10). esbuild's
 * `platform: 'browser'` already refuses Node built-ins it cannot resolve; on top of that a
 * plugin fails the build on any import of `ws`, `node:*` or a built-in module name, and the
 * metafile is checked so that every input comes from client/ or common/ (no package from
 * node_modules at all: the client has no runtime dependency in browsers).
 *
 * Run after `tsc` by `npm run build` and `prepare`; `node scripts/build-browser.js`.
 */
'use strict';
const path = require('node:path');
const fs = require('node:fs');
const { builtinModules } = require('node:module');
const esbuild = require('esbuild');

const root = path.resolve(__dirname, '..');
const outdir = path.join(root, 'dist', 'browser');
const entry = path.join(root, 'client', 'index.ts');
/** Every input of the bundle must be under one of these (relative to the repo root). */
const ALLOWED_DIRS = ['client/', 'common/'];
/** What the browser bundle must never import. */
const FORBIDDEN = new Set(['ws', ...builtinModules]);

const version = require(path.join(root, 'package.json')).version;
const TARGET = ['es2020', 'chrome90', 'firefox90', 'safari15'];
const dashboardSrc = path.join(root, 'server', 'viewservice', 'dashboard');
const dashboardOut = path.join(root, 'dist', 'dashboard');
/** The client as the dashboard imports it: from the view service at run time, never bundled. */
const CLIENT_URL = '/understudy.js';

/** Fails the build on `ws`, `node:*` or a Node built-in, naming the importer. */
const noNode = {
  name: 'understudy-no-node',
  setup(build) {
    build.onResolve({ filter: /.*/ }, (args) => {
      const spec = args.path;
      const bare = spec.startsWith('node:') ? spec.slice(5) : spec;
      const top = bare.split('/')[0];
      if (spec.startsWith('node:') || FORBIDDEN.has(bare) || FORBIDDEN.has(top)) {
        return {
          errors: [{
            text: `the browser bundle must not import "${spec}" (from ${path.relative(root, args.importer) || args.importer}): ` +
              'client/ and common/ are isomorphic (STYLE §10); only client/node.ts may use ws or Node modules',
          }],
        };
      }
      return undefined;
    });
  },
};

/**
 * Bundle `o.entry` (default client/index.ts) into `o.outfile`. Rejects if the bundle would
 * import ws or Node, or contain code from outside client/ and common/.
 * @param {{ minify: boolean, outfile: string, entry?: string }} o
 * @returns {Promise<number>} the bundle's size in bytes
 */
async function bundle(o) {
  const result = await esbuild.build({
    entryPoints: [o.entry ?? entry],
    outfile: o.outfile,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: TARGET,
    minify: o.minify,
    sourcemap: true,
    legalComments: 'none',
    metafile: true,
    logLevel: 'silent',
    charset: 'utf8',
    banner: { js: `/*! understudy ${version} · browser client · MIT */` },
    plugins: [noNode],
  });
  const outside = Object.keys(result.metafile.inputs)
    .map((p) => path.relative(root, path.resolve(root, p)).split(path.sep).join('/'))
    .filter((p) => !ALLOWED_DIRS.some((d) => p.startsWith(d)));
  if (outside.length > 0) {
    throw new Error(`the browser bundle may contain only client/ and common/ code; it pulled in: ${outside.join(', ')}`);
  }
  return fs.statSync(o.outfile).size;
}

/** Leaves `import('/understudy.js')` for the browser to resolve against the view service. */
const clientFromServer = {
  name: 'understudy-client-from-server',
  setup(build) {
    build.onResolve({ filter: /^\/understudy\.js$/ }, (args) => ({ path: args.path, external: true }));
  },
};

/**
 * Bundle the dashboard into `outdir` (default dist/dashboard/): its script and style with
 * esbuild, and the page copied next to them. Rejects if the script would bundle anything
 * from outside server/viewservice/dashboard/ (the client in particular) or from Node.
 * @param {{ outdir?: string }} [o]
 * @returns {Promise<string[]>} the files written
 */
async function bundleDashboard(o = {}) {
  const outdir = o.outdir ?? dashboardOut;
  fs.mkdirSync(outdir, { recursive: true });
  const result = await esbuild.build({
    entryPoints: [path.join(dashboardSrc, 'dashboard.ts'), path.join(dashboardSrc, 'dashboard.css')],
    outdir,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: TARGET,
    legalComments: 'none',
    metafile: true,
    logLevel: 'silent',
    charset: 'utf8',
    plugins: [clientFromServer, noNode],
  });
  const dir = path.relative(root, dashboardSrc).split(path.sep).join('/') + '/';
  const outside = Object.keys(result.metafile.inputs)
    .map((p) => path.relative(root, path.resolve(root, p)).split(path.sep).join('/'))
    .filter((p) => !p.startsWith(dir));
  if (outside.length > 0) throw new Error(`the dashboard may bundle only ${dir} (it imports the client from ${CLIENT_URL}); it pulled in: ${outside.join(', ')}`);
  fs.copyFileSync(path.join(dashboardSrc, 'dashboard.html'), path.join(outdir, 'dashboard.html'));
  return ['dashboard.html', 'dashboard.js', 'dashboard.css'].map((f) => path.join(outdir, f));
}

async function main() {
  fs.mkdirSync(outdir, { recursive: true });
  fs.writeFileSync(path.join(outdir, 'package.json'), '{\n  "type": "module"\n}\n');
  const plain = await bundle({ minify: false, outfile: path.join(outdir, 'understudy.js') });
  const min = await bundle({ minify: true, outfile: path.join(outdir, 'understudy.min.js') });
  const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
  console.log(`browser bundle: dist/browser/understudy.js (${kib(plain)}), understudy.min.js (${kib(min)})`);
  const files = await bundleDashboard();
  console.log(`dashboard: ${files.map((f) => `${path.relative(root, f)} (${kib(fs.statSync(f).size)})`).join(', ')}`);
}

module.exports = { bundle, bundleDashboard, noNode };

if (require.main === module) main().catch((err) => {
  // esbuild's own errors carry their messages in err.errors; print them plainly.
  const errors = err && Array.isArray(err.errors) && err.errors.length > 0
    ? err.errors.map((e) => `  ${e.location ? `${e.location.file}:${e.location.line}: ` : ''}${e.text}`).join('\n')
    : `  ${err && err.message ? err.message : String(err)}`;
  console.error(`build-browser: failed\n${errors}`);
  process.exit(1);
});
