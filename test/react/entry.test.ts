/**
 * How an application gets understudy/react (SPEC §13) through package.json `exports`: Node
 * (require, import, server-side rendering) gets the CommonJS build with types, browsers and
 * bundlers the ESM build, which leaves `react` to the application and bundles no client
 * code. Needs `npm run build` (npm test runs it first).
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import * as esbuild from 'esbuild';

const ROOT = path.resolve(__dirname, '..', '..');
const CJS = path.join(ROOT, 'dist', 'client', 'react', 'index.js');
const ESM = path.join(ROOT, 'dist', 'browser', 'react.js');
const HOOKS = ['useConnectionState', 'useKey', 'useView', 'useWatch', 'useWatchState'];

/** A project with understudy in its node_modules (a symlink to this checkout). */
function consumer(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'understudy-react-'));
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(ROOT, path.join(dir, 'node_modules', 'understudy'), 'dir');
  fs.writeFileSync(path.join(dir, 'package.json'), '{"name":"consumer","private":true}\n');
  return dir;
}

describe('the understudy/react entry (SPEC §13)', function () {
  this.timeout(30_000);
  const dirs: string[] = [];
  before(() => {
    for (const f of [CJS, ESM]) if (!fs.existsSync(f)) throw new Error(`${f} is missing: run \`npm run build\` first (npm test does)`);
  });
  after(() => { for (const d of dirs) fs.rmSync(d, { recursive: true, force: true }); });
  const project = (): string => { const d = consumer(); dirs.push(d); return d; };

  it("require('understudy/react') and import in Node resolve to the CommonJS build, with every hook", () => {
    const dir = project();
    const required = JSON.parse(execFileSync(process.execPath, ['-e',
      "const fs = require('fs'); const m = require('understudy/react'); console.log(JSON.stringify({ p: fs.realpathSync(require.resolve('understudy/react')), hooks: Object.keys(m).sort() }))",
    ], { cwd: dir, encoding: 'utf8' }));
    expect(required).to.deep.equal({ p: CJS, hooks: HOOKS });
    const imported = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', [
      "import * as m from 'understudy/react';",
      "import { realpathSync } from 'node:fs';",
      "import { fileURLToPath } from 'node:url';",
      "console.log(JSON.stringify({ p: realpathSync(fileURLToPath(import.meta.resolve('understudy/react'))), hooks: Object.keys(m).filter((k) => k.startsWith('use')).sort() }));",
    ].join('\n')], { cwd: dir, encoding: 'utf8' }));
    expect(imported).to.deep.equal({ p: CJS, hooks: HOOKS });
    expect(fs.existsSync(CJS.replace(/\.js$/, '.d.ts'))).to.equal(true);
  });

  it('a bundler for the browser gets the ESM build: react left to the application, no client code bundled', async () => {
    const result = await esbuild.build({
      stdin: { contents: "import { useKey } from 'understudy/react';\nconsole.log(useKey);\n", resolveDir: project(), loader: 'js' },
      bundle: true, write: false, format: 'esm', platform: 'browser', metafile: true, logLevel: 'silent',
      external: ['react'],
    });
    const inputs = Object.keys(result.metafile!.inputs).filter((p) => p !== '<stdin>').map((p) => fs.realpathSync(path.resolve(p)));
    expect(inputs).to.deep.equal([ESM]);
    expect(result.outputFiles![0].text).to.match(/from "react"/);
  });
});
