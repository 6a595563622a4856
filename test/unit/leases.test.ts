/**
 * SPEC §10, `ttlMs` and ephemeral keys, piece by piece: the checks of bad values (nothing is
 * written), the reserved client ids, the deadline heap, the leases inside the KvState and
 * how a snapshot carries them (the ttl left), the client's option checks.
 */
import { expect } from 'chai';
import { decode, isProtocolError, MAX_TTL_MS } from '../../common/protocol';
import type { ReqMsg } from '../../common/messages';
import { DeadlineHeap } from '../../server/replica/deadline-heap';
import { KvState } from '../../server/replica/kv-state';
import { checkLeaseOptions, leaseFields } from '../../client/core/lease-options';
import { resolveOptions } from '../../client/options';
import { UnderstudyError } from '../../common/errors';

const req = (o: Record<string, unknown>): string => JSON.stringify({ type: 'req', client: 'c', seq: 1, ack: 1, op: 'put', key: 'k', value: 'v', ...o });
const refused = (text: string): string => {
  const m = decode(text);
  expect(isProtocolError(m), text).to.equal(true);
  expect((m as { code: string }).code).to.equal('BAD_REQUEST');
  return (m as { message: string }).message;
};

describe('SPEC §10 leases: checks', () => {
  it('ttlMs must be an integer from 1 to 30 days, on put only: else BAD_REQUEST and nothing written (SPEC §10)', () => {
    expect(MAX_TTL_MS).to.equal(30 * 24 * 3600 * 1000);
    for (const ttlMs of [0, -1, 1.5, MAX_TTL_MS + 1, '100', null, true, 1e300]) expect(refused(req({ ttlMs }))).to.match(/ttlMs/);
    expect(refused(req({ op: 'append', ttlMs: 10 }))).to.match(/put only/);
    expect(refused(JSON.stringify({ type: 'req', client: 'c', seq: 1, ack: 1, op: 'delete', key: 'k', ttlMs: 10 }))).to.match(/put only/);
    expect(decode(req({ ttlMs: 1 }))).to.include({ ttlMs: 1 });
    expect(decode(req({ ttlMs: MAX_TTL_MS }))).to.include({ ttlMs: MAX_TTL_MS });
  });

  it('ephemeral must be true; sessionTtlMs goes with it, 1 ms to 30 days (SPEC §10)', () => {
    expect(refused(req({ ephemeral: false }))).to.match(/ephemeral must be true/);
    expect(refused(req({ ephemeral: 'yes' }))).to.match(/ephemeral must be true/);
    expect(refused(req({ sessionTtlMs: 1000 }))).to.match(/goes with ephemeral/);
    expect(refused(req({ ephemeral: true, sessionTtlMs: 0 }))).to.match(/sessionTtlMs/);
    expect(decode(req({ ephemeral: true, sessionTtlMs: 500, ttlMs: 9 }))).to.include({ ephemeral: true, sessionTtlMs: 500, ttlMs: 9 });
  });

  it('client ids starting with "#" are refused from clients and accepted only inside a fwd (the store\'s own deletes)', () => {
    expect(refused(req({ client: '#ttl' }))).to.match(/reserved/);
    const fwd = decode(JSON.stringify({ type: 'fwd', viewnum: 1, index: 1, ops: [{ type: 'req', client: '#ttl', seq: 5, ack: 5, op: 'delete', key: 'k' }] }));
    expect(isProtocolError(fwd)).to.equal(false);
    expect(() => resolveOptions({ view: 'ws://x', clientId: '#me' }, class {} as never)).to.throw(UnderstudyError, /reserved/);
  });

  it('hello carries the client id of the link\'s session; a bad one is BAD_REQUEST', () => {
    expect(decode('{"type":"hello","client":"c1"}')).to.deep.equal({ type: 'hello', client: 'c1' });
    refused('{"type":"hello","client":""}');
  });

  it('the client refuses bad ttlMs, ttlMs on another op and a non-boolean ephemeral before sending (SPEC §10)', () => {
    expect(checkLeaseOptions('put', { ttlMs: 0 })?.code).to.equal('BAD_REQUEST');
    expect(checkLeaseOptions('put', { ttlMs: MAX_TTL_MS + 1 })?.message).to.match(/30 days/);
    expect(checkLeaseOptions('append', { ttlMs: 10 })?.message).to.match(/put only/);
    expect(checkLeaseOptions('put', { ephemeral: 1 })?.code).to.equal('BAD_REQUEST');
    expect(checkLeaseOptions('put', { ttlMs: 10, ephemeral: true })).to.equal(null);
    expect(checkLeaseOptions('delete', { ephemeral: false })).to.equal(null);
    expect(leaseFields({ ttlMs: 10, ephemeral: true }, 1000)).to.deep.equal({ ttlMs: 10, ephemeral: true, sessionTtlMs: 1000 });
    expect(() => resolveOptions({ view: 'ws://x', sessionTtlMs: 0 }, class {} as never)).to.throw(UnderstudyError, /sessionTtlMs/);
  });
});

