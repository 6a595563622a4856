/**
 * The import rule that keeps the deterministic cores honest (STYLE §1, §2, §10):
 * everything under common/ and the cores (server/**\/*-machine.ts, server/replica/kv-state.ts,
 * server/replica/write-history.ts, server/replica/watch-registry.ts, server/replica/value-arena.ts,
 * server/replica/snapshot.ts,
 * client/requests.ts, client/watches.ts) may import only from common/ or from another core,
 * through relative paths; never `ws`, `node:*`, `pino`, `http`, …; and never start timers.
 * The cores outside common/ also never read the wall clock (time is an input).
 * Files that do not exist yet are skipped, so the rule keeps passing as they are added.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');

/** Exceptions, each with its reason. */
/**
 * Server cores that may use Node's global Buffer (never bundled for the browser: only
 * common/ and client/ are), each with its reason.
 */
const ALLOWED_BUFFER: Record<string, string> = {
  // The replica's values live in off-heap Buffer slabs (memory ≤ 2.5× the data, issue #6);
  // deterministic all the same: no clock, no randomness, no I/O.
  'server/replica/value-arena.ts': 'Buffer',
};

const ALLOWED_TIMERS: Record<string, string> = {
  // Rethrows a listener's error on a fresh stack so it cannot break the emitter's caller;
  // this is error reporting, not time-based logic.
  'common/emitter.ts': 'setTimeout',
};

