import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { utf8Length } from '../../common/limits';
import {
  checkHistory,
  type HistoryOp,
  HistoryRecorder,
  type OpStatus,
  readHistory,
  windowVerdictForTests,
  writeHistory,
} from '../support/linearizability';
import { mulberry32 } from '../support/random';

/** Builds histories by hand; ret null means no reply (status unknown). */
class H {
  readonly ops: HistoryOp[] = [];
  private add(o: Omit<HistoryOp, 'id'>): this {
    this.ops.push({ id: this.ops.length, ...o });
    return this;
  }
  private status(ret: number | null, status?: OpStatus): OpStatus {
    return status ?? (ret === null ? 'unknown' : 'ok');
  }
  put(client: number, key: string, value: string, call: number, ret: number | null, status?: OpStatus): this {
    const s = this.status(ret, status);
    return this.add({ client, op: 'put', key, value, call, ret, status: s, ...(s === 'ok' ? { output: null } : {}) });
  }
  get(client: number, key: string, output: string | null, call: number, ret: number): this {
    return this.add({ client, op: 'get', key, call, ret, status: 'ok', output });
  }
  append(client: number, key: string, value: string, output: number | undefined, call: number, ret: number | null, status?: OpStatus): this {
    const s = this.status(ret, status);
    return this.add({ client, op: 'append', key, value, call, ret, status: s, ...(s === 'ok' ? { output } : {}) });
  }
  del(client: number, key: string, output: boolean | undefined, call: number, ret: number | null, status?: OpStatus): this {
    const s = this.status(ret, status);
    return this.add({ client, op: 'delete', key, call, ret, status: s, ...(s === 'ok' ? { output } : {}) });
  }
}

function expectOk(ops: HistoryOp[]): void {
  const r = checkHistory(ops);
  expect(r.verdict, r.explanation).to.equal('ok');
  expect(r.explanation).to.equal(undefined);
}

function expectViolation(ops: HistoryOp[], key: string): string {
  const r = checkHistory(ops);
  expect(r.verdict).to.equal('violation');
  expect(r.violatingKey).to.equal(key);
  expect(r.perKey[key]).to.equal('violation');
  const text = r.explanation as string;
  expect(text).to.be.a('string');
  expect(text).to.include(`'${key}'`);
  expect(text.split('\n').length).to.be.at.most(30);
  return text;
}

