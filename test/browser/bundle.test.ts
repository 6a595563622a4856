/**
 * The browser build and the package's entry points (issue #4, SPEC §7): the ESM bundle in
 * dist/browser/ has no `ws` and nothing from Node; `understudy/client` resolves to the Node
 * build in Node and to the bundle in browser bundlers; the view service serves the bundle.
 * Needs `npm run build` (npm test runs it first). No browser here: see client.test.ts.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as http from 'node:http';
import { execFileSync } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import * as esbuild from 'esbuild';
import { startViewService } from '../../server/viewservice';
import { loadBrowserBundle, browserBundleHandler } from '../../server/viewservice/browser-bundle';
import { normalizeViewOptions } from '../../common/config';
import { noopLogger } from '../../common/logger';

const ROOT = path.resolve(__dirname, '..', '..');
const BUNDLE = path.join(ROOT, 'dist', 'browser', 'understudy.js');
const MIN = path.join(ROOT, 'dist', 'browser', 'understudy.min.js');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { bundle } = require('../../scripts/build-browser.js') as { bundle(o: { minify: boolean; outfile: string; entry?: string }): Promise<number> };

const teardown: (() => unknown)[] = [];
afterEach(async () => {
  while (teardown.length) await teardown.pop()!();
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'understudy-pkg-'));
  teardown.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A project that has this repository installed as node_modules/understudy (a symlink, like `npm link`). */
function projectWithPackage(): string {
  const dir = tempDir();
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(ROOT, path.join(dir, 'node_modules', 'understudy'), 'dir');
  fs.writeFileSync(path.join(dir, 'package.json'), '{"name":"consumer","private":true}\n');
  return dir;
}

