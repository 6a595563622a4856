/**
 * SPEC §10 in the store (KvState): per-key revisions, getEntry, conditional put and delete.
 * Pure: no ports, no clocks.
 */
import { expect } from 'chai';
import { KvState, SnapshotChunk } from '../../server/replica/kv-state';
import type { ReqMsg, OpName } from '../../common/messages';
import { decode, encode, isProtocolError } from '../../common/protocol';

let seq = 0;
function req(op: OpName, key: string, o: { value?: string; ifRevision?: number; client?: string; seq?: number } = {}): ReqMsg {
  const r: ReqMsg = { type: 'req', client: o.client ?? 'c1', seq: o.seq ?? ++seq, ack: 0, op, key };
  if (o.value !== undefined) r.value = o.value;
  if (o.ifRevision !== undefined) r.ifRevision = o.ifRevision;
  return r;
}

describe('KvState: revisions and conditional writes (SPEC §10)', () => {
  beforeEach(() => { seq = 0; });

  it('each key remembers the revision of its last write; 0 = never written or deleted (SPEC §10)', () => {
    const s = new KvState();
    expect(s.revisionOf('a')).to.equal(0);
    s.apply(req('put', 'a', { value: '1' }));
    s.apply(req('put', 'b', { value: '1' }));
    s.apply(req('append', 'a', { value: '2' }));
    expect([s.revisionOf('a'), s.revisionOf('b'), s.revision]).to.deep.equal([3, 2, 3]);
    s.apply(req('delete', 'a'));
    expect([s.revisionOf('a'), s.revision]).to.deep.equal([0, 4]);
  });

  it('getEntry returns the value, the store revision and the key\'s revision, and is a read (not recorded)', () => {
    const s = new KvState();
    s.apply(req('put', 'a', { value: 'x' }));
    s.apply(req('put', 'b', { value: 'y' }));
    expect(s.apply(req('getEntry', 'a', { seq: 10 }))).to.deep.equal({ ok: true, value: 'x', rev: 2, krev: 1 });
    expect(s.apply(req('getEntry', 'zz', { seq: 11 }))).to.deep.equal({ ok: true, value: null, rev: 2, krev: 0 });
    s.apply(req('put', 'a', { value: 'z', seq: 12 }));
    // the same seq again answers the current state: a read is never recorded
    expect(s.apply(req('getEntry', 'a', { seq: 10 }))).to.deep.equal({ ok: true, value: 'z', rev: 3, krev: 3 });
  });

  it('put with ifRevision writes only at that revision, else CONFLICT with the current revision, nothing written (SPEC §10)', () => {
    const s = new KvState();
    expect(s.apply(req('put', 'k', { value: 'v1', ifRevision: 0 }))).to.deep.equal({ ok: true, value: null, rev: 1 });
    const stale = s.apply(req('put', 'k', { value: 'v2', ifRevision: 0 }));
    expect(stale).to.include({ ok: false, code: 'CONFLICT', revision: 1 });
    expect([s.get('k'), s.revision]).to.deep.equal(['v1', 1]);
    expect(s.apply(req('put', 'k', { value: 'v2', ifRevision: 1 }))).to.deep.equal({ ok: true, value: null, rev: 2 });
    expect(s.get('k')).to.equal('v2');
  });

  it('delete with ifRevision deletes only at that revision; ifRevision 0 on a missing key is a no-op success', () => {
    const s = new KvState();
    s.apply(req('put', 'k', { value: 'v' }));
    expect(s.apply(req('delete', 'k', { ifRevision: 7 }))).to.include({ ok: false, code: 'CONFLICT', revision: 1 });
    expect(s.get('k')).to.equal('v');
    expect(s.apply(req('delete', 'k', { ifRevision: 1 }))).to.deep.equal({ ok: true, value: true, rev: 2 });
    expect(s.apply(req('delete', 'k', { ifRevision: 0 }))).to.deep.equal({ ok: true, value: false, rev: 2 });
  });

  it('a retried conditional write returns its first result (exactly-once), also a CONFLICT (SPEC §10)', () => {
    const s = new KvState();
    const first = s.apply(req('put', 'k', { value: 'a', ifRevision: 0, seq: 1 }));
    expect(s.apply(req('put', 'k', { value: 'a', ifRevision: 0, seq: 1 }))).to.deep.equal(first);
    const conflict = s.apply(req('put', 'k', { value: 'b', ifRevision: 0, seq: 2 }));
    s.apply(req('delete', 'k', { seq: 3 }));
    // now ifRevision 0 would pass, but seq 2 was decided: the same CONFLICT again, nothing written
    expect(s.apply(req('put', 'k', { value: 'b', ifRevision: 0, seq: 2 }))).to.deep.equal(conflict);
    expect(s.get('k')).to.equal(undefined);
  });

  it('compare-and-set increments from many clients lose no update', () => {
    const s = new KvState();
    const seqs = new Map<string, number>();
    let done = 0;
    // 4 clients read, then all try to write at the revision they read: exactly one wins per round
    while (done < 40) {
      const reads = ['a', 'b', 'c', 'd'].map((c) => ({ c, e: s.apply(req('getEntry', 'n', { client: c, seq: 1e6 })) }));
      for (const { c, e } of reads) {
        if (!e.ok) throw new Error('read failed');
        const next = String(Number(e.value ?? '0') + 1);
        const n = (seqs.get(c) ?? 0) + 1;
        seqs.set(c, n);
        const r = s.apply(req('put', 'n', { value: next, ifRevision: e.krev, client: c, seq: n }));
        if (r.ok) done++;
      }
    }
    expect(s.get('n')).to.equal('40');
  });

  it('the state transfer carries each key\'s revision, so conditional writes decide the same on the backup (SPEC §3.5, §10)', () => {
    const a = new KvState();
    a.apply(req('put', 'x', { value: '1' }));
    a.apply(req('put', 'y', { value: 'big'.repeat(2000) }));
    a.apply(req('put', 'x', { value: '2' }));
    const b = new KvState();
    b.install({ index: a.index, revision: a.revision }, JSON.parse(JSON.stringify(a.snapshotNow(1024))) as SnapshotChunk[]);
    expect([b.revisionOf('x'), b.revisionOf('y')]).to.deep.equal([3, 2]);
    const op = req('put', 'x', { value: '3', ifRevision: 3 });
    expect(b.apply(op)).to.deep.equal(a.apply(op));
    const stale = req('delete', 'y', { ifRevision: 1 });
    expect(b.apply(stale)).to.deep.equal(a.apply(stale));
  });
});

