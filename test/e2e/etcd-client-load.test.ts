/**
 * kill -9 of the leading view service under client load (SPEC §12: "client operations keep
 * completing meanwhile"). Real replicas and real clients are given every instance's URL
 * (`--view a,b`, `connect({ view: [a, b] })`) and find the leader by themselves (PROTOCOL
 * §1.1). No client operation fails, another instance leads within the lease TTL + 1 s, a
 * primary killed right afterwards still fails over, and the view key's history keeps SPEC §2.
 */
import { expect } from 'chai';
import { spawnView, spawnReplica, getJson, killAll, waitFor, waitForView, type ViewProc, type ViewStatus, type ReplicaProc } from '../support/processes';
import { startEtcd, stopAllEtcd, checkHistory, type EtcdCluster } from '../support/etcd';
import { Load } from './support';

const PING_MS = 50;
const TTL_S = 2;

type HaStatus = ViewStatus & { role: 'leader' | 'follower'; leader: string | null };

describe('kill -9 of the leading view service under client load (SPEC §12)', function () {
  this.timeout(90_000);
  let etcd: EtcdCluster;
  let load: Load | null = null;

  afterEach(async () => {
    await load?.close();
    load = null;
    await killAll();
    await etcd?.stop();
    await stopAllEtcd();
  });

  it('replicas and clients given every URL: no client operation fails while another instance takes the lead, and a primary killed right afterwards fails over (SPEC §12)', async () => {
    etcd = await startEtcd();
    const prefix = '/understudy/load';
    const env = { UNDERSTUDY_ETCD: etcd.endpoints, UNDERSTUDY_ETCD_PREFIX: prefix, UNDERSTUDY_LEASE_TTL: String(TTL_S) };
    const first = await spawnView({ pingInterval: PING_MS, deadPings: 5, env });
    await waitFor('the first instance leads', async () => (await getJson<HaStatus>(`${first.http}/view`)).role === 'leader', 10_000);
    const second: ViewProc = await spawnView({ pingInterval: PING_MS, deadPings: 5, env });
    const urls = [second.url, first.url]; // the follower first: replicas must follow the hint
    const replicas: ReplicaProc[] = [];
    for (let i = 0; i < 2; i++) {
      replicas.push(await spawnReplica({ view: urls.join(','), pingInterval: PING_MS }));
      if (i === 0) await waitForView(first, (v) => v.primary !== null && v.acked, 15_000);
    }
    const before = await waitForView(first, (v) => v.primary !== null && v.backup !== null && v.acked, 15_000);
    await waitForView(second, (v) => v.viewnum === before.viewnum && v.acked, 10_000);

    load = new Load(urls, { clients: 3 });
    await load.start();
    await load.more(100);
    const t0 = Date.now();
    await first.kill('SIGKILL');
    await waitFor('the second instance leads', async () => (await getJson<HaStatus>(`${second.http}/view`)).role === 'leader', TTL_S * 1000 + 5000, 20);
    const tookMs = Date.now() - t0;
    const metrics = await (await fetch(`${second.http}/metrics`)).text();
    expect(metrics).to.match(/^understudy_view_leader 1$/m);
    await load.more(200, 10_000);
    const gap = load.longestGap(t0, Date.now());
    // A primary lost right after the lead moved: the new leader, which the replicas found, fails over.
    // Both replicas pinging the new leader (not the grace its resumed holders get), in an acknowledged view.
    const now = await waitForView(second, (v) => v.acked && v.primary !== null && v.backup !== null
      && v.servers.filter((x) => x.alive && x.lastPingMs < 4 * PING_MS).length === 2, 10_000);
    const t1 = Date.now();
    await replicas.find((r) => r.id === now.primary)!.kill('SIGKILL');
    const after = await waitForView(second, (v) => v.viewnum > now.viewnum && v.primary === now.backup, 10_000);
    const failoverMs = Date.now() - t1;
    await load.more(200, 10_000);
    console.log(`      another leads after ${tookMs} ms; longest gap between client operations ${gap} ms; then the primary's failover took ${failoverMs} ms (view ${after.viewnum})`);
    expect(tookMs).to.be.at.most(TTL_S * 1000 + 1000);
    await load.stop();
    expect(load.failures, 'no client operation failed').to.deep.equal([]);
    expect(load.wrong, 'no stale read').to.deep.equal([]);
    expect(await load.lostWrites(), 'no acknowledged write lost').to.deep.equal([]);
    await checkHistory(etcd, prefix);
  });
});
