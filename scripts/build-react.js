#!/usr/bin/env node
/**
 * The ESM build of understudy/react (SPEC §13, issue #15), for browsers and bundlers:
 *
 *   dist/browser/react.js      ESM of client/react/index.ts, readable, with a source map
 *
 * (tsc compiles the same entry to dist/client/react/ for Node and server-side rendering.)
 * `react` stays an import: it is the application's own copy, an optional peer dependency,
 * never bundled. Nothing of the client is bundled either: the hooks take the store the
 * application connected and import its types only, so the bundle may contain only
 * client/react/ code; the build fails otherwise, and on any import of ws or Node.
 *
 * Run after `tsc` and scripts/build-browser.js (which writes dist/browser/package.json,
 * `{"type":"module"}`) by `npm run build`; `node scripts/build-react.js`.
 */
'use strict';
const path = require('node:path');
const fs = require('node:fs');
const esbuild = require('esbuild');
const { noNode } = require('./build-browser');

const root = path.resolve(__dirname, '..');
const entry = path.join(root, 'client', 'react', 'index.ts');
const outfile = path.join(root, 'dist', 'browser', 'react.js');
const ALLOWED_DIR = 'client/react/';
const version = require(path.join(root, 'package.json')).version;

/**
 * Bundle client/react/index.ts into `o.outfile` (default dist/browser/react.js).
 * @param {{ outfile?: string }} [o]
 * @returns {Promise<number>} the bundle's size in bytes
 */
async function bundleReact(o = {}) {
  const out = o.outfile ?? outfile;
  const result = await esbuild.build({
    entryPoints: [entry],
    outfile: out,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2020', 'chrome90', 'firefox90', 'safari15'],
    external: ['react'],
    sourcemap: true,
    legalComments: 'none',
    metafile: true,
    logLevel: 'silent',
    charset: 'utf8',
    banner: { js: `/*! understudy ${version} · React hooks · MIT */` },
    plugins: [noNode],
  });
  const outside = Object.keys(result.metafile.inputs)
    .map((p) => path.relative(root, path.resolve(root, p)).split(path.sep).join('/'))
    .filter((p) => !p.startsWith(ALLOWED_DIR));
  if (outside.length > 0) {
    throw new Error(`understudy/react may bundle only ${ALLOWED_DIR} code (the client and react are the application's); it pulled in: ${outside.join(', ')}`);
  }
  return fs.statSync(out).size;
}

module.exports = { bundleReact };

if (require.main === module) {
  bundleReact().then((size) => {
    console.log(`react bundle: dist/browser/react.js (${(size / 1024).toFixed(1)} KiB)`);
  }, (err) => {
    const errors = err && Array.isArray(err.errors) && err.errors.length > 0
      ? err.errors.map((e) => `  ${e.location ? `${e.location.file}:${e.location.line}: ` : ''}${e.text}`).join('\n')
      : `  ${err && err.message ? err.message : String(err)}`;
    console.error(`build-react: failed\n${errors}`);
    process.exit(1);
  });
}
