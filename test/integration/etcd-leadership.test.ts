/**
 * Leadership on Lease + Txn (server/viewservice/etcd/leadership.ts) against a real etcd
 * (SPEC §12): one leader at a time, and the fence — a leader whose lease is gone can write
 * nothing, whatever it believes.
 */
import { expect } from 'chai';
import { Etcd3Kv } from '../../server/viewservice/etcd/etcd3-kv';
import { keyHistory } from '../../server/viewservice/etcd/kv';
import { Leadership, leaderKey, viewKey, type Term, type LeaderInfo } from '../../server/viewservice/etcd/leadership';
import { FencedStorage } from '../../server/viewservice/etcd/view-ha';
import type { PersistedView } from '../../common/recovery';
import { startEtcd, stopAllEtcd, type EtcdCluster } from '../support/etcd';
import { waitFor } from '../support/processes';

function state(viewnum: number, acked: boolean): PersistedView {
  return { version: 1, view: { viewnum, primary: 'ws://a', backup: null }, holders: { primary: 'i-a', backup: null }, acked, maxViewnum: viewnum };
}

interface Candidate { l: Leadership; terms: Term[]; deposed: string[]; leaders: (LeaderInfo | null)[] }

function candidate(kv: Etcd3Kv, prefix: string, id: string): Candidate {
  const c: Candidate = { l: null as unknown as Leadership, terms: [], deposed: [], leaders: [] };
  c.l = new Leadership({ kv, prefix, ttlSeconds: 2, me: { id, url: `ws://${id}` }, retryMs: 100 }, {
    elected: (t) => c.terms.push(t),
    deposed: (r) => c.deposed.push(r),
    leaderChanged: (x) => c.leaders.push(x),
    error: () => undefined,
  });
  return c;
}

describe('etcd leadership: lease election and fenced writes (SPEC §12)', function () {
  this.timeout(60_000);
  let etcd: EtcdCluster;
  let kv: Etcd3Kv;
  const started: Leadership[] = [];

  beforeEach(async () => {
    etcd = await startEtcd();
    kv = new Etcd3Kv({ endpoints: etcd.endpoints.split(',') });
  });
  afterEach(async () => {
    for (const l of started.splice(0)) await l.stop();
    kv.close();
    await etcd.stop();
    await stopAllEtcd();
  });

  it('of two candidates exactly one leads, and the other knows who', async () => {
    const a = candidate(kv, '/p1', 'a');
    const b = candidate(kv, '/p1', 'b');
    started.push(a.l, b.l);
    a.l.start();
    b.l.start();
    await waitFor('a leader', () => a.l.leading || b.l.leading, 5000);
    const [lead, other] = a.l.leading ? [a, b] : [b, a];
    await waitFor('the other knows the leader', () => other.l.currentLeader?.url === lead.l.currentLeader?.url, 5000);
    expect(other.l.leading).to.equal(false);
    expect(lead.terms).to.have.length(1);
    expect(lead.terms[0].initial).to.equal(null);
  });

  it('a leader whose lease is gone cannot write (the fence), is deposed, and the next leader reads the last committed view', async () => {
    const a = candidate(kv, '/p2', 'a');
    started.push(a.l);
    a.l.start();
    await waitFor('a leads', () => a.l.leading, 5000);
    const term = a.terms[0];
    const committed: PersistedView[] = [];
    const failures: string[] = [];
    const storage = new FencedStorage(term, (s) => committed.push(s), (r) => { failures.push(r); a.l.depose(r); });
    storage.save(state(1, false));
    storage.save(state(1, true)); // the acknowledgement, after the view, in order
    await waitFor('both committed', () => committed.length === 2, 5000);

    // The leader key vanishes as when its lease expires while the leader is paused.
    const lk = await kv.range(leaderKey('/p2'));
    await kv.revokeLease({ id: lk.entry!.lease, ttlSeconds: 2 });
    const b = candidate(kv, '/p2', 'b');
    started.push(b.l);
    b.l.start();
    await waitFor('b leads', () => b.l.leading, 5000);
    expect(b.terms[0].initial).to.deep.equal(state(1, true));

    // a still holds its Term object and tries to write view 2: refused.
    expect(await term.commit(state(2, false))).to.equal(false);
    const h = await keyHistory(kv, viewKey('/p2'));
    expect(h.map((e) => JSON.parse(e.value).view.viewnum)).to.deep.equal([1, 1]);
    expect(b.terms[0].createRevision).to.be.greaterThan(term.createRevision);
    // a is deposed either way: by its keepalive (etcd says the lease is gone; the storage
    // then refuses to queue anything) or by the first refused write of its storage.
    if (term.ended) expect(() => storage.save(state(2, false))).to.throw(/not leading/);
    else storage.save(state(2, false));
    await waitFor('a deposed', () => !a.l.leading && term.ended, 5000);
    expect(committed).to.have.length(2);
  });
});
