import { expect } from 'chai';
import { KvState, SnapshotChunk, jsonStringBytes } from '../../server/replica/kv-state';
import type { ReqMsg, OpName } from '../../common/messages';
import { DEFAULT_LIMITS, utf8Length, formatBytes } from '../../common/limits';

let seqs = new Map<string, number>();
function req(op: OpName, key: string, value?: string, o: { client?: string; seq?: number; ack?: number } = {}): ReqMsg {
  const client = o.client ?? 'c1';
  const seq = o.seq ?? (seqs.get(client) ?? 0) + 1;
  seqs.set(client, Math.max(seq, seqs.get(client) ?? 0));
  const r: ReqMsg = { type: 'req', client, seq, ack: o.ack ?? 0, op, key };
  if (value !== undefined) r.value = value;
  return r;
}

/** A small deterministic PRNG, so "random" workloads repeat exactly. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

function workload(n: number, seed: number): ReqMsg[] {
  const rnd = lcg(seed);
  const out: ReqMsg[] = [];
  const next = new Map<string, number>();
  const ops: OpName[] = ['get', 'put', 'append', 'delete'];
  for (let i = 0; i < n; i++) {
    const client = `c${Math.floor(rnd() * 5)}`;
    const dup = rnd() < 0.1 && next.has(client);
    const seq = dup ? (next.get(client) as number) - 1 : (next.get(client) ?? 0) + 1;
    if (!dup) next.set(client, seq);
    const op = ops[Math.floor(rnd() * 4)];
    const key = `k${Math.floor(rnd() * 10)}`;
    const r: ReqMsg = { type: 'req', client, seq, ack: Math.max(0, seq - 3), op, key };
    if (op === 'put' || op === 'append') r.value = 'é'.repeat(Math.floor(rnd() * 4)) + String(i);
    // conditional writes (SPEC §10): some create-only, some at a revision that may or may not match
    if ((op === 'put' || op === 'delete') && i % 5 === 0) r.ifRevision = i % 2 === 0 ? 0 : Math.floor(rnd() * i);
    out.push(r);
  }
  return out;
}

/** Everything observable about a store, for equality checks. */
function stateOf(s: KvState): unknown {
  return { entries: s.sortedEntries(), revision: s.revision, index: s.index, chunks: [...s.snapshot()] };
}

