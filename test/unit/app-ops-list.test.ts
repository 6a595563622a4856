/** SPEC §10 list in the store: pages in key order, after, limit, keysOnly, the read's revision; bounded work per page. */
import { expect } from 'chai';
import { KvState } from '../../server/replica/kv-state';
import { NOT_ANSWERED } from '../../server/replica/list-page';
import { KeyIndex } from '../../server/replica/key-index';
import type { ReqMsg } from '../../common/messages';
import { decode, isProtocolError } from '../../common/protocol';
import { DEFAULT_LIMITS } from '../../common/limits';

let seq = 0;
const put = (key: string, value: string): ReqMsg => ({ type: 'req', client: 'c', seq: ++seq, ack: 0, op: 'put', key, value });
const list = (prefix: string, o: Partial<ReqMsg> = {}): ReqMsg => ({ type: 'req', client: 'c', seq: 1e9, ack: 0, op: 'list', key: prefix, limit: 1000, ...o });

describe('list (SPEC §10)', () => {
  it('KeyIndex.page returns the smallest keys after `after` with the prefix, sorted, and whether more follow, through adds and deletes', () => {
    const ix = new KeyIndex();
    for (const k of ['b3', 'a1', 'b1', 'c1', 'b2', 'b10']) ix.add(k);
    expect(ix.page('b', undefined, 2)).to.deep.equal({ keys: ['b1', 'b10'], more: true });
    expect(ix.page('b', 'b10', 2)).to.deep.equal({ keys: ['b2', 'b3'], more: false });
    expect(ix.page('', 'b3', 10)).to.deep.equal({ keys: ['c1'], more: false });
    expect(ix.page('b', 'a', 1)).to.deep.equal({ keys: ['b1'], more: true });
    expect(ix.page('b', 'c', 5)).to.deep.equal({ keys: [], more: false });
    // random adds and deletes (many chunk splits and removals): the same as sort + filter + slice
    let x = 7;
    const rnd = () => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32);
    const big = new KeyIndex();
    const model = new Set<string>();
    for (let i = 0; i < 20_000; i++) {
      const k = `k${Math.floor(rnd() * 5000)}`;
      if (rnd() < 0.3) { big.delete(k); model.delete(k); } else if (!model.has(k)) { big.add(k); model.add(k); }
    }
    const sorted = [...model].sort();
    expect([...big]).to.deep.equal(sorted);
    expect(big.size).to.equal(model.size);
    for (const [prefix, after, limit] of [['k', 'k3', 1], ['k', 'k3', 7], ['k2', undefined, 100], ['k', undefined, 5000], ['k49', 'k4', 3]] as [string, string | undefined, number][]) {
      const want = sorted.filter((k) => k.startsWith(prefix) && (after === undefined || k > after));
      expect(big.page(prefix, after, limit), `${prefix} ${after} ${limit}`).to.deep.equal({ keys: want.slice(0, limit), more: want.length > limit });
    }
  });

  it('a store filled by a state transfer lists the same pages, and keeps its index through later creates and deletes (SPEC §3.4)', () => {
    const from = new KvState();
    for (let i = 0; i < 3000; i++) from.apply(put(`t:${(i * 37) % 3000}`, `v${i}`));
    from.apply({ type: 'req', client: 'c', seq: ++seq, ack: 0, op: 'delete', key: 't:7' });
    const to = new KvState();
    to.install({ index: from.index, revision: from.revision }, from.snapshotNow(4096));
    for (const after of [undefined, 't:1', 't:2999']) {
      expect(to.apply(list('t:', { limit: 500, ...(after ? { after } : {}) })), String(after)).to.deep.equal(from.apply(list('t:', { limit: 500, ...(after ? { after } : {}) })));
    }
    for (const s of [from, to]) { s.apply(put('t:0a', 'new')); s.apply({ type: 'req', client: 'c', seq: ++seq, ack: 0, op: 'delete', key: 't:1' }); }
    const page = to.apply(list('t:', { limit: 3, keysOnly: true }));
    expect(page.ok && page.entries?.map((e) => e[0])).to.deep.equal(['t:0', 't:0a', 't:10']);
    expect(page).to.deep.equal(from.apply(list('t:', { limit: 3, keysOnly: true })));
  });

  it('a backup applies a forwarded list without computing its page, and ends in the same state (SPEC §3.5)', () => {
    const primary = new KvState();
    const backup = new KvState();
    const ops = [put('u:1', 'a'), put('u:2', 'b'), { ...list('u:'), client: 'reader', seq: 1 }, put('u:3', 'c')];
    for (const op of ops) primary.apply(op);
    const skipped = ops.map((op) => backup.apply(op, false));
    expect(skipped[2]).to.equal(NOT_ANSWERED);
    expect(backup.index).to.equal(primary.index);
    expect(backup.sortedEntries()).to.deep.equal(primary.sortedEntries());
    expect(backup.apply(list('u:'))).to.deep.equal(primary.apply(list('u:')));
  });

  it('a page holds [key, rev, value] entries in key order, the store revision, and more; keysOnly leaves values out', () => {
    const s = new KvState();
    for (const k of ['u:3', 'u:1', 'x', 'u:2']) s.apply(put(k, `v-${k}`));
    expect(s.apply(list('u:', { limit: 2 }))).to.deep.equal({ ok: true, value: null, rev: 4, entries: [['u:1', 2, 'v-u:1'], ['u:2', 4, 'v-u:2']], more: true });
    expect(s.apply(list('u:', { after: 'u:2', keysOnly: true }))).to.deep.equal({ ok: true, value: null, rev: 4, entries: [['u:3', 1]], more: false });
  });

  it('paging through 100k keys visits each exactly once (the time a page takes is reported; speed is for the bench)', function () {
    this.timeout(120_000); // filling 100k keys takes seconds on a loaded machine
    const s = new KvState();
    for (let i = 0; i < 100_000; i++) s.apply(put(`key:${(i * 7919) % 100_000}`, 'v'));
    const seen = new Set<string>();
    let after: string | undefined;
    const times: number[] = [];
    for (;;) {
      const t0 = performance.now();
      const r = s.apply(list('key:', { limit: 1000, ...(after !== undefined ? { after } : {}) }));
      times.push(performance.now() - t0);
      if (!r.ok || !r.entries) throw new Error('list failed');
      for (const e of r.entries) { expect(seen.has(e[0])).to.equal(false); seen.add(e[0]); }
      if (!r.more) break;
      after = r.entries[r.entries.length - 1][0];
    }
    expect(seen.size).to.equal(100_000);
    times.sort((a, b) => a - b);
    const median = times[times.length >> 1];
    console.log(`      (100k keys, ${times.length} pages of 1000: median ${median.toFixed(1)} ms, worst ${times[times.length - 1].toFixed(1)} ms a page)`);
  });

  it('a page stops before the message limit (more: true)', () => {
    const s = new KvState({ ...DEFAULT_LIMITS, maxMessageBytes: 4096 });
    for (let i = 0; i < 10; i++) s.apply(put(`k${i}`, 'x'.repeat(1000)));
    const r = s.apply(list('k'));
    expect(r.ok && r.entries?.length).to.equal(3);
    expect(r.ok && r.more).to.equal(true);
  });

  it('refuses limit outside 1..10000, a non-string after, a non-boolean keysOnly with BAD_REQUEST', () => {
    const base = { type: 'req', client: 'c', seq: 1, ack: 0, op: 'list', key: 'p' };
    for (const extra of [{}, { limit: 0 }, { limit: 10_001 }, { limit: 1.5 }, { limit: 5, after: 3 }, { limit: 5, keysOnly: 'yes' }]) {
      const r = decode(JSON.stringify({ ...base, ...extra }));
      expect(isProtocolError(r) && r.code, JSON.stringify(extra)).to.equal('BAD_REQUEST');
    }
    expect(decode(JSON.stringify({ ...base, limit: 10_000, after: 'p1', keysOnly: true }))).to.deep.equal({ ...base, limit: 10_000, after: 'p1', keysOnly: true });
  });
});