describe('linearizability checker', () => {
  describe('linearizable histories pass', () => {
    it('accepts a sequential history of put, get, append and delete', () => {
      const h = new H()
        .get(1, 'k', null, 0, 1)
        .put(1, 'k', 'a', 2, 3)
        .get(2, 'k', 'a', 4, 5)
        .append(2, 'k', 'bc', 3, 6, 7)
        .get(1, 'k', 'abc', 8, 9)
        .del(1, 'k', true, 10, 11)
        .del(2, 'k', false, 12, 13)
        .append(1, 'k', 'z', 1, 14, 15)
        .get(2, 'k', 'z', 16, 17);
      expectOk(h.ops);
    });

    it('accepts an empty history and one with only unknown or failed operations', () => {
      expectOk([]);
      expectOk(new H().put(1, 'k', 'a', 0, null).put(2, 'k', 'b', 1, 2, 'fail').ops);
    });

    it('accepts concurrent overlapping put and get where either order works', () => {
      // The get overlaps the put: it may see the old value or the new one.
      expectOk(new H().put(1, 'k', 'a', 0, 1).put(1, 'k', 'b', 2, 10).get(2, 'k', 'a', 3, 5).ops);
      expectOk(new H().put(1, 'k', 'a', 0, 1).put(1, 'k', 'b', 2, 10).get(2, 'k', 'b', 3, 5).ops);
      // Two concurrent puts, then reads that agree on which came last.
      expectOk(new H().put(1, 'k', 'x', 0, 10).put(2, 'k', 'y', 1, 9).get(3, 'k', 'x', 11, 12).get(4, 'k', 'x', 13, 14).ops);
    });

    it('accepts an unknown-status put whose effect a later get sees', () => {
      const h = new H().put(1, 'k', 'a', 0, 1).put(2, 'k', 'b', 2, null).get(3, 'k', 'a', 3, 4).get(3, 'k', 'b', 100, 101);
      expectOk(h.ops);
    });

    it('accepts an unknown-status put that is never seen', () => {
      const h = new H().put(1, 'k', 'a', 0, 1).put(2, 'k', 'b', 2, null).get(3, 'k', 'a', 3, 4).get(3, 'k', 'a', 100, 101);
      expectOk(h.ops);
    });

    it('accepts an unknown append seen by a later read', () => {
      const h = new H()
        .put(1, 'k', 'a', 0, 1)
        .append(2, 'k', 'b', undefined, 2, null)
        .append(1, 'k', 'c', 3, 50, 51) // after the unknown append took effect
        .get(3, 'k', 'abc', 60, 61);
      expectOk(h.ops);
    });

    it('drops failed operations: a failed put is never applied', () => {
      expectOk(new H().put(1, 'k', 'a', 0, 1).put(2, 'k', 'b', 2, 3, 'fail').get(1, 'k', 'a', 4, 5).ops);
    });

    it('measures append lengths in UTF-8 bytes', () => {
      expect(utf8Length('é€😀')).to.equal(9);
      expectOk(new H().put(1, 'k', 'é', 0, 1).append(1, 'k', '€😀', 9, 2, 3).get(1, 'k', 'é€😀', 4, 5).ops);
    });

    it('treats touching intervals (one returns when the other is called) as concurrent', () => {
      expectOk(new H().put(1, 'k', 'a', 0, 1).put(1, 'k', 'b', 2, 5).get(2, 'k', 'a', 5, 6).ops);
    });
  });

  describe('non-linearizable histories are caught', () => {
    it('catches a stale read after a completed write', () => {
      const h = new H().put(1, 'k', 'x', 0, 1).put(1, 'k', 'y', 2, 3).get(2, 'k', 'x', 12, 13.5);
      const text = expectViolation(h.ops, 'k');
      expect(text).to.include("get 'k' -> 'x' at [12.0, 13.5] by client 2");
      expect(text).to.include("the only possible states were: 'y'");
      expect(text).to.include("put 'k' 'y'");
    });

    it('catches two reads, sequential in real time and after both concurrent writes completed, seeing the writes in opposite orders', () => {
      // put x and put y overlap; both complete by t=10. Client 3 then reads x (so y came first),
      // and later client 4 reads y (so x came first): no single order explains both.
      const h = new H().put(1, 'k', 'x', 0, 10).put(2, 'k', 'y', 1, 9).get(3, 'k', 'x', 11, 12).get(4, 'k', 'y', 13, 14);
      expectViolation(h.ops, 'k');
    });

    it('catches a lost acknowledged append (a later get does not contain it)', () => {
      const h = new H().put(1, 'k', 'a', 0, 1).append(2, 'k', 'b', 2, 2, 3).get(3, 'k', 'a', 4, 5);
      const text = expectViolation(h.ops, 'k');
      expect(text).to.include("get 'k' -> 'a'");
    });

    it('catches a read of a value never written', () => {
      const h = new H().put(1, 'k', 'a', 0, 10).put(2, 'k', 'b', 0, 10).get(3, 'k', 'zzz', 5, 6);
      const text = expectViolation(h.ops, 'k');
      expect(text).to.include("the only possible states were: null, 'a', 'b'");
    });

    it('catches an append whose returned length is impossible', () => {
      const h = new H().put(1, 'k', 'abc', 0, 1).append(1, 'k', 'd', 5, 2, 3);
      const text = expectViolation(h.ops, 'k');
      expect(text).to.include("append 'k' 'd' -> 5");
    });

    it('catches a delete that reports the key missing while it existed', () => {
      expectViolation(new H().put(1, 'k', 'a', 0, 1).del(2, 'k', false, 2, 3).ops, 'k');
    });

    it('catches an unknown put that is seen and then unseen', () => {
      // Once a read observed it, the unknown put took effect: a later read cannot miss it.
      const h = new H().put(1, 'k', 'a', 0, 1).put(2, 'k', 'b', 2, null).get(3, 'k', 'b', 5, 6).get(3, 'k', 'a', 7, 8);
      expectViolation(h.ops, 'k');
    });

    it('catches a read of a value whose put failed', () => {
      expectViolation(new H().put(1, 'k', 'a', 0, 1).put(2, 'k', 'b', 2, 3, 'fail').get(1, 'k', 'b', 4, 5).ops, 'k');
    });

    it('explains with the longest linearizable prefix, in order, with the states', () => {
      const h = new H().put(1, 'k', 'a', 0, 1).append(1, 'k', 'b', 2, 2, 3).get(2, 'k', 'ab', 4, 5).get(2, 'k', 'a', 6, 7);
      const text = expectViolation(h.ops, 'k');
      expect(text).to.include('longest linearizable prefix found (3 ops)');
      expect(text).to.match(/1\. put 'k' 'a' .*=> 'a'\n\s+2\. append 'k' 'b' -> 2 .*=> 'ab'\n\s+3\. get 'k' -> 'ab'/);
      expect(text).to.include("get 'k' -> 'a' at [6.0, 7.0] by client 2");
    });
  });

  describe('per-key split', () => {
    it('reports a violation on one key with that key while the other keys are ok', () => {
      const h = new H()
        .put(1, 'a', '1', 0, 1)
        .put(2, 'b', '1', 0, 1)
        .put(1, 'c', '1', 0, 1)
        .put(1, 'b', '2', 2, 3)
        .get(3, 'a', '1', 4, 5)
        .get(3, 'b', '1', 4, 5) // stale
        .get(3, 'c', '1', 4, 5);
      const r = checkHistory(h.ops);
      expect(r.verdict).to.equal('violation');
      expect(r.violatingKey).to.equal('b');
      expect(r.perKey).to.deep.equal({ a: 'ok', b: 'violation', c: 'ok' });
      expect(r.explanation).to.include("key 'b'");
      expect(r.explanation).not.to.include("key 'a'");
    });
  });

  describe('budget', () => {
    it('returns unknown, not a hang, on a hard history with a tiny budget', () => {
      // 22 concurrent puts; reads then see v0, v1, v0 in real-time order, which needs put v0
      // twice. Refuting it means going through the subsets of the other puts; no short
      // stretch of the history is contradictory on its own.
      const h = new H();
      for (let i = 0; i < 22; i++) h.put(i, 'hard', `v${i}`, 0, 100);
      h.get(50, 'hard', 'v0', 10, 11).get(51, 'hard', 'v1', 12, 13).get(52, 'hard', 'v0', 14, 15);
      h.put(1, 'easy', 'v', 0, 1).get(2, 'easy', 'v', 2, 3);
      const r = checkHistory(h.ops, { timeoutMsPerKey: 50 });
      expect(r.verdict).to.equal('unknown');
      expect(r.perKey).to.deep.equal({ hard: 'unknown', easy: 'ok' });
      expect(r.explanation).to.equal(undefined);
      console.log(`      (tiny budget: gave up after ${r.ms.toFixed(0)} ms)`);
    });
  });

  describe('recording and files', () => {
    it('HistoryRecorder records calls and outcomes with the injected clock', () => {
      let t = 0;
      const rec = new HistoryRecorder(() => t);
      const a = rec.invoke('c1', 'put', 'k', 'v');
      t = 1;
      const b = rec.invoke('c2', 'get', 'k');
      t = 2;
      rec.ok(a, null);
      t = 3;
      rec.ok(b, 'v');
      const c = rec.invoke('c1', 'append', 'k', 'w');
      const d = rec.invoke('c2', 'put', 'k', 'x'.repeat(10));
      const e = rec.invoke('c3', 'delete', 'k');
      t = 4;
      rec.unknown(c);
      rec.fail(d);
      expect(() => rec.ok(d, null)).to.throw(/already completed/);
      const hist = rec.history();
      expect(hist).to.deep.equal([
        { id: a, client: 'c1', op: 'put', key: 'k', value: 'v', call: 0, ret: 2, status: 'ok', output: null },
        { id: b, client: 'c2', op: 'get', key: 'k', call: 1, ret: 3, status: 'ok', output: 'v' },
        { id: c, client: 'c1', op: 'append', key: 'k', value: 'w', call: 3, ret: null, status: 'unknown' },
        { id: d, client: 'c2', op: 'put', key: 'k', value: 'xxxxxxxxxx', call: 3, ret: 4, status: 'fail' },
        { id: e, client: 'c3', op: 'delete', key: 'k', call: 3, ret: null, status: 'unknown' }, // still pending
      ]);
      expect(checkHistory(hist).verdict).to.equal('ok');
    });

    it('writeHistory and readHistory round-trip a history, and the verdict reproduces', () => {
      const h = new H().put(1, 'k', 'x', 0, 1).put(1, 'k', 'y', 2, 3).put(2, 'k', 'z', 2.5, null).get(2, 'k', 'x', 12, 13.5);
      const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lin-')), 'history.json');
      try {
        writeHistory(h.ops, file);
        const back = readHistory(file);
        expect(back).to.deep.equal(h.ops);
        const r = checkHistory(back);
        expect(r.verdict).to.equal('violation');
        expect(r.explanation).to.equal(checkHistory(h.ops).explanation);
      } finally {
        fs.rmSync(path.dirname(file), { recursive: true, force: true });
      }
    });

    it('rejects malformed histories with the offending entry', () => {
      const base = new H().put(1, 'k', 'x', 0, 1).ops[0];
      expect(() => checkHistory([base, { ...base }])).to.throw(TypeError, /duplicate id 0/);
      expect(() => checkHistory([{ ...base, ret: null }])).to.throw(TypeError, /needs a return time/);
      expect(() => checkHistory([{ ...base, ret: -1 }])).to.throw(TypeError, /before call/);
      expect(() => checkHistory([{ ...base, op: 'get', output: 3 }])).to.throw(TypeError, /get output/);
      expect(() => checkHistory([{ ...base, op: 'append', output: 'x' }])).to.throw(TypeError, /append output/);
    });
  });

  describe('agreement with a brute-force checker', function () {
    this.timeout(120_000);
    const histories: { ops: HistoryOp[]; linearizable: boolean }[] = [];
    before(() => {
      const rnd = mulberry32(7);
      for (let i = 0; i < 3000; i++) {
        const ops = randomSmallHistory(rnd, 2 + Math.floor(rnd() * 6));
        histories.push({ ops, linearizable: bruteForceLinearizable(ops) });
      }
    });

    it('gives the brute-force verdict on 3,000 random small histories (ties, unknown and failed ops, UTF-8 lengths)', () => {
      const violations = histories.filter((h) => !h.linearizable).length;
      expect(violations).to.be.within(300, 2700); // both kinds are well represented
      for (const h of histories) {
        const r = checkHistory(h.ops);
        expect(r.verdict, JSON.stringify(h.ops)).to.equal(h.linearizable ? 'ok' : 'violation');
      }
    });

    it('proves a violation from a window only when the whole history has one', () => {
      let proved = 0;
      for (const h of histories) {
        const calls = Array.from(new Set(h.ops.map((o) => o.call))).sort((x, y) => x - y);
        for (const blocked of h.ops) {
          if (blocked.status !== 'ok') continue;
          for (const a of calls) {
            if (a > blocked.call) break;
            const v = windowVerdictForTests(h.ops, a, blocked.ret as number);
            if (v === 'violation') {
              proved++;
              expect(h.linearizable, `window [${a}, ${blocked.ret}] of ${JSON.stringify(h.ops)}`).to.equal(false);
            }
          }
        }
      }
      expect(proved).to.be.above(100);
    });
  });

  describe('performance (10 keys × 2,000 ops, 16 clients)', function () {
    this.timeout(120_000);
    let history: HistoryOp[];

    before(() => {
      history = simulate(20240611);
    });

    it('accepts a history generated from a simulated linearizable store', () => {
      expect(history).to.have.length(20_000);
      const unknown = history.filter((o) => o.status === 'unknown').length;
      expect(unknown).to.be.within(200, 600);
      const r = checkHistory(history);
      console.log(`      (checked ${history.length} ops, ${unknown} unknown, in ${r.ms.toFixed(0)} ms)`);
      expect(r.verdict, r.explanation).to.equal('ok');
      expect(Object.keys(r.perKey)).to.have.length(10);
    });

    it('catches one stale read injected into that history', () => {
      const { corrupted, key } = injectStaleRead(history);
      const r = checkHistory(corrupted);
      console.log(`      (corrupted variant: ${r.verdict} on key '${r.violatingKey}' in ${r.ms.toFixed(0)} ms)`);
      expect(r.verdict).to.equal('violation');
      expect(r.violatingKey).to.equal(key);
      for (const [k, v] of Object.entries(r.perKey)) expect(v).to.equal(k === key ? 'violation' : 'ok');
      expect((r.explanation as string).split('\n').length).to.be.at.most(30);
    });
  });
});

