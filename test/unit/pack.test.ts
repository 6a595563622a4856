/**
 * The package publishes cleanly (issue #15): `npm pack --dry-run --json` lists what the
 * tarball would hold. It runs without lifecycle scripts (--ignore-scripts: no `prepare`
 * build here), so it checks the dist/ that `npm run build` made; `npm test` builds first.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const ROOT = path.resolve(__dirname, '..', '..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  exports: Record<string, unknown>; main: string; types: string; bin: Record<string, string>;
  dependencies: Record<string, string>; peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>; allowScripts?: Record<string, boolean>;
};

/** Every file path an `exports` entry (with its nested conditions) points at. */
function targets(entry: unknown): string[] {
  if (typeof entry === 'string') return [entry];
  if (entry && typeof entry === 'object') return Object.values(entry).flatMap(targets);
  return [];
}

describe('npm pack: what the published tarball holds (issue #15)', function () {
  this.timeout(60_000);
  let files: string[] = [];

  before(async () => {
    for (const f of ['dist/client/node.js', 'dist/browser/understudy.js', 'dist/browser/react.js']) {
      if (!fs.existsSync(path.join(ROOT, f))) throw new Error(`${f} is missing: run \`npm run build\` first`);
    }
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const { stdout } = await promisify(execFile)(npm, ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
    files = (JSON.parse(stdout) as { files: { path: string }[] }[])[0].files.map((f) => f.path);
  });

  it('holds no tests, test support, examples or benchmarks', () => {
    expect(files.filter((f) => /(^|\/)(test|tests|examples|bench)\//.test(f) || /\.test\.[cm]?[jt]sx?$/.test(f))).to.deep.equal([]);
    expect(files.filter((f) => f.startsWith('node_modules/') || f.startsWith('test-artifacts/'))).to.deep.equal([]);
  });

  it('holds both builds of the client (Node: dist/client/node.js, browsers: dist/browser/understudy.js) with their types', () => {
    for (const f of ['dist/client/node.js', 'dist/client/node.d.ts', 'dist/client/index.js', 'dist/client/index.d.ts', 'dist/browser/understudy.js', 'dist/browser/understudy.min.js', 'dist/browser/package.json']) {
      expect(files, f).to.include(f);
    }
  });

  it('holds the understudy/react entry (SPEC §13): CommonJS with types for Node and SSR, ESM for bundlers', () => {
    for (const f of ['dist/client/react/index.js', 'dist/client/react/index.d.ts', 'dist/client/react/sources.js', 'dist/browser/react.js']) expect(files, f).to.include(f);
    expect(targets(pkg.exports['./react'])).to.include.members(['./dist/client/react/index.js', './dist/client/react/index.d.ts', './dist/browser/react.js']);
  });

  it('every file that exports, main, types and bin point at is in the tarball', () => {
    const pointed = [...Object.values(pkg.exports).flatMap(targets), pkg.main, pkg.types, ...Object.values(pkg.bin)]
      .filter((t) => !t.includes('*'))
      .map((t) => t.replace(/^\.\//, ''));
    for (const t of pointed) expect(files, t).to.include(t);
  });

  it('React is an optional peer dependency, never a dependency: the client stays dependency-free in browsers', () => {
    expect(pkg.dependencies).to.not.have.property('react');
    expect(pkg.peerDependencies).to.have.property('react');
    expect(pkg.peerDependenciesMeta?.react?.optional).to.equal(true);
    const bundle = fs.readFileSync(path.join(ROOT, 'dist', 'browser', 'understudy.js'), 'utf8');
    expect(bundle).to.not.match(/from\s*["']react["']/);
    const hooks = fs.readFileSync(path.join(ROOT, 'dist', 'browser', 'react.js'), 'utf8');
    expect(hooks, 'react stays an import of the hooks bundle').to.match(/from\s*"react"/);
    expect(hooks, 'no React code bundled').to.not.contain('react.production').and.to.not.contain('__SECRET_INTERNALS');
  });

  it('every dependency with an install script is reviewed in allowScripts (npm 11 warns about the others)', () => {
    const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string; hasInstallScript?: boolean }> };
    const allowed = pkg.allowScripts ?? {};
    const withScripts = Object.entries(lock.packages)
      .filter(([p, v]) => p !== '' && v.hasInstallScript)
      .map(([p, v]) => ({ name: p.slice(p.lastIndexOf('node_modules/') + 'node_modules/'.length), version: v.version }));
    expect(withScripts.map((x) => x.name)).to.include('esbuild');
    for (const { name, version } of withScripts) {
      expect(name in allowed || `${name}@${version}` in allowed, `${name}@${version} in allowScripts`).to.equal(true);
    }
  });
});
