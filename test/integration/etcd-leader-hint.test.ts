/**
 * Several view services on etcd, in this process over real sockets (SPEC §12, PROTOCOL §1.1):
 * the leader hint in view messages, and replicas and clients given every instance's URL.
 */
import { expect } from 'chai';
import { startEtcd, stopAllEtcd, checkHistory, type EtcdCluster } from '../support/etcd';
import { openWs, nextMessage, type Msg } from '../support/ws-helpers';
import { teardownAfterEach } from '../support/teardown';
import { inProcess } from '../support/in-process';
import { waitFor } from '../support/wait';
import type { ViewService } from '../../server/viewservice';
import { connect } from '../../client/node';
import { freePort } from '../support/processes';

const teardown = teardownAfterEach();
const { startVs, startRep } = inProcess(teardown, 50);

interface Pair { leader: ViewService; follower: ViewService; prefix: string }

async function twoInstances(etcd: EtcdCluster, prefix: string): Promise<Pair> {
  const flags = { etcd: etcd.endpoints, 'etcd-prefix': prefix, 'lease-ttl': 2, 'dead-pings': 10 };
  const a = await startVs(flags);
  await waitFor('a leads', () => isLeader(a), 10_000);
  const b = await startVs(flags);
  await waitFor('b knows the leader', async () => (await status(b)).leader === a.url, 10_000);
  return { leader: a, follower: b, prefix };
}

async function status(vs: ViewService): Promise<{ role: string; leader: string | null; viewnum: number; primary: string | null; backup: string | null; acked: boolean }> {
  const port = new URL(vs.url).port;
  return (await fetch(`http://127.0.0.1:${port}/view`)).json() as never;
}

async function isLeader(vs: ViewService): Promise<boolean> {
  return (await status(vs)).role === 'leader';
}

/**
 * The new leader hears both replicas (pings of its own term, not the grace its resumed
 * holders get) in an acknowledged view with both slots filled: only then is a lost primary
 * a failover and not a view stuck waiting for an acknowledgement (SPEC §2.3).
 */
async function hearsBoth(vs: ViewService): Promise<void> {
  await waitFor('the new leader hears both replicas in an acknowledged view', async () => {
    const v = await status(vs);
    const pinged = vs.machine.status().servers.filter((x) => x.alive && x.lastPingMs < 200).length;
    return v.acked && v.primary !== null && v.backup !== null && pinged === 2;
  }, 10_000);
}

async function subscribeAt(url: string): Promise<Msg> {
  const ws = await openWs(url, teardown);
  const answer = nextMessage(ws, (m) => m.type === 'view');
  ws.send(JSON.stringify({ type: 'subscribe' }));
  return answer;
}

describe('several view services on etcd: the leader hint (SPEC §12, PROTOCOL §1.1)', function () {
  this.timeout(60_000);
  let etcd: EtcdCluster;

  before(async () => { etcd = await startEtcd(); });
  after(async () => {
    await etcd?.stop();
    await stopAllEtcd();
  });

  it('a follower\'s answers to subscribe and ping name the leader; the leader\'s carry no hint (PROTOCOL §1.1)', async () => {
    const { leader, follower, prefix } = await twoInstances(etcd, '/hint/a');
    expect((await subscribeAt(follower.url)).leader).to.equal(leader.url);
    expect((await subscribeAt(leader.url)).leader).to.equal(undefined);
    const ws = await openWs(follower.url, teardown);
    const answer = nextMessage(ws, (m) => m.type === 'view');
    ws.send(JSON.stringify({ type: 'ping', id: 'ws://127.0.0.1:1', incarnation: 'x', viewnum: 0 }));
    expect((await answer).leader).to.equal(leader.url);
    // A ping at the leader forms view 1 (committed in etcd), for the history check.
    const atLeader = await openWs(leader.url, teardown);
    const view1 = nextMessage(atLeader, (m) => m.type === 'view' && m.view.viewnum === 1);
    atLeader.send(JSON.stringify({ type: 'ping', id: 'ws://127.0.0.1:1', incarnation: 'x', viewnum: 0 }));
    expect((await view1).leader).to.equal(undefined);
    await checkHistory(etcd, prefix);
  });

  it('replicas given every URL link to the leader, follow the lead when it moves, and a primary lost afterwards still fails over (SPEC §12)', async () => {
    const { leader, follower, prefix } = await twoInstances(etcd, '/hint/b');
    const urls = `${follower.url},${leader.url}`; // the follower first: the hint must move them
    const [r1, r2] = [await startRep(urls), await startRep(urls)];
    const v1 = await waitFor('a primary and a backup, acknowledged, at the leader', async () => {
      const v = await status(leader);
      return v.primary !== null && v.backup !== null && v.acked ? v : null;
    }, 10_000);
    await leader.close(); // revokes the lease and closes every link with 1012
    await waitFor('the other instance leads', () => isLeader(follower), 10_000);
    await hearsBoth(follower);
    const v2 = await status(follower);
    const primary = [r1, r2].find((r) => r.id === v2.primary)!;
    const backupId = v2.backup;
    await primary.close(); // the primary is lost after the lead moved: the failover still happens
    await waitFor('the backup is promoted by the new leader', async () => {
      const v = await status(follower);
      return v.viewnum > v2.viewnum && v.primary === backupId;
    }, 10_000);
    await checkHistory(etcd, prefix);
  });

  it('a client given every URL (the first dead) connects, follows the lead, and no operation fails while the lead moves and the primary is lost (SPEC §12)', async () => {
    const { leader, follower, prefix } = await twoInstances(etcd, '/hint/c');
    const urls = `${leader.url},${follower.url}`;
    const [r1, r2] = [await startRep(urls), await startRep(urls)];
    const v1 = await waitFor('primary and backup, acknowledged', async () => {
      const v = await status(leader);
      return v.primary !== null && v.backup !== null && v.acked ? v : null;
    }, 10_000);
    const dead = `ws://127.0.0.1:${await freePort()}`;
    const store = await connect({ view: [dead, follower.url, leader.url], timeoutMs: 10_000, backoff: { minMs: 10, maxMs: 200 } });
    teardown.push(() => store.close());
    expect(store.view.viewnum).to.equal(v1.viewnum);
    let n = 0;
    const puts = async (count: number): Promise<void> => {
      for (let i = 0; i < count; i++, n++) await store.put(`k${n}`, String(n));
    };
    await puts(20);
    await leader.close(); // the client's instance (it followed the hint) and the replicas' leader
    const during = puts(50);
    await waitFor('the other instance leads', () => isLeader(follower), 10_000);
    await during;
    await hearsBoth(follower);
    const v2 = await status(follower);
    await [r1, r2].find((r) => r.id === v2.primary)!.close();
    await puts(20);
    await waitFor('the client heard the view that promoted the backup', () => store.view.primary === v2.backup, 10_000);
    expect(await store.get('k0')).to.equal('0');
    expect(await store.get(`k${n - 1}`)).to.equal(String(n - 1));
    await checkHistory(etcd, prefix);
  });
});
