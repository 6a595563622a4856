/**
 * Our Kv interface (server/viewservice/etcd/kv.ts) on the etcd3 adapter, against a real
 * etcd (test/support/etcd.ts): the primitives leadership is built on (SPEC §12).
 */
import { expect } from 'chai';
import { Etcd3Kv } from '../../server/viewservice/etcd/etcd3-kv';
import { keyHistory, type KvEntry } from '../../server/viewservice/etcd/kv';
import { startEtcd, stopAllEtcd, type EtcdCluster } from '../support/etcd';
import { waitFor } from '../support/processes';

describe('etcd Kv adapter against a real etcd (SPEC §12)', function () {
  this.timeout(60_000);
  let cluster: EtcdCluster;
  let kv: Etcd3Kv;

  before(async () => {
    cluster = await startEtcd();
    kv = new Etcd3Kv({ endpoints: cluster.endpoints.split(',') });
  });
  after(async () => {
    kv?.close();
    await cluster?.stop();
    await stopAllEtcd();
  });

  it('range of a missing key is null; a txn on createRevision 0 creates it once (compare-and-swap)', async () => {
    expect((await kv.range('/t/a')).entry).to.equal(null);
    const first = await kv.txn([{ key: '/t/a', target: 'createRevision', equals: 0 }], [{ key: '/t/a', value: 'one' }], ['/t/a']);
    expect(first.succeeded).to.equal(true);
    const second = await kv.txn([{ key: '/t/a', target: 'createRevision', equals: 0 }], [{ key: '/t/a', value: 'two' }], ['/t/a']);
    expect(second.succeeded).to.equal(false);
    expect(second.read.get('/t/a')?.value).to.equal('one');
    const r = await kv.range('/t/a');
    expect(r.entry?.value).to.equal('one');
    expect(r.entry?.createRevision).to.equal(first.revision);
    expect(r.entry?.modRevision).to.equal(first.revision);
  });

  it('a txn comparing a stale modRevision changes nothing; keyHistory walks every version', async () => {
    const a = await kv.txn([{ key: '/t/h', target: 'modRevision', equals: 0 }], [{ key: '/t/h', value: '1' }]);
    const b = await kv.txn([{ key: '/t/h', target: 'modRevision', equals: a.revision }], [{ key: '/t/h', value: '2' }]);
    expect(b.succeeded).to.equal(true);
    const stale = await kv.txn([{ key: '/t/h', target: 'modRevision', equals: a.revision }], [{ key: '/t/h', value: 'stale' }]);
    expect(stale.succeeded).to.equal(false);
    const h = await keyHistory(kv, '/t/h');
    expect(h.map((e) => e.value)).to.deep.equal(['1', '2']);
  });

  it('a key on a lease vanishes when the lease is revoked, and keepAlive says 0 for a gone lease', async () => {
    const lease = await kv.grantLease(5);
    expect(lease.ttlSeconds).to.equal(5);
    expect(await kv.keepAlive(lease)).to.be.greaterThan(0);
    await kv.txn([], [{ key: '/t/leased', value: 'x', lease: lease.id }]);
    expect((await kv.range('/t/leased')).entry?.lease).to.equal(lease.id);
    await kv.revokeLease(lease);
    expect((await kv.range('/t/leased')).entry).to.equal(null);
    expect(await kv.keepAlive(lease)).to.equal(0);
  });

  it('a lease not kept alive expires after its TTL, and its key with it', async () => {
    const lease = await kv.grantLease(1);
    await kv.txn([], [{ key: '/t/expiring', value: 'x', lease: lease.id }]);
    await waitFor('the key gone with its lease', async () => (await kv.range('/t/expiring')).entry === null, 5000, 100);
  });

  it('watch reports puts after the given revision, and an error when etcd goes away', async () => {
    const start = (await kv.range('/t/w')).revision;
    const seen: KvEntry[] = [];
    let error: Error | null = null;
    const w = await kv.watch('/t/w', start, { onPut: (e) => seen.push(e), onDelete: () => {}, onError: (e) => { error = e; } });
    await kv.txn([], [{ key: '/t/w', value: 'a' }]);
    await kv.txn([], [{ key: '/t/w', value: 'b' }]);
    await waitFor('two puts', () => seen.length === 2, 5000);
    expect(seen.map((e) => e.value)).to.deep.equal(['a', 'b']);
    await cluster.members[0].kill();
    await waitFor('a watch error', () => error !== null, 10_000);
    await w.cancel();
    await cluster.members[0].restart();
  });
});
