/**
 * Code a newcomer can live in (issue #10): no product file over 400 lines, no function over
 * 60 lines. The one exception is the protocol decoder, a table of message types read side
 * by side with docs/PROTOCOL.md (see the comment on `decode`). Functions are found with the
 * TypeScript parser, so arrow functions and methods count too.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';

const ROOT = path.resolve(__dirname, '..', '..');
const MAX_FILE_LINES = 400;
const MAX_FUNCTION_LINES = 60;
/** `file:function` → why it may be longer. */
const LONG_FUNCTIONS: Record<string, string> = {
  'common/protocol/decode.ts:decode': 'the table of message types; a call per frame saved on the per-operation path',
};

function productFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.tsx?$/.test(e.name) && !e.name.endsWith('.d.ts')) out.push(path.relative(ROOT, p).split(path.sep).join('/'));
    }
  };
  for (const top of ['server', 'client', 'common']) walk(path.join(ROOT, top));
  return out.sort();
}

/** Every function-like node with a body: its name (or `(anonymous)`), first line and length. */
export function functionLengths(file: string, text: string): { name: string; line: number; lines: number }[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const out: { name: string; line: number; lines: number }[] = [];
  const visit = (n: ts.Node): void => {
    if (ts.isFunctionLike(n) && (n as ts.FunctionLikeDeclaration).body !== undefined) {
      const first = sf.getLineAndCharacterOfPosition(n.getStart(sf)).line;
      const last = sf.getLineAndCharacterOfPosition(n.end).line;
      const named = (n as ts.FunctionLikeDeclaration).name;
      out.push({ name: named ? named.getText(sf) : '(anonymous)', line: first + 1, lines: last - first + 1 });
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

describe('code size (issue #10: a newcomer can live in it)', () => {
  const files = productFiles();

  it(`finds the product files (server/, client/, common/)`, () => {
    expect(files).to.include('server/replica/replica-machine.ts');
    expect(files.length).to.be.greaterThan(50);
  });

  it(`no product file is over ${MAX_FILE_LINES} lines`, () => {
    const over = files
      .map((f) => ({ f, lines: fs.readFileSync(path.join(ROOT, f), 'utf8').split('\n').length }))
      .filter((x) => x.lines > MAX_FILE_LINES)
      .map((x) => `${x.f}: ${x.lines} lines`);
    expect(over).to.deep.equal([]);
  });

  it(`no function is over ${MAX_FUNCTION_LINES} lines (except the protocol decoder, with its reason)`, () => {
    const over: string[] = [];
    for (const f of files) {
      for (const fn of functionLengths(f, fs.readFileSync(path.join(ROOT, f), 'utf8'))) {
        if (fn.lines > MAX_FUNCTION_LINES && LONG_FUNCTIONS[`${f}:${fn.name}`] === undefined) over.push(`${f}:${fn.line} ${fn.name}: ${fn.lines} lines`);
      }
    }
    expect(over).to.deep.equal([]);
  });

  it('the measure itself: counts methods and arrow functions, from their first to their last line', () => {
    const text = ['class A {', '  m() {', '    return 1;', '  }', '}', 'const f = () => {', '  return 2;', '};'].join('\n');
    expect(functionLengths('x.ts', text)).to.deep.equal([
      { name: 'm', line: 2, lines: 3 },
      { name: '(anonymous)', line: 6, lines: 3 },
    ]);
  });
});