describe('SPEC §10 leases: the deadline heap', () => {
  it('pops in deadline order, whatever the push order', () => {
    const h = new DeadlineHeap();
    const at = Array.from({ length: 500 }, (_, i) => (i * 7919) % 1000);
    at.forEach((t, i) => h.push(t, `k${i}`));
    const out: number[] = [];
    while (h.size > 0) { out.push(h.peek()); h.pop(); }
    expect(out).to.deep.equal([...at].sort((a, b) => a - b));
    expect(h.peek()).to.equal(Infinity);
  });

  it('a key put again many times keeps the heap bounded (stale entries are compacted)', () => {
    const s = new KvState();
    for (let i = 0; i < 10_000; i++) {
      s.apply({ type: 'req', client: 'c', seq: i + 1, ack: i + 1, op: 'put', key: 'k', value: 'v', ttlMs: 1000 });
      s.leases.arm(i);
    }
    expect((s.leases as unknown as { heap: DeadlineHeap }).heap.size).to.be.below(1100);
    expect(s.leases.deadlineOf('k')).to.equal(9999 + 1000);
  });
});

describe('SPEC §10 leases in the KvState', () => {
  const w = (seq: number, extra: Partial<ReqMsg>): ReqMsg => ({ type: 'req', client: 'c1', seq, ack: 1, op: 'put', key: 'k', value: 'v', ...extra });

  it('a ttl is armed at the next time input; a refused put (CONFLICT) changes no lease', () => {
    const s = new KvState();
    s.apply(w(1, { ttlMs: 100 }));
    expect(s.leases.needsTime).to.equal(true);
    s.leases.arm(5000);
    expect(s.leases.deadlineOf('k')).to.equal(5100);
    s.apply(w(2, { ifRevision: 99 })); // CONFLICT: nothing written, the ttl stays
    expect(s.leases.deadlineOf('k')).to.equal(5100);
    const due: string[] = [];
    s.leases.due(5099, 10, due);
    expect(due).to.deep.equal([]);
    s.leases.due(5100, 10, due);
    expect(due).to.deep.equal(['k']);
  });

  it('a snapshot carries the ttl left and the owners; install arms it on the receiver\'s clock', () => {
    const s = new KvState();
    s.apply(w(1, { ttlMs: 1000 }));
    s.apply({ ...w(2, { ephemeral: true, sessionTtlMs: 700 }), key: 'e' });
    s.leases.arm(10_000);
    s.leases.arm(10_400); // 600 left
    const t = new KvState();
    t.install({ index: s.index, revision: s.revision }, s.snapshotNow());
    expect(t.leases.deadlineOf('k')).to.equal(undefined); // not armed before a time input
    t.leases.arm(77_000); // another clock entirely
    expect(t.leases.deadlineOf('k')).to.equal(77_600);
    expect(t.leases.ownerOf('e')).to.equal('c1');
    expect(t.leases.session('c1')?.ttlMs).to.equal(700);
    expect(t.sortedEntries()).to.deep.equal(s.sortedEntries());
  });

  it('an atomic put or delete clears a key\'s lease; an atomic append keeps it', () => {
    const s = new KvState();
    s.apply(w(1, { ttlMs: 100 }));
    s.apply({ ...w(2, { ttlMs: 100 }), key: 'j' });
    s.apply({ type: 'req', client: 'c1', seq: 3, ack: 1, op: 'atomic', key: '', ops: [['put', 'k', 'x'], ['append', 'j', '!']] });
    s.leases.arm(0);
    expect(s.leases.deadlineOf('k')).to.equal(undefined);
    expect(s.leases.deadlineOf('j')).to.equal(100);
  });
});
