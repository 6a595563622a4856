/**
 * The leader's storage (etcd/view-ha.ts FencedStorage) and its term (etcd/leadership.ts
 * Term) on an in-memory Kv (SPEC §12): every view and acknowledgement is one fenced Txn, in
 * order; nothing reaches the shell before it committed; the first refused write deposes and
 * drops the rest. No etcd, no timers.
 */
import { expect } from 'chai';
import { Term, leaderKey, viewKey } from '../../server/viewservice/etcd/leadership';
import { FencedStorage } from '../../server/viewservice/etcd/view-ha';
import type { PersistedView } from '../../common/recovery';
import { MemoryKv } from '../support/memory-kv';

function state(viewnum: number, acked: boolean): PersistedView {
  return { version: 1, view: { viewnum, primary: 'ws://a', backup: viewnum > 1 ? 'ws://b' : null }, holders: { primary: 'i-a', backup: viewnum > 1 ? 'i-b' : null }, acked, maxViewnum: viewnum };
}

/** A term as Leadership starts one: our leader key on a lease, then the view as etcd holds it. */
async function termOn(kv: MemoryKv, prefix = '/p'): Promise<{ term: Term; leaseId: string }> {
  const lease = await kv.grantLease(2);
  const r = await kv.txn([{ key: leaderKey(prefix), target: 'createRevision', equals: 0 }], [{ key: leaderKey(prefix), value: '{"id":"a","url":"ws://a"}', lease: lease.id }]);
  expect(r.succeeded).to.equal(true);
  const v = await kv.range(viewKey(prefix));
  return { term: new Term(kv, prefix, r.revision, null, v.entry?.modRevision ?? 0, 0), leaseId: lease.id };
}

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('the leader\'s fenced storage (SPEC §12)', () => {
  it('a saved view reaches the shell only once its Txn committed, and saves commit in order', async () => {
    const kv = new MemoryKv();
    const { term } = await termOn(kv);
    const committed: PersistedView[] = [];
    const storage = new FencedStorage(term, (s) => committed.push(s), () => { throw new Error('not expected'); });
    let release!: () => void;
    kv.hold = new Promise<void>((r) => { release = r; });
    storage.save(state(1, false));
    storage.save(state(1, true)); // the acknowledgement
    storage.save(state(2, false)); // view 2, after it
    await settle();
    expect(committed, 'nothing before the commit').to.deep.equal([]);
    kv.hold = null;
    release();
    for (let i = 0; i < 10 && committed.length < 3; i++) await settle();
    expect(committed.map((s) => [s.view.viewnum, s.acked])).to.deep.equal([[1, false], [1, true], [2, false]]);
    const stored = JSON.parse((await kv.range(viewKey('/p'))).entry!.value);
    expect(stored.view.viewnum).to.equal(2);
    expect(stored.term).to.equal(term.createRevision);
  });

  it('a leader whose lease ended writes nothing: the Txn is refused, the shell hears of no view, the rest is dropped', async () => {
    const kv = new MemoryKv();
    const { term, leaseId } = await termOn(kv);
    const committed: PersistedView[] = [];
    const failed: string[] = [];
    const storage = new FencedStorage(term, (s) => committed.push(s), (r) => failed.push(r));
    storage.save(state(1, true));
    for (let i = 0; i < 5 && committed.length < 1; i++) await settle();
    kv.expire(leaseId); // paused past its lease: the leader key is gone
    const next = await termOn(kv); // another instance leads
    storage.save(state(2, false));
    storage.save(state(2, true));
    for (let i = 0; i < 10 && failed.length < 1; i++) await settle();
    expect(failed).to.have.length(1);
    expect(committed.map((s) => s.view.viewnum)).to.deep.equal([1]);
    expect(JSON.parse((await kv.range(viewKey('/p'))).entry!.value).view.viewnum).to.equal(1);
    expect(next.term.createRevision).to.be.greaterThan(term.createRevision);
  });

  it('a second writer in the same term is refused too: the view key\'s mod revision moved', async () => {
    const kv = new MemoryKv();
    const { term } = await termOn(kv);
    const twin = new Term(kv, '/p', term.createRevision, null, 0); // same fence, stale view revision
    expect(await term.commit(state(1, false))).to.equal(true);
    expect(await twin.commit(state(1, false))).to.equal(false);
  });

  it('after the term ended a save throws and changes nothing (the machine keeps its view)', async () => {
    const kv = new MemoryKv();
    const { term } = await termOn(kv);
    const storage = new FencedStorage(term, () => undefined, () => undefined);
    term.end();
    expect(() => storage.save(state(1, false))).to.throw(/not leading/);
    expect(kv.txns).to.equal(1); // the campaign's only
  });

  it('a commit whose reply was lost is sent again: committed once, whether or not the lost try had applied', async () => {
    const kv = new MemoryKv();
    const { term } = await termOn(kv);
    kv.failTxns.push('lost');
    expect(await term.commit(state(1, false))).to.equal(true);
    kv.failTxns.push('applied'); // the retry is refused by the compare, and finds our own value there
    expect(await term.commit(state(1, true))).to.equal(true);
    expect(await term.commit(state(2, false)), 'the next commit compares against the revision the lost try wrote').to.equal(true);
    const stored = JSON.parse((await kv.range(viewKey('/p'))).entry!.value);
    expect([stored.view.viewnum, stored.acked]).to.deep.equal([2, false]);
  });

  it('a retry refused because another term wrote is refused: not taken for ours (the fence holds across retries)', async () => {
    const kv = new MemoryKv();
    const { term, leaseId } = await termOn(kv);
    expect(await term.commit(state(1, false))).to.equal(true);
    kv.expire(leaseId); // our lease ends; another instance leads and writes the view
    const next = await termOn(kv);
    expect(await next.term.commit(state(1, true))).to.equal(true);
    kv.failTxns.push('lost');
    expect(await term.commit(state(1, true)), 'same state, other term: refused').to.equal(false);
  });
});
