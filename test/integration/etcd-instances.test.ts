/**
 * Every view-service instance registers itself in etcd, and any of them lists them all with
 * the leader marked (GET /instances, the dashboard's list; SPEC §12, issue #14). In this
 * process over real sockets, on a private etcd.
 */
import { expect } from 'chai';
import { startEtcd, stopAllEtcd, checkHistory, type EtcdCluster } from '../support/etcd';
import { teardownAfterEach } from '../support/teardown';
import { inProcess } from '../support/in-process';
import { waitFor } from '../support/wait';
import { openWs, nextMessage } from '../support/ws-helpers';
import type { ViewService } from '../../server/viewservice';

const teardown = teardownAfterEach();
const { startVs } = inProcess(teardown, 50);

interface Listed { id: string; url: string; startedAt: number; role: string; leading: boolean }
interface InstancesBody { self: string; leader: string | null; instances: Listed[]; stale: boolean }

const httpOf = (vs: ViewService): string => `http://127.0.0.1:${new URL(vs.url).port}`;

async function instances(vs: ViewService): Promise<InstancesBody> {
  const res = await fetch(`${httpOf(vs)}/instances`);
  expect(res.status).to.equal(200);
  return (await res.json()) as InstancesBody;
}

describe('the view-service instances on etcd, and who leads (SPEC §12)', function () {
  this.timeout(60_000);
  let etcd: EtcdCluster;

  before(async () => { etcd = await startEtcd(); });
  after(async () => {
    await etcd?.stop();
    await stopAllEtcd();
  });

  it('GET /instances of any instance lists every instance with its URL, start time and role, the leader marked from the leader key; a stopped one leaves the list', async () => {
    const prefix = '/instances/a';
    const flags = { etcd: etcd.endpoints, 'etcd-prefix': prefix, 'lease-ttl': 2 };
    const t0 = Date.now();
    const a = await startVs(flags);
    await waitFor('a leads', async () => (await instances(a)).leader !== null, 10_000);
    const b = await startVs(flags);
    const c = await startVs(flags);
    const both = await waitFor('three instances listed at the follower', async () => {
      const body = await instances(c);
      return body.instances.length === 3 ? body : null;
    }, 10_000);
    // Oldest first: a (it led before b and c started); b and c may share a millisecond.
    expect(both.instances[0].url).to.equal(a.url);
    expect(both.instances.map((x) => x.url)).to.have.members([a.url, b.url, c.url]);
    expect(both.instances.filter((x) => x.leading).map((x) => x.url)).to.deep.equal([a.url]);
    expect(both.instances.find((x) => x.leading)?.id).to.equal(both.leader);
    expect(both.self).to.equal(both.instances.find((x) => x.url === c.url)?.id);
    for (const x of both.instances) expect(x.startedAt).to.be.within(t0 - 1000, Date.now());
    await waitFor('each says its role of itself', async () => (await instances(b)).instances.map((x) => x.role).join() === 'leader,follower,follower', 10_000);

    await a.close(); // revokes both its leases: its key goes at once, and another leads
    const after = await waitFor('two instances, one of them leading', async () => {
      const body = await instances(b);
      return body.instances.length === 2 && body.instances.some((x) => x.leading && x.role === 'leader') ? body : null;
    }, 10_000);
    expect(after.instances.map((x) => x.url)).to.have.members([b.url, c.url]);
    expect(after.stale).to.equal(false);
    // One view for the history check: a ping at the new leader forms view 1.
    const leader = after.instances.find((x) => x.leading)!.url === b.url ? b : c;
    const ws = await openWs(leader.url, teardown);
    const v1 = nextMessage(ws, (m) => m.type === 'view' && m.view.viewnum === 1);
    ws.send(JSON.stringify({ type: 'ping', id: 'ws://127.0.0.1:1', incarnation: 'x', viewnum: 0 }));
    await v1;
    await checkHistory(etcd, prefix);
  });

  it('--advertise-url is what the instance is listed by and what a follower names as the leader hint (SPEC §12)', async () => {
    const prefix = '/instances/b';
    const flags = { etcd: etcd.endpoints, 'etcd-prefix': prefix, 'lease-ttl': 2 };
    const advertised = 'wss://vs-a.example.com';
    const a = await startVs({ ...flags, 'advertise-url': advertised });
    await waitFor('a leads', async () => (await instances(a)).leader !== null, 10_000);
    const b = await startVs(flags);
    const body = await waitFor('both listed', async () => { const x = await instances(b); return x.instances.length === 2 ? x : null; }, 10_000);
    expect(body.instances.map((x) => [x.url, x.leading])).to.deep.equal([[advertised, true], [b.url, false]]);
    const view = (await (await fetch(`${httpOf(b)}/view`)).json()) as { role: string; leader: string | null };
    expect(view).to.include({ role: 'follower', leader: advertised });
    const ws = await openWs(a.url, teardown);
    const v1 = nextMessage(ws, (m) => m.type === 'view' && m.view.viewnum === 1);
    ws.send(JSON.stringify({ type: 'ping', id: 'ws://127.0.0.1:1', incarnation: 'x', viewnum: 0 }));
    await v1;
    await checkHistory(etcd, prefix);
  });

  it('without --etcd there is no GET /instances (404): nothing changes', async () => {
    const vs = await startVs();
    expect((await fetch(`${httpOf(vs)}/instances`)).status).to.equal(404);
  });
});