// ---------------------------------------------------------------------------------------


/**
 * A simulated store: each client runs one operation at a time; every op that takes effect
 * does so at a random point inside its [call, ret] interval, and outputs come from applying
 * the ops in the order of those points. ~2% have unknown outcome (half of them applied,
 * half never), ~1% fail (never applied). Values are unique per put / append.
 */
function simulate(seed: number, keys = 10, perKey = 2000, clients = 16): HistoryOp[] {
  const rnd = mulberry32(seed);
  const deck: number[] = [];
  for (let k = 0; k < keys; k++) for (let j = 0; j < perKey; j++) deck.push(k);
  for (let i = deck.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [deck[i], deck[j]] = [deck[j], deck[i]];
  }
  const free = new Array<number>(clients).fill(0);
  const ops: HistoryOp[] = [];
  const effects: { op: HistoryOp; at: number }[] = [];
  for (let id = 0; id < deck.length; id++) {
    let c = 0;
    for (let i = 1; i < clients; i++) if (free[i] < free[c]) c = i;
    const call = free[c] + rnd() * 0.5;
    const dur = rnd() < 0.05 ? 1 + rnd() * 30 : 0.05 + rnd() * 3;
    const ret = call + dur;
    free[c] = ret + rnd() * 0.2;
    const r = rnd();
    const name = r < 0.3 ? 'get' : r < 0.55 ? 'put' : r < 0.8 ? 'append' : 'delete';
    const op: HistoryOp = { id, client: c, op: name, key: `key-${deck[id]}`, call, ret, status: 'ok' };
    if (name === 'put') op.value = `v${id}`;
    if (name === 'append') op.value = id % 7 === 0 ? `é${id};` : `+${id};`;
    const u = rnd();
    let applied = true;
    if (u < 0.02) {
      op.status = 'unknown';
      op.ret = null;
      applied = rnd() < 0.5;
    } else if (u < 0.03) {
      op.status = 'fail';
      applied = false;
    }
    ops.push(op);
    if (applied) effects.push({ op, at: call + rnd() * dur });
  }
  effects.sort((a, b) => a.at - b.at);
  const state = new Map<string, string>();
  for (const { op } of effects) {
    const old = state.get(op.key) ?? null;
    let output: string | null | number | boolean;
    switch (op.op) {
      case 'get':
        output = old;
        break;
      case 'put':
        state.set(op.key, op.value as string);
        output = null;
        break;
      case 'append': {
        const v = (old ?? '') + (op.value as string);
        state.set(op.key, v);
        output = utf8Length(v);
        break;
      }
      default:
        output = state.delete(op.key);
    }
    if (op.status === 'ok') op.output = output;
  }
  return ops;
}

