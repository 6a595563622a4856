/**
 * kill -9 of the leading view service under client load (SPEC §12: "client operations keep
 * completing meanwhile"). Three instances on fixed ports; real replicas and real clients are
 * given every instance's URL (`--view a,b,c`, `connect({ view: [a, b, c] })`) and find the
 * leader by themselves (PROTOCOL §1.1). Each round: kill -9 the leader (another leads within
 * the lease TTL + 1 s), restart it on its port, then kill -9 the primary right afterwards (the
 * new leader fails over) and start a fresh replica, which becomes the backup. No client
 * operation fails or times out, and the view key's history keeps SPEC §2.
 *
 * `npm run etcd:failover` runs it with ETCD_KILLS=20 (default 1 in npm test) and prints the p99.
 */
import { expect } from 'chai';
import { spawnView, spawnReplica, getJson, killAll, waitFor, waitForView, freePort, type ViewProc, type ViewStatus, type ReplicaProc } from '../support/processes';
import { startEtcd, stopAllEtcd, checkHistory, type EtcdCluster } from '../support/etcd';
import { Load } from './support';

const PING_MS = 50;
const TTL_S = 2;
const KILLS = Number(process.env.ETCD_KILLS ?? 1);

type HaStatus = ViewStatus & { role: 'leader' | 'follower'; leader: string | null };

const alive = (p: ViewProc | null): p is ViewProc => p !== null && p.child.exitCode === null && p.child.signalCode === null;

/** The one instance that says it leads, or null. */
async function leaderOf(instances: (ViewProc | null)[]): Promise<ViewProc | null> {
  const all = await Promise.all(instances.filter(alive).map(async (p) => ({ p, s: await getJson<HaStatus>(`${p.http}/view`, 500).catch(() => null) })));
  const leaders = all.filter((x) => x.s?.role === 'leader');
  return leaders.length === 1 ? leaders[0].p : null;
}

function p99(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(0.99 * s.length) - 1)];
}

describe('kill -9 of the leading view service under client load (SPEC §12)', function () {
  this.timeout(90_000 + KILLS * 30_000);
  let etcd: EtcdCluster;
  let load: Load | null = null;

  afterEach(async () => {
    await load?.close();
    load = null;
    await killAll();
    await etcd?.stop();
    await stopAllEtcd();
  });

  it(`replicas and clients given every URL, ${KILLS} kill(s) of the leader: another leads within the lease TTL + 1 s, no client operation fails, and a primary killed right afterwards fails over (SPEC §12)`, async () => {
    etcd = await startEtcd();
    const prefix = '/understudy/load';
    const env = { UNDERSTUDY_ETCD: etcd.endpoints, UNDERSTUDY_ETCD_PREFIX: prefix, UNDERSTUDY_LEASE_TTL: String(TTL_S) };
    const ports = [await freePort(), await freePort(), await freePort()];
    const start = (i: number) => spawnView({ port: ports[i], pingInterval: PING_MS, deadPings: 5, env });
    const instances: (ViewProc | null)[] = [await start(0)];
    await waitFor('the first instance leads', () => leaderOf(instances), 10_000);
    instances.push(await start(1), await start(2));
    const urls = [instances[2]!.url, instances[1]!.url, instances[0]!.url]; // followers first: replicas and clients must follow the hint
    const replicas: ReplicaProc[] = [];
    const both = async (l: ViewProc): Promise<ViewStatus> => waitForView(l, (v) => v.acked && v.primary !== null && v.backup !== null
      && v.servers.filter((x) => x.alive && x.lastPingMs < 4 * PING_MS).length === 2, 20_000);
    for (let i = 0; i < 2; i++) {
      replicas.push(await spawnReplica({ view: urls.join(','), pingInterval: PING_MS }));
      if (i === 0) await waitForView(instances[0]!, (v) => v.primary !== null && v.acked, 15_000);
    }
    await both(instances[0]!);

    load = new Load(urls, { clients: 3, timeoutMs: 10_000 });
    await load.start();
    await load.more(100);
    const leads: number[] = [];
    const failovers: number[] = [];
    const gaps: number[] = [];
    for (let k = 0; k < KILLS; k++) {
      const old = await waitFor('a leader', () => leaderOf(instances), 10_000);
      const i = instances.indexOf(old);
      const t0 = Date.now();
      await old.kill('SIGKILL');
      instances[i] = null;
      const leader = await waitFor('another instance leads', () => leaderOf(instances), TTL_S * 1000 + 5000, 20);
      leads.push(Date.now() - t0);
      instances[i] = await start(i); // back on its port: the URL every list has
      await load.more(50, 15_000);
      gaps.push(load.longestGap(t0, Date.now()));

      // The primary lost right after the lead moved: the new leader, which the replicas found, fails over.
      const now = await both(leader);
      const t1 = Date.now();
      await replicas.find((r) => r.id === now.primary)!.kill('SIGKILL');
      await waitForView(leader, (v) => v.viewnum > now.viewnum && v.primary === now.backup, 15_000);
      failovers.push(Date.now() - t1);
      replicas.push(await spawnReplica({ view: urls.join(','), pingInterval: PING_MS }));
      await both(leader);
      await load.more(50, 15_000);
    }
    console.log(`      ${KILLS} kill(s) of the leader: another leads after p99 ${p99(leads)} ms, max ${Math.max(...leads)} ms (all: ${leads.join(', ')})`);
    console.log(`      the primary's failover right afterwards: p99 ${p99(failovers)} ms, max ${Math.max(...failovers)} ms; longest gap between client operations ${Math.max(...gaps)} ms; ${load.ops} operations`);
    await load.stop();
    expect(p99(leads)).to.be.at.most(TTL_S * 1000 + 1000);
    expect(load.failures, 'no client operation failed').to.deep.equal([]);
    expect(load.timeouts, 'no client operation timed out').to.equal(0);
    expect(load.wrong, 'no stale read').to.deep.equal([]);
    expect(await load.lostWrites(), 'no acknowledged write lost').to.deep.equal([]);
    expect(await checkHistory(etcd, prefix)).to.be.greaterThan(2 * KILLS);
  });
});