describe('browser build (issue #4)', function () {
  this.timeout(30_000);

  before(function () {
    if (!fs.existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run \`npm run build\` first (npm test does)`);
  });

  describe('dist/browser/understudy.js', () => {
    for (const file of [BUNDLE, MIN]) {
      it(`${path.basename(file)} is one self-contained ES module: no import, require, node_modules, ws, node: or Node globals`, () => {
        const code = fs.readFileSync(file, 'utf8');
        // Strip comments so that prose like "process shutting down" does not count.
        const stripped = code.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
        expect(stripped, 'no static import (fully bundled)').to.not.match(/(^|[;\s}])import\s*[{*\w][^;]*?from\s*["']/m);
        expect(stripped, 'no dynamic import').to.not.match(/\bimport\s*\(/);
        expect(stripped, 'no require()').to.not.match(/\brequire\s*\(/);
        expect(stripped, 'no node: specifier').to.not.match(/["']node:/);
        expect(code, 'no package from node_modules (esbuild names each bundled file in a comment)').to.not.include('node_modules/');
        expect(code, "no ws (its browser stub throws 'ws does not work in the browser')").to.not.include('does not work in the browser');
        expect(stripped, 'no Buffer').to.not.match(/\bBuffer\b/);
        expect(stripped, 'no process global').to.not.match(/\bprocess\s*\./);
        expect(stripped, 'an ES module export').to.match(/\bexport\s*\{[^}]*\bconnect\b/);
      });
    }

    it('dist/browser/package.json marks the bundle as ESM for Node and bundlers', () => {
      expect(JSON.parse(fs.readFileSync(path.join(ROOT, 'dist', 'browser', 'package.json'), 'utf8'))).to.deep.equal({ type: 'module' });
    });

    it('the build fails, naming the file, when client code imports ws or a Node built-in', async () => {
      const dir = tempDir();
      for (const spec of ['ws', 'node:crypto', 'events', 'fs/promises']) {
        const entry = path.join(dir, 'entry.ts');
        fs.writeFileSync(entry, `import * as m from '${spec}';\nexport const x = m;\n`);
        const err = await bundle({ entry, minify: false, outfile: path.join(dir, 'out.js') }).then(() => null, (e: unknown) => e);
        expect(err, spec).to.be.instanceOf(Error);
        const text = ((err as { errors?: { text: string }[] }).errors ?? []).map((e) => e.text).join('\n');
        expect(text, spec).to.include(`must not import "${spec}"`);
        expect(fs.existsSync(path.join(dir, 'out.js')), 'nothing written').to.equal(false);
      }
    });

    it('the build fails when the bundle would contain code from outside client/ and common/', async () => {
      const dir = tempDir();
      const entry = path.join(dir, 'entry.ts');
      fs.writeFileSync(entry, "export { connect } from '" + path.join(ROOT, 'client', 'index').split(path.sep).join('/') + "';\n");
      const err = await bundle({ entry, minify: false, outfile: path.join(dir, 'out.js') }).then(() => null, (e: Error) => e);
      expect(err?.message).to.match(/only client\/ and common\/ code; it pulled in: .*entry\.ts/);
    });
  });

  describe('package.json exports', () => {
    it("require('understudy/client') in Node resolves to the Node build (dist/client/node.js, over ws)", () => {
      const dir = projectWithPackage();
      const script = [
        "const p = require.resolve('understudy/client');",
        "const m = require('understudy/client');",
        "const main = require.resolve('understudy');",
        'console.log(JSON.stringify({ p: require("fs").realpathSync(p), main: require("fs").realpathSync(main), connect: typeof m.connect, err: typeof m.UnderstudyError }));',
      ].join('\n');
      const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: dir, encoding: 'utf8' }));
      expect(out.p).to.equal(path.join(ROOT, 'dist', 'client', 'node.js'));
      expect(out.main).to.equal(path.join(ROOT, 'dist', 'client', 'node.js'));
      expect(out.connect).to.equal('function');
      expect(out.err).to.equal('function');
    });

    it("import 'understudy/client' in Node (ESM) resolves to the Node build too, with named exports", () => {
      const dir = projectWithPackage();
      const script = [
        "import { connect, UnderstudyError } from 'understudy/client';",
        "import { realpathSync } from 'node:fs';",
        "import { fileURLToPath } from 'node:url';",
        "console.log(JSON.stringify({ p: realpathSync(fileURLToPath(import.meta.resolve('understudy/client'))), connect: typeof connect, err: typeof UnderstudyError }));",
      ].join('\n');
      const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: dir, encoding: 'utf8' }));
      expect(out).to.deep.equal({ p: path.join(ROOT, 'dist', 'client', 'node.js'), connect: 'function', err: 'function' });
    });

    async function bundleConsumer(platform: 'browser' | 'node' | 'neutral'): Promise<string[]> {
      const dir = projectWithPackage();
      const result = await esbuild.build({
        stdin: { contents: "import { connect } from 'understudy/client';\nconsole.log(connect);\n", resolveDir: dir, loader: 'js' },
        bundle: true,
        write: false,
        format: 'esm',
        platform,
        metafile: true,
        logLevel: 'silent',
        ...(platform === 'node' ? { external: ['ws'] } : {}),
        ...(platform === 'neutral' ? { mainFields: ['module', 'main'] } : {}),
      });
      return Object.keys(result.metafile!.inputs).filter((p) => p !== '<stdin>').map((p) => fs.realpathSync(path.resolve(p)));
    }

    it("esbuild bundling import { connect } from 'understudy/client' for the browser picks the ESM bundle", async () => {
      const inputs = await bundleConsumer('browser');
      expect(inputs).to.include(BUNDLE);
      expect(inputs.filter((p) => p.includes(`${path.sep}ws${path.sep}`) || p.endsWith('node.js'))).to.deep.equal([]);
    });

    it("a bundler with only the 'import' condition (no browser, no node) also gets the ESM bundle", async () => {
      expect(await bundleConsumer('neutral')).to.include(BUNDLE);
    });

    it('esbuild bundling for Node picks the Node build', async () => {
      const inputs = await bundleConsumer('node');
      expect(inputs).to.include(path.join(ROOT, 'dist', 'client', 'node.js'));
      expect(inputs).to.not.include(BUNDLE);
    });
  });

  describe('GET /understudy.js on the view service', () => {
    async function startVs(): Promise<string> {
      const options = normalizeViewOptions({ port: 0, host: '127.0.0.1' }, {});
      const vs = await startViewService({ ...options, log: noopLogger });
      teardown.push(() => vs.close());
      return `http://127.0.0.1:${vs.port}`;
    }

    it('serves the bundle as JavaScript with CORS, an ETag and a max-age; 304 when unchanged', async () => {
      const base = await startVs();
      const res = await fetch(`${base}/understudy.js`);
      expect(res.status).to.equal(200);
      expect(res.headers.get('content-type')).to.equal('text/javascript; charset=utf-8');
      expect(res.headers.get('access-control-allow-origin')).to.equal('*');
      expect(res.headers.get('cache-control')).to.match(/^public, max-age=\d+$/);
      const etag = res.headers.get('etag');
      expect(etag).to.match(/^"[\w-]+"$/);
      expect(await res.text()).to.equal(fs.readFileSync(BUNDLE, 'utf8'));
      const again = await fetch(`${base}/understudy.js`, { headers: { 'if-none-match': etag! } });
      expect(again.status).to.equal(304);
      const min = await fetch(`${base}/understudy.min.js`);
      expect(min.status).to.equal(200);
      expect((await min.arrayBuffer()).byteLength).to.equal(fs.statSync(MIN).size);
      expect((await fetch(`${base}/understudy.js`, { method: 'POST' })).status).to.equal(405);
    });

    it('answers 404 with what to run when the bundle was not built', async () => {
      const server = http.createServer((req, res) => {
        if (!browserBundleHandler(loadBrowserBundle(path.join(os.tmpdir(), 'understudy-no-such-dir')))(req, res)) res.writeHead(418).end();
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      teardown.push(() => new Promise((resolve) => server.close(resolve)));
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/understudy.js`);
      expect(res.status).to.equal(404);
      expect(await res.text()).to.match(/is not built: .*npm run build/);
    });
  });
});