/**
 * Changes one late get's output to the value of an earlier put P on the same key that was
 * certainly overwritten before the get: some acknowledged write W on the key was called after
 * P returned and returned before the get was called. Values are unique, so the get can only
 * read P's value right after P, which is impossible: a guaranteed violation.
 */
function injectStaleRead(history: HistoryOp[]): { corrupted: HistoryOp[]; key: string } {
  const corrupted = history.map((o) => ({ ...o }));
  const isWrite = (o: HistoryOp): boolean => o.status === 'ok' && o.op !== 'get';
  for (let g = Math.floor(corrupted.length * 0.75); g < corrupted.length; g++) {
    const get = corrupted[g];
    if (get.op !== 'get' || get.status !== 'ok') continue;
    const same = corrupted.filter((o) => o.key === get.key && o.ret !== null && o.ret < get.call);
    for (const p of same) {
      if (p.op !== 'put' || p.status !== 'ok' || p.value === get.output) continue;
      const overwritten = same.some((w) => isWrite(w) && w.call > (p.ret as number) && (w.ret as number) < get.call);
      const recent = (p.ret as number) > get.call - 20;
      if (overwritten && recent) {
        get.output = p.value;
        return { corrupted, key: get.key };
      }
    }
  }
  throw new Error('no get to corrupt');
}

