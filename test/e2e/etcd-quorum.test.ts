/**
 * A view service on a 3-member etcd loses quorum (SPEC §12, issue #14): real replicas and
 * clients keep completing operations (the data path never touches etcd), view changes wait,
 * and everything resumes without an operator once quorum is back. The view key's history
 * keeps SPEC §2.
 */
import { expect } from 'chai';
import { spawnView, spawnReplica, getJson, killAll, waitFor, waitForView, type ViewProc, type ReplicaProc, type ViewStatus } from '../support/processes';
import { startEtcd, stopAllEtcd, checkHistory, type EtcdCluster } from '../support/etcd';
import { Load } from './support';

const PING_MS = 50;
const LOSS_MS = Number(process.env.ETCD_QUORUM_LOSS_MS ?? 6000);

type HaStatus = ViewStatus & { role: 'leader' | 'follower'; leader: string | null };

describe('etcd loses quorum under a view service (SPEC §12)', function () {
  this.timeout(90_000 + LOSS_MS * 2);
  let etcd: EtcdCluster;
  let load: Load | null = null;

  afterEach(async () => {
    await load?.close();
    load = null;
    await killAll();
    await etcd?.stop();
    await stopAllEtcd();
  });

  it('2 of 3 etcd members stopped: client operations keep completing, view changes wait, and all resumes when quorum is back', async () => {
    etcd = await startEtcd({ size: 3 });
    const prefix = '/understudy/quorum';
    const vs: ViewProc = await spawnView({ pingInterval: PING_MS, deadPings: 5, env: { UNDERSTUDY_ETCD: etcd.endpoints, UNDERSTUDY_ETCD_PREFIX: prefix, UNDERSTUDY_LEASE_TTL: '2' } });
    const replicas: ReplicaProc[] = [];
    for (let i = 0; i < 3; i++) {
      replicas.push(await spawnReplica({ view: vs.url, pingInterval: PING_MS }));
      if (i === 0) await waitForView(vs, (v) => v.primary !== null && v.acked, 15_000);
    }
    const before = await waitForView(vs, (v) => v.primary !== null && v.backup !== null && v.acked, 15_000);
    expect((await getJson<HaStatus>(`${vs.http}/view`)).role).to.equal('leader');

    load = new Load(vs.url, { clients: 3 });
    await load.start();
    await load.more(2000, 30_000); // warmed up: the rate before is not a cold start's
    const rate = async (ms: number): Promise<number> => { const n0 = load!.ops; await new Promise((r) => setTimeout(r, ms)); return (load!.ops - n0) / (ms / 1000); };
    const rateBefore = await rate(LOSS_MS / 2);

    // Quorum lost: the leader cannot renew its lease and steps down; the data path goes on.
    await Promise.all([etcd.members[1].kill(), etcd.members[2].kill()]);
    const rateDuring = await rate(LOSS_MS);
    console.log(`      ops/s before ${rateBefore.toFixed(0)}, during quorum loss ${rateDuring.toFixed(0)} (${(100 * rateDuring / rateBefore).toFixed(0)}%)`);
    // The rate itself is a measurement (issue #14's ≥ 90% target is reported, not asserted: a
    // timed assertion fails on a busy machine); what must hold is that operations go on.
    expect(rateDuring, 'client operations keep completing without etcd').to.be.greaterThan(0);
    const during = await getJson<HaStatus>(`${vs.http}/view`);
    expect(during.role, 'no lease, no lead').to.equal('follower');

    // A replica dies meanwhile: the view cannot change while etcd has no quorum.
    const backup = replicas.find((r) => r.id === before.backup) as ReplicaProc;
    await backup.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 1000));
    expect((await getJson<HaStatus>(`${vs.http}/view`)).viewnum, 'view changes wait for etcd').to.equal(before.viewnum);

    // Quorum back: the instance leads again, on its own, and the view moves on.
    await Promise.all([etcd.members[1].restart(false), etcd.members[2].restart(false)]);
    const after = await waitFor('a new view without the dead backup, acknowledged', async () => {
      const s = await getJson<HaStatus>(`${vs.http}/view`);
      return s.role === 'leader' && s.viewnum > before.viewnum && s.backup !== before.backup && s.backup !== null && s.acked ? s : null;
    }, 30_000, 50);
    expect(after.primary).to.equal(before.primary);
    await load.more(50, 20_000);
    await load.stop();
    expect(load.wrong, 'no stale read').to.deep.equal([]);
    expect(load.failures, 'no client operation failed').to.deep.equal([]);
    expect(await load.lostWrites(), 'no acknowledged write lost').to.deep.equal([]);
    await checkHistory(etcd, prefix);
  });
});
