/**
 * server/replica/write-history.ts and the store's use of it: the bounded write history that
 * watch replays read (issue #4). Pure: no ports, no timers.
 */
import { expect } from 'chai';
import { WriteHistory, EVENT_OVERHEAD_BYTES, WriteEvent } from '../../server/replica/write-history';
import { KvState, SnapshotChunk } from '../../server/replica/kv-state';
import type { ReqMsg, OpName } from '../../common/messages';

const ev = (rev: number, key = 'k', value: string | null = `v${rev}`): WriteEvent => ({ key, value, rev });

function fill(h: WriteHistory, from: number, to: number): void {
  for (let r = from; r <= to; r++) h.push(ev(r), 1, 2);
}

let seq = 0;
function req(op: OpName, key: string, value?: string, client = 'c'): ReqMsg {
  const r: ReqMsg = { type: 'req', client, seq: ++seq, ack: 0, op, key };
  if (value !== undefined) r.value = value;
  return r;
}

describe('WriteHistory', () => {
  it('covers a contiguous range of revisions (base, last]', () => {
    const h = new WriteHistory({ maxEvents: 10, maxBytes: 1 << 20 });
    expect([h.base, h.last, h.length]).to.deep.equal([0, 0, 0]);
    fill(h, 1, 3);
    expect([h.base, h.last, h.length]).to.deep.equal([0, 3, 3]);
    expect([...h.since(1)].map((e) => e.rev)).to.deep.equal([2, 3]);
    expect([...h.since(3)]).to.deep.equal([]);
  });

  it('evicts the oldest events beyond maxEvents, and then no longer reaches back', () => {
    const h = new WriteHistory({ maxEvents: 3, maxBytes: 1 << 20 });
    fill(h, 1, 5);
    expect([h.base, h.last]).to.deep.equal([2, 5]);
    expect(h.reaches(2)).to.equal(true);
    expect(h.reaches(1)).to.equal(false);
    expect([...h.since(2)].map((e) => e.rev)).to.deep.equal([3, 4, 5]);
  });

  it('evicts beyond maxBytes (keys, values and a fixed cost per event), keeping at least the newest', () => {
    const h = new WriteHistory({ maxEvents: 100, maxBytes: 3 * (3 + EVENT_OVERHEAD_BYTES) });
    fill(h, 1, 5);
    expect(h.length).to.equal(3);
    expect(h.bytes).to.equal(3 * (3 + EVENT_OVERHEAD_BYTES));
    h.push(ev(6, 'k', 'x'.repeat(1000)), 1, 1000);
    expect([h.base, h.last]).to.deep.equal([5, 6]);
  });

  it('restarts after a revision that does not follow (never a hole in the range)', () => {
    const h = new WriteHistory();
    fill(h, 1, 2);
    h.push(ev(9), 1, 2);
    expect([h.base, h.last]).to.deep.equal([8, 9]);
  });

  it('#reset starts empty at a revision (after a state transfer)', () => {
    const h = new WriteHistory();
    fill(h, 1, 4);
    h.reset(40);
    expect([h.base, h.last, h.length, h.bytes]).to.deep.equal([40, 40, 0, 0]);
    expect(h.reaches(39)).to.equal(false);
  });

  it('stays correct across its internal compaction (many evictions)', () => {
    const h = new WriteHistory({ maxEvents: 10, maxBytes: 1 << 30 });
    fill(h, 1, 5000);
    expect([h.base, h.last]).to.deep.equal([4990, 5000]);
    expect([...h.since(4995)].map((e) => e.rev)).to.deep.equal([4996, 4997, 4998, 4999, 5000]);
  });
});

describe('KvState history (watch replays)', () => {
  it('records one event per write that changes the data, with the whole new value', () => {
    const s = new KvState();
    s.apply(req('put', 'a', 'x'));
    s.apply(req('append', 'a', 'y'));
    s.apply(req('get', 'a'));
    s.apply(req('delete', 'missing'));
    s.apply(req('delete', 'a'));
    const dup = req('put', 'b', '1');
    s.apply(dup);
    s.apply({ ...dup }); // a retry: not applied again, no event
    expect([...s.history.since(0)]).to.deep.equal([
      { key: 'a', value: 'x', rev: 1 },
      { key: 'a', value: 'xy', rev: 2 },
      { key: 'a', value: null, rev: 3 },
      { key: 'b', value: '1', rev: 4 },
    ]);
    expect(s.lastWrite).to.deep.equal({ key: 'b', value: '1', rev: 4 });
  });

  it('records no event for a refused write (TOO_LARGE)', () => {
    const s = new KvState({ maxKeyBytes: 4, maxValueBytes: 4, maxMessageBytes: 1 << 20 });
    expect(s.apply(req('put', 'k', 'toolong'))).to.include({ ok: false, code: 'TOO_LARGE' });
    expect(s.history.length).to.equal(0);
  });

  it('is carried by the state transfer, a big value in pieces, and installed whole', () => {
    const a = new KvState();
    a.apply(req('put', 'big', 'x"\u0001😀'.repeat(20_000)));
    for (let i = 0; i < 50; i++) a.apply(req('put', `k${i}`, 'v'.repeat(100)));
    a.apply(req('delete', 'k3'));
    const chunks = a.snapshotNow(16 * 1024);
    const b = new KvState();
    b.apply(req('put', 'stale', 'from a deposed primary'));
    b.install({ index: a.index, revision: a.revision }, JSON.parse(JSON.stringify(chunks)) as SnapshotChunk[]);
    expect([b.history.base, b.history.last]).to.deep.equal([a.history.base, a.history.last]);
    expect([...b.history.since(0)]).to.deep.equal([...a.history.since(0)]);
  });

  it('installs an empty history at the snapshot revision when the transferred events have a hole', () => {
    const b = new KvState();
    b.apply(req('put', 'stale', 'x'));
    b.install({ index: 10, revision: 7 }, [{ data: [], dedup: [], events: [[5, 'k', 'a'], [7, 'k', 'b']] }]);
    expect([b.history.base, b.history.last, b.history.length]).to.deep.equal([7, 7, 0]);
  });

  it('installs an empty history at the snapshot revision from a transfer without events', () => {
    const b = new KvState();
    b.apply(req('put', 'stale', 'x'));
    b.install({ index: 3, revision: 2 }, [{ data: [['k', 'v']], dedup: [] }]);
    expect([b.history.base, b.history.length]).to.deep.equal([2, 0]);
  });
});