describe('KvState', () => {
  beforeEach(() => { seqs = new Map(); });

  describe('#apply', () => {
    it('put stores the value and returns null with the new revision', () => {
      const s = new KvState();
      expect(s.apply(req('put', 'a', 'x'))).to.deep.equal({ ok: true, value: null, rev: 1 });
      expect(s.get('a')).to.equal('x');
      expect(s.revision).to.equal(1);
      expect(s.index).to.equal(1);
    });

    it('get returns the current value (or null) and the revision at it, without bumping it', () => {
      const s = new KvState();
      expect(s.apply(req('get', 'a'))).to.deep.equal({ ok: true, value: null, rev: 0 });
      s.apply(req('put', 'a', 'x'));
      expect(s.apply(req('get', 'a'))).to.deep.equal({ ok: true, value: 'x', rev: 1 });
      expect(s.revision).to.equal(1);
      expect(s.index).to.equal(3);
    });

    it('append returns the new length in UTF-8 bytes, like Redis APPEND', () => {
      const s = new KvState();
      expect(s.apply(req('append', 'a', 'ab'))).to.deep.equal({ ok: true, value: 2, rev: 1 });
      expect(s.apply(req('append', 'a', 'é€😀'))).to.deep.equal({ ok: true, value: 2 + 2 + 3 + 4, rev: 2 });
      expect(s.get('a')).to.equal('abé€😀');
    });

    it('delete returns whether the key existed; deleting a missing key changes nothing', () => {
      const s = new KvState();
      s.apply(req('put', 'a', 'x'));
      expect(s.apply(req('delete', 'a'))).to.deep.equal({ ok: true, value: true, rev: 2 });
      expect(s.apply(req('delete', 'a'))).to.deep.equal({ ok: true, value: false, rev: 2 });
      expect(s.revision).to.equal(2);
      expect(s.get('a')).to.equal(undefined);
    });

    it('refuses a put over maxValueBytes with TOO_LARGE, storing nothing', () => {
      const s = new KvState({ ...DEFAULT_LIMITS, maxValueBytes: 4 });
      const r = s.apply(req('put', 'a', 'héllo'));
      expect(r).to.deep.include({ ok: false, code: 'TOO_LARGE' });
      expect((r as { message: string }).message).to.equal(`value is ${formatBytes(6)}; the limit is maxValueBytes = ${formatBytes(4)}`);
      expect(s.get('a')).to.equal(undefined);
      expect(s.revision).to.equal(0);
    });

    it('refuses an append whose result would exceed maxValueBytes, keeping the old value', () => {
      const s = new KvState({ ...DEFAULT_LIMITS, maxValueBytes: 4 });
      s.apply(req('put', 'a', 'abc'));
      const r = s.apply(req('append', 'a', 'é'));
      expect(r).to.deep.equal({ ok: false, code: 'TOO_LARGE', message: `the value would grow to ${formatBytes(5)}; the limit is maxValueBytes = ${formatBytes(4)}` });
      expect(s.get('a')).to.equal('abc');
      expect(s.apply(req('append', 'a', 'd'))).to.deep.include({ ok: true, value: 4 });
    });

    it('refuses a key over maxKeyBytes with TOO_LARGE', () => {
      const s = new KvState({ ...DEFAULT_LIMITS, maxKeyBytes: 2 });
      expect(s.apply(req('put', 'abc', 'x'))).to.deep.include({ ok: false, code: 'TOO_LARGE' });
      expect(s.size).to.equal(0);
    });
  });

  describe('at-most-once table (SPEC §1 exactly-once)', () => {
    it('applies a write once and returns the first result to a duplicate', () => {
      const s = new KvState();
      const first = s.apply(req('append', 'a', 'x', { seq: 1 }));
      const again = s.apply(req('append', 'a', 'x', { seq: 1 }));
      expect(again).to.deep.equal(first);
      expect(s.get('a')).to.equal('x');
      expect(s.revision).to.equal(1);
      expect(s.index).to.equal(2); // the duplicate is still a log entry
    });

    it('returns a recorded TOO_LARGE again for a duplicate, even if it would fit now', () => {
      const s = new KvState({ ...DEFAULT_LIMITS, maxValueBytes: 3 });
      s.apply(req('put', 'a', 'ab', { client: 'x', seq: 1 }));
      const first = s.apply(req('append', 'a', 'cd', { client: 'y', seq: 1 }));
      s.apply(req('delete', 'a', undefined, { client: 'x', seq: 2 }));
      expect(s.apply(req('append', 'a', 'cd', { client: 'y', seq: 1 }))).to.deep.equal(first);
      expect(s.get('a')).to.equal(undefined);
    });

    it('never records gets: a repeated get returns the current value', () => {
      const s = new KvState();
      s.apply(req('get', 'a', undefined, { seq: 1 }));
      s.apply(req('put', 'a', 'v', { seq: 2 }));
      expect(s.apply(req('get', 'a', undefined, { seq: 1 }))).to.deep.equal({ ok: true, value: 'v', rev: 1 });
    });

    it('keeps clients apart: the same seq from two clients are two operations', () => {
      const s = new KvState();
      s.apply(req('append', 'a', 'x', { client: 'p', seq: 1 }));
      s.apply(req('append', 'a', 'y', { client: 'q', seq: 1 }));
      expect(s.get('a')).to.equal('xy');
    });

    it('forgets results below ack and refuses such a seq as a stale duplicate', () => {
      const s = new KvState();
      s.apply(req('append', 'a', 'x', { seq: 1, ack: 1 }));
      s.apply(req('append', 'a', 'y', { seq: 2, ack: 2 }));
      const r = s.apply(req('append', 'a', 'x', { seq: 1, ack: 1 }));
      expect(r).to.deep.include({ ok: false, code: 'BAD_REQUEST' });
      expect((r as { message: string }).message).to.match(/^stale duplicate: seq 1 is below the client's ack watermark 2/);
      expect(s.get('a')).to.equal('xy');
      expect(s.revision).to.equal(2);
    });

    it('a seq below its own ack is stale at once', () => {
      const s = new KvState();
      expect(s.apply(req('put', 'a', 'x', { seq: 3, ack: 5 }))).to.deep.include({ ok: false, code: 'BAD_REQUEST' });
      expect(s.size).to.equal(0);
    });

    it('bounds the results per client, forgetting the lowest seqs as stale', () => {
      const s = new KvState(DEFAULT_LIMITS, { maxClients: 10, maxResultsPerClient: 10 });
      for (let i = 1; i <= 11; i++) s.apply(req('append', 'a', '.', { seq: i }));
      expect(s.get('a')).to.equal('.'.repeat(11));
      // 11 > 10 results → trimmed to 9: seqs 1 and 2 forgotten and stale
      expect(s.apply(req('append', 'a', '.', { seq: 2 }))).to.deep.include({ ok: false, code: 'BAD_REQUEST' });
      expect(s.apply(req('append', 'a', '.', { seq: 3 }))).to.deep.equal({ ok: true, value: 3, rev: 3 });
    });

    it('bounds the number of clients, evicting the least recently used', () => {
      const s = new KvState(DEFAULT_LIMITS, { maxClients: 2, maxResultsPerClient: 10 });
      s.apply(req('append', 'a', 'p', { client: 'p', seq: 1 }));
      s.apply(req('append', 'a', 'q', { client: 'q', seq: 1 }));
      s.apply(req('get', 'a', undefined, { client: 'p', seq: 2 })); // touches p
      s.apply(req('append', 'a', 'r', { client: 'r', seq: 1 })); // evicts q
      expect(s.clientCount).to.equal(2);
      expect(s.apply(req('append', 'a', 'p', { client: 'p', seq: 1 }))).to.deep.include({ value: 1 });
      // q was forgotten: its retry is applied again (the documented cost of the bound)
      expect(s.apply(req('append', 'a', 'q', { client: 'q', seq: 1 }))).to.deep.include({ value: 4 });
    });
  });

  describe('#snapshot / #install', () => {
    it('round-trips data, revision, index and the at-most-once table', () => {
      const a = new KvState();
      for (const r of workload(300, 7)) a.apply(r);
      const b = new KvState();
      b.install({ index: a.index, revision: a.revision }, JSON.parse(JSON.stringify(a.snapshotNow())) as SnapshotChunk[]);
      expect(stateOf(b)).to.deep.equal(stateOf(a));
      // and they stay equal under the same further operations (same dedup answers, same evictions)
      for (const r of workload(300, 8)) expect(b.apply(r)).to.deep.equal(a.apply(r));
      expect(stateOf(b)).to.deep.equal(stateOf(a));
    });

    it('replaces the old state wholesale', () => {
      const b = new KvState();
      b.apply(req('put', 'old', 'x'));
      b.install({ index: 9, revision: 4 }, []);
      expect(b.size).to.equal(0);
      expect(b.index).to.equal(9);
      expect(b.revision).to.equal(4);
      expect(b.clientCount).to.equal(0);
    });

    it('keeps every chunk under the chunk size, splitting a big value into pieces', () => {
      const limits = { ...DEFAULT_LIMITS };
      const a = new KvState(limits);
      a.apply(req('put', 'big', 'x"\u0001😀'.repeat(20_000)));
      for (let i = 0; i < 200; i++) a.apply(req('put', `k${i}`, 'v'.repeat(100), { client: `c${i}` }));
      const chunks = a.snapshotNow(16 * 1024);
      expect(chunks.length).to.be.greaterThan(10);
      for (const c of chunks) expect(utf8Length(JSON.stringify(c))).to.be.at.most(16 * 1024 + 200);
      const b = new KvState(limits);
      b.install({ index: a.index, revision: a.revision }, JSON.parse(JSON.stringify(chunks)) as SnapshotChunk[]);
      expect(stateOf(b)).to.deep.equal(stateOf(a));
    });

    it('yields no chunk for an empty store', () => {
      expect(new KvState().snapshotNow()).to.deep.equal([]);
    });
  });

  describe('streaming transfer (openTransfer, SPEC §3.4)', () => {
    /**
     * The wire, replayed: the backup receives the meta chunks, then data chunks and the
     * operations written meanwhile (each preceded by the keys it pulled ahead), in the order
     * the primary emits them; it applies the ops to the state it is receiving.
     */
    function streamWhileWriting(seed: number, chunkBytes: number, keys: number): { a: KvState; b: KvState; pulled: number } {
      const rnd = lcg(seed);
      const a = new KvState();
      for (let i = 0; i < keys; i++) a.apply(req('put', `k${i}`, i % 17 === 0 ? 'é"😀'.repeat(300 + i) : `v${i}`, { client: `w${i % 3}` }));
      const b = new KvState();
      const wire = (c: SnapshotChunk) => b.receive(JSON.parse(JSON.stringify(c)) as SnapshotChunk);
      b.beginInstall({ index: a.index, revision: a.revision });
      const cursor = a.openTransfer();
      cursor.meta(chunkBytes).forEach(wire);
      const ops = workload(400, seed + 1).map((r) => ({ ...r, key: rnd() < 0.3 ? `new${Math.floor(rnd() * 20)}` : `k${Math.floor(rnd() * (keys + 5))}` }));
      let pulled = 0;
      for (let i = 0; !cursor.done || i < ops.length; i++) {
        if (rnd() < 0.15 * Math.min(1, chunkBytes / 4096) || i >= ops.length) cursor.next(chunkBytes).forEach(wire);
        if (i < ops.length) {
          const r = a.apply(ops[i]);
          const ahead = cursor.takePulled(chunkBytes);
          pulled += ahead.length;
          ahead.forEach(wire);
          // a read's result on the backup is never used (only the primary answers): not compared
          const rb = b.apply(ops[i]);
          if (ops[i].op !== 'get') expect(rb, `op ${i}`).to.deep.equal(r);
        }
      }
      cursor.takePulled(chunkBytes).forEach(wire);
      cursor.historyChunks(chunkBytes).forEach(wire);
      b.finishInstall();
      cursor.close();
      return { a, b, pulled };
    }

    for (const [seed, chunkBytes] of [[1, 512], [2, 4096], [3, 64 * 1024], [4, 1500]] as const) {
      it(`the backup ends with exactly the primary's state, every op applied wholly after the snapshot (seed ${seed}, ${chunkBytes} B chunks)`, () => {
        const { a, b, pulled } = streamWhileWriting(seed, chunkBytes, 400);
        expect(pulled, `pulled ${pulled} done ${a.size}`).to.be.greaterThan(0);
        // (the data's Map order may differ: keys pulled ahead arrive early; only the order of
        // the at-most-once table matters, for eviction, and it is compared)
        expect(b.sortedEntries()).to.deep.equal(a.sortedEntries());
        expect([b.index, b.revision]).to.deep.equal([a.index, a.revision]);
        const revs = (s: KvState) => s.sortedEntries().map(([k]) => [k, s.revisionOf(k)]);
        expect(revs(b), 'each key\'s revision (SPEC §10)').to.deep.equal(revs(a));
        expect(b.openTransfer().meta()).to.deep.equal(a.openTransfer().meta());
        expect(b.history.since(b.history.base)).to.deep.equal(a.history.since(a.history.base));
      });
    }

    it('a key written before the cursor reaches it is sent once, as of the start; one created later is never sent by the cursor', () => {
      const a = new KvState();
      a.apply(req('put', 'x', '1'));
      a.apply(req('put', 'y', '2'));
      const cursor = a.openTransfer();
      cursor.meta();
      a.apply(req('append', 'y', '+'));
      a.apply(req('put', 'z', 'new'));
      a.apply(req('delete', 'x'));
      expect(cursor.takePulled().flatMap((c) => c.data)).to.deep.equal([['y', '2', 0, 2], ['x', '1', 0, 1]]); // with each key's revision (SPEC §10)
      expect(cursor.next().flatMap((c) => c.data)).to.deep.equal([]);
      expect(cursor.done).to.equal(true);
    });

    it('a big value\'s pieces are returned together, and a closed cursor stops pulling', () => {
      const a = new KvState();
      a.apply(req('put', 'big', 'b'.repeat(10_000)));
      a.apply(req('put', 'small', 's'));
      const cursor = a.openTransfer();
      const first = cursor.next(2048);
      expect(first.length).to.be.greaterThan(3);
      const pieces = first.flatMap((c) => c.data).filter((e) => e[0] === 'big');
      expect(pieces.map((e) => e[1]).join('')).to.equal('b'.repeat(10_000));
      expect(pieces.slice(1).every((e) => e[2] === 1)).to.equal(true);
      for (const c of first) expect(utf8Length(JSON.stringify(c))).to.be.at.most(2048 + 64);
      cursor.close();
      a.apply(req('put', 'small', 't'));
      expect(cursor.takePulled()).to.deep.equal([]);
      expect(cursor.next()).to.deep.equal([]);
    });
  });

  it('an ack forgets exactly the results below it, also when seqs were recorded out of order', () => {
    const s = new KvState();
    for (const seq of [1, 2, 5, 3, 4, 7, 6]) s.apply(req('put', `k${seq}`, 'v', { client: 'c', seq }));
    s.apply(req('get', 'k1', undefined, { client: 'c', seq: 8, ack: 5 }));
    const [table] = s.openTransfer().meta()[0].dedup;
    expect(table[1]).to.equal(5);
    expect(table[2].map(([seq]) => seq).sort()).to.deep.equal([5, 6, 7]);
    // in order: the sweep stops at the first kept seq, with the same result
    const t = new KvState();
    for (let seq = 1; seq <= 7; seq++) t.apply(req('put', `k${seq}`, 'v', { client: 'c', seq }));
    t.apply(req('get', 'k1', undefined, { client: 'c', seq: 8, ack: 5 }));
    expect(t.openTransfer().meta()[0].dedup[0][2].map(([seq]) => seq)).to.deep.equal([5, 6, 7]);
  });

  it('is deterministic: the same operations give the same state', () => {
    const a = new KvState(DEFAULT_LIMITS, { maxClients: 3, maxResultsPerClient: 4 });
    const b = new KvState(DEFAULT_LIMITS, { maxClients: 3, maxResultsPerClient: 4 });
    const ra = workload(500, 42).map((r) => a.apply(r));
    const rb = workload(500, 42).map((r) => b.apply(r));
    expect(ra).to.deep.equal(rb);
    expect(stateOf(a)).to.deep.equal(stateOf(b));
  });

  it('jsonStringBytes is the UTF-8 length of JSON.stringify without the quotes', () => {
    for (const s of ['', 'abc', 'a"b\\c', '\n\t\u0001\u001f', 'é€😀', '\ud800x', 'x\udc00', '\u2028']) {
      expect(jsonStringBytes(s), JSON.stringify(s)).to.equal(utf8Length(JSON.stringify(s)) - 2);
    }
  });
});