/**
 * A small random single-key history: outputs from a real execution (each op that takes effect
 * does so at a point inside its interval, unknown ones at any point after their call), then
 * often one output corrupted. Integer times, so intervals often touch.
 */
function randomSmallHistory(rnd: () => number, n: number): HistoryOp[] {
  const pool = ['a', 'b', 'ab', '', 'é', 'ba'];
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)];
  const ops: HistoryOp[] = [];
  const effects: { op: HistoryOp; at: number }[] = [];
  for (let id = 0; id < n; id++) {
    const call = Math.floor(rnd() * 8);
    const ret = call + Math.floor(rnd() * 4);
    const name = pick(['get', 'get', 'put', 'append', 'append', 'delete'] as const);
    const op: HistoryOp = { id, client: id, op: name, key: 'k', call, ret, status: 'ok' };
    if (name === 'put' || name === 'append') op.value = pick(pool);
    const u = rnd();
    if (u < 0.2) {
      op.status = 'unknown';
      op.ret = null;
      if (rnd() < 0.5) effects.push({ op, at: call + rnd() * 12 });
    } else if (u < 0.3) op.status = 'fail';
    else effects.push({ op, at: call + rnd() * (ret - call) });
    ops.push(op);
  }
  effects.sort((x, y) => x.at - y.at);
  let state: string | null = null;
  for (const { op } of effects) {
    let output: string | null | number | boolean = null;
    if (op.op === 'get') output = state;
    else if (op.op === 'put') state = op.value as string;
    else if (op.op === 'append') output = utf8Length((state = (state ?? '') + (op.value as string)));
    else {
      output = state !== null;
      state = null;
    }
    if (op.status === 'ok') op.output = output;
  }
  const ok = ops.filter((o) => o.status === 'ok' && o.op !== 'put');
  if (ok.length > 0 && rnd() < 0.6) {
    const o = pick(ok);
    if (o.op === 'get') o.output = pick<string | null>([...pool, null]);
    else if (o.op === 'append') o.output = (o.output as number) + pick([-2, -1, 1, 2]);
    else o.output = !o.output;
  }
  for (const o of ok) if (o.op !== 'get' && rnd() < 0.15) delete o.output;
  return ops;
}

