#!/usr/bin/env node
/**
 * The browser build of the client (issue #4, SPEC §7): one ESM bundle of client/index.ts
 * with esbuild, for browsers and bundlers, plus a minified copy.
 *
 *   dist/browser/understudy.js        ESM, readable, with a source map
 *   dist/browser/understudy.min.js    ESM, minified, with a source map
 *   dist/browser/package.json         {"type":"module"}: the .js files are ESM to Node and bundlers too
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
    target: ['es2020', 'chrome90', 'firefox90', 'safari15'],
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

async function main() {
  fs.mkdirSync(outdir, { recursive: true });
  fs.writeFileSync(path.join(outdir, 'package.json'), '{\n  "type": "module"\n}\n');
  const plain = await bundle({ minify: false, outfile: path.join(outdir, 'understudy.js') });
  const min = await bundle({ minify: true, outfile: path.join(outdir, 'understudy.min.js') });
  const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
  console.log(`browser bundle: dist/browser/understudy.js (${kib(plain)}), understudy.min.js (${kib(min)})`);
}

module.exports = { bundle, noNode };

if (require.main === module) main().catch((err) => {
  // esbuild's own errors carry their messages in err.errors; print them plainly.
  const errors = err && Array.isArray(err.errors) && err.errors.length > 0
    ? err.errors.map((e) => `  ${e.location ? `${e.location.file}:${e.location.line}: ` : ''}${e.text}`).join('\n')
    : `  ${err && err.message ? err.message : String(err)}`;
  console.error(`build-browser: failed\n${errors}`);
  process.exit(1);
});