function walk(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else if (e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

const rel = (abs: string): string => path.relative(ROOT, abs).split(path.sep).join('/');

function isCommon(file: string): boolean {
  return file.startsWith('common/');
}

function isCore(file: string): boolean {
  return isCommon(file)
    || (/^server\/.+-machine\.ts$/.test(file))
    || file === 'server/replica/kv-state.ts'
    || file === 'server/replica/value-arena.ts'
    || file === 'server/replica/replica-io.ts'
    || file === 'server/replica/primary-role.ts'
    || file === 'server/replica/backup-role.ts'
    || file === 'server/replica/ping-rules.ts'
    || file === 'server/replica/peer-hold.ts'
    || file === 'server/replica/backpressure.ts'
    || file === 'server/replica/snapshot.ts'
    || file === 'server/replica/write-history.ts'
    || file === 'server/replica/watch-registry.ts'
    || file === 'client/requests.ts'
    || file === 'client/watches.ts';
}

function coreFiles(): string[] {
  return [...walk(path.join(ROOT, 'common')), ...walk(path.join(ROOT, 'server')), ...walk(path.join(ROOT, 'client'))]
    .map(rel)
    .filter(isCore)
    .sort();
}

/**
 * Split TypeScript source into code with comments removed (`code`) and the same with string
 * contents blanked too (`bare`), so that neither a comment nor a string such as 'ws://…'
 * is mistaken for code. Regex literals are recognised by the usual previous-token heuristic.
 */
function scan(src: string): { code: string; bare: string } {
  let code = '';
  let bare = '';
  let i = 0;
  let prev = ''; // last significant code character
  const emit = (c: string, b = c): void => { code += c; bare += b; };
  while (i < src.length) {
    const c = src[i];
    const n = src[i + 1];
    if (c === '/' && n === '/') {
      while (i < src.length && src[i] !== '\n') i++;
      continue;
    }
    if (c === '/' && n === '*') {
      const end = src.indexOf('*/', i + 2);
      i = end < 0 ? src.length : end + 2;
      emit(' ');
      continue;
    }
    if (c === '"' || c === "'" || c === '`') {
      let j = i + 1;
      while (j < src.length && src[j] !== c) j += src[j] === '\\' ? 2 : 1;
      const s = src.slice(i, j + 1);
      emit(s, c + ' '.repeat(Math.max(0, s.length - 2)) + c);
      i = j + 1;
      prev = c;
      continue;
    }
    if (c === '/' && (prev === '' || '(,=:[!&|?{};+-*%<>~^'.includes(prev))) {
      let j = i + 1;
      let inClass = false;
      while (j < src.length && src[j] !== '\n' && (inClass || src[j] !== '/')) {
        if (src[j] === '\\') j++;
        else if (src[j] === '[') inClass = true;
        else if (src[j] === ']') inClass = false;
        j++;
      }
      emit(src.slice(i, j + 1), '/' + ' '.repeat(Math.max(0, j - i - 1)) + '/');
      i = j + 1;
      prev = '/';
      continue;
    }
    emit(c);
    if (!/\s/.test(c)) prev = c;
    i++;
  }
  return { code, bare };
}

/** Every module specifier: static imports and re-exports, side-effect imports, require(), import(). */
function specifiers(code: string): string[] {
  const out: string[] = [];
  const patterns = [
    /\b(?:import|export)\s+(?:type\s+)?[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const re of patterns) for (const m of code.matchAll(re)) out.push(m[1]);
  return out;
}

/** The repo-relative file a relative specifier points at ('./x' → 'dir/x.ts'). */
function resolveTarget(from: string, spec: string): string {
  const base = path.posix.normalize(path.posix.join(path.posix.dirname(from), spec));
  if (base.endsWith('.ts')) return base;
  if (fs.existsSync(path.join(ROOT, `${base}.ts`))) return `${base}.ts`;
  if (fs.existsSync(path.join(ROOT, base, 'index.ts'))) return `${base}/index.ts`;
  return `${base.replace(/\.js$/, '')}.ts`;
}

describe('import rule for common/ and the deterministic cores (STYLE §1, §2, §10)', () => {
  const files = coreFiles();

  it('finds the files it guards (common/ and at least one core)', () => {
    expect(files).to.include('common/view.ts');
    expect(files).to.include('server/viewservice/view-machine.ts');
  });

  for (const file of files) {
    describe(file, () => {
      const { code, bare } = scan(fs.readFileSync(path.join(ROOT, file), 'utf8'));

      it('imports only common/ or another core, through relative paths', () => {
        for (const spec of specifiers(code)) {
          expect(spec.startsWith('./') || spec.startsWith('../'), `${file} imports ${JSON.stringify(spec)}: not relative (a package or node built-in)`).to.equal(true);
          const target = resolveTarget(file, spec);
          const ok = isCommon(file) ? isCommon(target) : isCore(target);
          expect(ok, `${file} imports ${JSON.stringify(spec)} (${target}), outside common/ and the cores`).to.equal(true);
        }
      });

      it('starts no timers (time is an input: the shell calls tick())', () => {
        for (const m of bare.matchAll(/\b(setTimeout|setInterval|setImmediate)\s*\(/g)) {
          expect(ALLOWED_TIMERS[file], `${file} calls ${m[1]}`).to.equal(m[1]);
        }
      });

      it('uses no Node-only globals (the browser bundle shares common/ and client/)', () => {
        const m = bare.match(/(?<![.\w$])(Buffer|process|__dirname|__filename)\b\s*[.([]/);
        if (m && ALLOWED_BUFFER[file] === m[1]) return;
        expect(m && m[0], `${file} uses ${m && m[1]}`).to.equal(null);
      });

      if (!isCommon(file)) {
        it('reads time only through the injected clock', () => {
          const m = bare.match(/\b(Date\.now|performance\.now|new Date)\s*\(/);
          expect(m && m[0], `${file} reads the wall clock`).to.equal(null);
        });
      }
    });
  }

  describe('the scanner itself', () => {
    it('sees imports, re-exports, require and dynamic import; ignores comments and strings', () => {
      const { code, bare } = scan([
        "import { a } from './a';",
        "import type {\n  B,\n} from '../common/b';",
        "export * from './c';",
        "import 'ws';",
        "const x = require('pino');",
        "const y = import('node:http');",
        "// import z from 'zlib'; setTimeout(f)",
        "/* setInterval(g) */ const url = 'ws://h:1/setTimeout(';",
        "const re = /\\/\\//; setImmediate(h);",
      ].join('\n'));
      expect(specifiers(code)).to.have.members(['./a', '../common/b', './c', 'ws', 'pino', 'node:http']);
      expect([...bare.matchAll(/\b(setTimeout|setInterval|setImmediate)\s*\(/g)].map((m) => m[1])).to.deep.equal(['setImmediate']);
    });

    it("blanks string contents, so 'process.env' in a message is not code", () => {
      const { bare } = scan("const m = 'set process.env.X'; this.process(1); const b = Buffer.from('x');");
      expect(bare).to.not.include('process.env');
      expect(bare.match(/(?<![.\w$])(Buffer|process|__dirname|__filename)\b\s*[.([]/)?.[1]).to.equal('Buffer');
    });
  });
});
