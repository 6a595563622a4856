/**
 * kill -9 of one member of a 3-member etcd (quorum kept) under two view services (SPEC §12,
 * issue #14): view changes go on while it is down — whichever member each instance's etcd
 * client happened to use — and the view key's history keeps SPEC §2. Replicas are SPEC §6
 * fake pingers following the leader hint. How long each view change took is printed.
 */
import { expect } from 'chai';
import { spawnView, getJson, killAll, waitFor, type ViewProc, type ViewStatus } from '../support/processes';
import { startEtcd, stopAllEtcd, LeaderPinger, checkHistory, type EtcdCluster } from '../support/etcd';

type HaStatus = ViewStatus & { role: 'leader' | 'follower'; leader: string | null };

async function leaderStatus(instances: ViewProc[]): Promise<HaStatus | null> {
  const all = await Promise.all(instances.map((p) => getJson<HaStatus>(`${p.http}/view`, 500).catch(() => null)));
  const l = all.filter((s) => s?.role === 'leader');
  return l.length === 1 ? l[0] : null;
}

describe('kill -9 of one etcd member under the view services (SPEC §12)', function () {
  this.timeout(120_000);
  let etcd: EtcdCluster;
  const pingers: LeaderPinger[] = [];

  afterEach(async () => {
    for (const p of pingers.splice(0)) p.stop();
    await killAll();
    await etcd?.stop();
    await stopAllEtcd();
  });

  it('each member in turn killed (quorum kept): a replica lost meanwhile is still replaced, and the history keeps SPEC §2', async () => {
    etcd = await startEtcd({ size: 3 });
    const prefix = '/understudy/member';
    const env = { UNDERSTUDY_ETCD: etcd.endpoints, UNDERSTUDY_ETCD_PREFIX: prefix, UNDERSTUDY_LEASE_TTL: '2' };
    const instances = [await spawnView({ pingInterval: 50, deadPings: 5, env }), await spawnView({ pingInterval: 50, deadPings: 5, env })];
    const ask = async () => (await leaderStatus(instances))?.leader ?? null;
    const hint = async () => {
      const all = await Promise.all(instances.map((p) => getJson<HaStatus>(`${p.http}/view`, 500).catch(() => null)));
      return all.find((s) => s?.role === 'leader') ? instances[all.findIndex((s) => s?.role === 'leader')].url : await ask();
    };
    pingers.push(new LeaderPinger('ws://r1', hint), new LeaderPinger('ws://r2', hint));
    await waitFor('view {r1, r2} acknowledged', async () => { const s = await leaderStatus(instances); return s && s.primary && s.backup && s.acked; }, 15_000);
    const took: number[] = [];
    for (let m = 0; m < 3; m++) {
      const before = (await waitFor('an acknowledged view with a backup', async () => {
        const s = await leaderStatus(instances); return s && s.backup !== null && s.acked ? s : null;
      }, 15_000));
      await etcd.members[m].kill();
      // The backup is lost while the member is down: the leader must still change the view.
      const backup = pingers.find((p) => p.id === before.backup) as LeaderPinger;
      const t0 = Date.now();
      backup.stop();
      pingers.splice(pingers.indexOf(backup), 1);
      await waitFor(`a view without ${before.backup} while m${m} is down`, async () => {
        const s = await leaderStatus(instances); return s && s.viewnum > before.viewnum && s.primary !== before.backup && s.backup !== before.backup;
      }, 20_000, 20);
      took.push(Date.now() - t0);
      pingers.push(new LeaderPinger(`ws://r${3 + m}`, hint));
      await etcd.members[m].restart(true);
    }
    const stepDowns = instances.flatMap((p) => p.logs.filter((l) => /no longer leading/.test(l)).map((l) => (JSON.parse(l) as { reason?: string }).reason));
    console.log(`      a lost backup replaced while one etcd member was down: ${took.join(', ')} ms (members m0, m1, m2); leader step-downs: ${stepDowns.length ? stepDowns.join('; ') : 'none'}`);
    expect(took).to.have.length(3);
    await checkHistory(etcd, prefix);
  });
});