describe('protocol: ifRevision and getEntry on the wire (SPEC §10)', () => {
  const base = { type: 'req', client: 'c', seq: 1, ack: 0 };
  it('refuses an ifRevision that is not a non-negative integer, or on get/append, with BAD_REQUEST', () => {
    for (const ifRevision of [-1, 1.5, '2', null, 2 ** 60]) {
      const r = decode(JSON.stringify({ ...base, op: 'put', key: 'k', value: 'v', ifRevision }));
      expect(isProtocolError(r) && r.code, String(ifRevision)).to.equal('BAD_REQUEST');
    }
    for (const op of ['get', 'append', 'getEntry']) {
      const r = decode(JSON.stringify({ ...base, op, key: 'k', ...(op === 'append' ? { value: 'v' } : {}), ifRevision: 0 }));
      expect(isProtocolError(r) && r.code, op).to.equal('BAD_REQUEST');
    }
  });
  it('carries ifRevision, getEntry\'s krev and CONFLICT\'s revision', () => {
    expect(decode(JSON.stringify({ ...base, op: 'delete', key: 'k', ifRevision: 3 }))).to.deep.equal({ ...base, op: 'delete', key: 'k', ifRevision: 3 });
    expect(decode(encode({ type: 'res', seq: 1, ok: true, value: 'v', rev: 9, krev: 4 }))).to.deep.equal({ type: 'res', seq: 1, ok: true, value: 'v', rev: 9, krev: 4 });
    const conflict = { type: 'res', seq: 1, ok: false, code: 'CONFLICT', message: 'm', revision: 4 } as const;
    expect(decode(encode(conflict))).to.deep.equal(conflict);
  });
});
