#!/usr/bin/env node
/**
 * `npm run example` (from the repository root): the package is built first by the npm
 * script, then this starts `understudy dev` (a view service on 127.0.0.1:7000 and three
 * replicas, logs merged) and the example's Vite dev server on http://127.0.0.1:5173/.
 * Ctrl-C stops both. `VIEW_PORT` and `EXAMPLE_PORT` change the two ports.
 */
'use strict';
const path = require('node:path');
const { spawn } = require('node:child_process');

const root = path.resolve(__dirname, '..', '..');
const viewPort = Number(process.env.VIEW_PORT || 7000);
const examplePort = Number(process.env.EXAMPLE_PORT || 5173);

async function main() {
  const dev = spawn(process.execPath, [path.join(root, 'bin', 'understudy.js'), 'dev', '--port', String(viewPort)], { stdio: 'inherit' });
  const { createServer } = await import('vite');
  const server = await createServer({
    configFile: path.join(__dirname, 'vite.config.ts'),
    server: { port: examplePort, strictPort: true },
  });
  await server.listen();
  const url = `http://127.0.0.1:${examplePort}/` + (viewPort === 7000 ? '' : `?view=ws://127.0.0.1:${viewPort}`);
  console.log(`\n  Understudy React example: ${url}\n  (open it in two windows; Ctrl-C stops the example and the cluster)\n`);
  let stopping = false;
  const stop = async (code) => {
    if (stopping) return;
    stopping = true;
    await server.close();
    if (dev.exitCode === null && dev.signalCode === null) dev.kill('SIGINT');
    dev.once('exit', () => process.exit(code));
    setTimeout(() => process.exit(code), 5000).unref();
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  dev.on('exit', (code) => {
    if (!stopping) {
      console.error(`understudy dev exited (${code}); stopping the example`);
      void stop(1);
    }
  });
}

main().catch((err) => {
  console.error(`example: ${err && err.message ? err.message : err}`);
  process.exit(1);
});
