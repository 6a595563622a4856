/** SPEC §10 atomic commits in the store, the history, the watches and the client's watch core. Pure. */
import { expect } from 'chai';
import { KvState, SnapshotChunk } from '../../server/replica/kv-state';
import { WatchRegistry, replayBatch, commitPushes } from '../../server/replica/watch-registry';
import { Watches } from '../../client/core/watches';
import type { ReqMsg, AtomicOpWire, EventMsg } from '../../common/messages';
import { decode, isProtocolError } from '../../common/protocol';
import { DEFAULT_LIMITS } from '../../common/limits';

let seq = 0;
const put = (key: string, value: string): ReqMsg => ({ type: 'req', client: 'c', seq: ++seq, ack: 0, op: 'put', key, value });
const atomic = (ops: AtomicOpWire[], checks: [string, number][] = []): ReqMsg => ({ type: 'req', client: 'c', seq: ++seq, ack: 0, op: 'atomic', key: '', checks, ops });

describe('atomic commits (SPEC §10)', () => {
  it('all checks pass: every write under ONE revision, each key at that revision', () => {
    const s = new KvState();
    s.apply(put('a', '1')); // rev 1
    s.apply(put('c', 'x')); // rev 2
    const r = s.apply(atomic([['put', 'a', '2'], ['delete', 'c'], ['append', 'd', '!'], ['append', 'd', '?']], [['a', 1], ['b', 0]]));
    expect(r).to.deep.equal({ ok: true, value: true, rev: 3 });
    expect([s.get('a'), s.get('c'), s.get('d'), s.revision]).to.deep.equal(['2', undefined, '!?', 3]);
    expect([s.revisionOf('a'), s.revisionOf('c'), s.revisionOf('d')]).to.deep.equal([3, 0, 3]);
    expect([...s.history.since(2)].map((e) => [e.rev, e.key, e.value])).to.deep.equal([[3, 'a', '2'], [3, 'c', null], [3, 'd', '!?']]);
  });

  it('a failed check writes nothing and names the key and its revision; a retry returns the same (exactly-once)', () => {
    const s = new KvState();
    s.apply(put('a', '1'));
    const req = atomic([['put', 'a', '2'], ['put', 'b', '2']], [['b', 0], ['a', 7]]);
    const r = s.apply(req);
    expect(r).to.include({ ok: false, code: 'CONFLICT', key: 'a', revision: 1 });
    expect([s.get('a'), s.get('b'), s.revision]).to.deep.equal(['1', undefined, 1]);
    expect(s.apply(req)).to.deep.equal(r);
  });

  it('a value over the limit refuses the whole commit with TOO_LARGE, nothing written', () => {
    const s = new KvState({ ...DEFAULT_LIMITS, maxValueBytes: 10 });
    const r = s.apply(atomic([['put', 'a', '12345'], ['append', 'a', '123456']]));
    expect(r).to.include({ ok: false, code: 'TOO_LARGE' });
    expect([s.get('a'), s.revision]).to.deep.equal([undefined, 0]);
  });

  it('the decoder refuses over 1000 checks and writes, bad entries, bad revisions with BAD_REQUEST', () => {
    const base = { type: 'req', client: 'c', seq: 1, ack: 0, op: 'atomic', key: '' };
    const many = Array.from({ length: 1001 }, (_, i) => ['put', `k${i}`, 'v']);
    for (const extra of [{ ops: many }, { ops: [['put', 'k']] }, { ops: [['get', 'k']] }, { ops: [], checks: [['k', -1]] }, { ops: [], checks: [['k', 1.5]] }, {}]) {
      const r = decode(JSON.stringify({ ...base, ...extra }));
      expect(isProtocolError(r) && r.code, JSON.stringify(extra).slice(0, 60)).to.equal('BAD_REQUEST');
    }
    expect(isProtocolError(decode(JSON.stringify({ ...base, ops: many.slice(0, 1000) })))).to.equal(false);
  });

  it('the state transfer carries a commit\'s history; the backup replays it whole (several events, one revision)', () => {
    const a = new KvState();
    a.apply(put('x', '0'));
    a.apply(atomic([['put', 'x', '1'], ['put', 'y', '1']]));
    a.apply(put('z', '2'));
    const b = new KvState();
    b.install({ index: a.index, revision: a.revision }, JSON.parse(JSON.stringify(a.snapshotNow())) as SnapshotChunk[]);
    expect([...b.history.since(0)]).to.deep.equal([...a.history.since(0)]);
    expect(b.history.reaches(1)).to.equal(true);
  });

  it('a history that evicted part of a commit does not reach back before it (no partial replay)', () => {
    const s = new KvState(DEFAULT_LIMITS, undefined, { maxEvents: 3, maxBytes: 1 << 20 });
    s.apply(put('p', '0')); // rev 1
    s.apply(atomic([['put', 'a', '1'], ['put', 'b', '1'], ['put', 'c', '1']])); // rev 2: three events
    s.apply(put('q', '0')); // rev 3: evicts rev 1 and part of rev 2
    expect(s.history.reaches(1)).to.equal(false);
    expect(s.history.reaches(2)).to.equal(true);
    expect([...s.history.since(2)].map((e) => e.key)).to.deep.equal(['q']);
  });

  it('watchers: every event but a watch\'s last of the commit carries more, live and in replays', () => {
    const s = new KvState();
    const reg = new WatchRegistry();
    const w = reg.register(1, 7, 'u:*');
    if (!('active' in w)) throw new Error('refused');
    reg.activate(w);
    s.apply(atomic([['put', 'u:1', 'a'], ['put', 'x', 'no'], ['put', 'u:2', 'b']]));
    const live = commitPushes(reg, s.lastCommit).map((p) => p.msg);
    expect(live.map((m) => [m.key, m.more ?? false])).to.deep.equal([['u:1', true], ['u:2', false]]);
    const replay = replayBatch(s, w, 0).filter((m): m is EventMsg => m.type === 'event');
    expect(replay.map((m) => [m.key, m.more ?? false])).to.deep.equal([['u:1', true], ['u:2', false]]);
  });

  it('the client delivers a commit\'s events together on its last one, and none if the link drops before it', () => {
    const got: string[] = [];
    const c = new Watches(DEFAULT_LIMITS);
    const id = c.add('u:*', 0);
    if (typeof id !== 'number') throw id;
    const drain = () => { for (const f of c.takeEffects()) if (f.kind === 'deliver') got.push(`${f.event.key}@${f.event.revision}`); };
    c.linkOpened();
    c.synced({ type: 'synced', id, rev: 0 });
    c.event({ type: 'event', id, key: 'u:1', value: 'a', rev: 1, more: true });
    c.linkClosed(); // cut in the middle of the commit
    c.linkOpened();
    drain();
    expect(got).to.deep.equal([]);
    expect(c.revisionOf(id)).to.equal(0);
    c.event({ type: 'event', id, key: 'u:1', value: 'a', rev: 1, more: true });
    c.event({ type: 'event', id, key: 'u:2', value: 'b', rev: 1 });
    drain();
    expect(got).to.deep.equal(['u:1@1', 'u:2@1']);
  });
});