/** Linearizability by brute force: every subset of the optional ops, every order. */
function bruteForceLinearizable(history: HistoryOp[]): boolean {
  const required = history.filter((o) => o.status === 'ok');
  const optional = history.filter((o) => o.status === 'unknown' && o.op !== 'get');
  const place = (left: HistoryOp[], state: string | null): boolean => {
    if (left.length === 0) return true;
    for (const o of left) {
      // o may go next unless another remaining required op returned before o was called
      if (left.some((x) => x !== o && x.status === 'ok' && (x.ret as number) < o.call)) continue;
      const checked = o.status === 'ok' && o.output !== undefined;
      let next: string | null = state;
      if (o.op === 'get') {
        if (checked && o.output !== state) continue;
      } else if (o.op === 'put') next = o.value as string;
      else if (o.op === 'append') {
        next = (state ?? '') + (o.value as string);
        if (checked && o.output !== utf8Length(next)) continue;
      } else {
        if (checked && o.output !== (state !== null)) continue;
        next = null;
      }
      if (place(left.filter((x) => x !== o), next)) return true;
    }
    return false;
  };
  for (let mask = 0; mask < 1 << optional.length; mask++) {
    if (place([...required, ...optional.filter((_, i) => ((mask >> i) & 1) === 1)], null)) return true;
  }
  return false;
}
