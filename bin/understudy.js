#!/usr/bin/env node
'use strict';
// The `understudy` executable (SPEC §4): loads the CLI compiled into dist/ by `npm install`.
let cli;
try {
  cli = require('../dist/server/cli/index.js');
} catch (err) {
  if (err && err.code === 'MODULE_NOT_FOUND' && /dist[\\/]server[\\/]cli[\\/]index/.test(String(err.message))) {
    process.stderr.write('understudy: dist/ is missing; run `npm install` (or `npm run build`) in the package first\n');
    process.exit(1);
  }
  throw err;
}
cli.main(process.argv.slice(2)).then(
  (code) => { if (typeof code === 'number') process.exitCode = code; },
  (err) => { process.stderr.write(`understudy: ${err && err.stack || err}\n`); process.exit(1); },
);
