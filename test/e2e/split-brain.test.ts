/**
 * Split brain is harmless (SPEC §1 "One acting primary"): an old primary cut off from the
 * view service may still believe it is primary, but it can never complete an operation,
 * so a delayed read there can never return a value that was overwritten meanwhile.
 *
 *   client ──(proxyA: hold)──▶ A (old primary) ──(proxyVS: cut)──▶ view service
 *                              A ──────── fwd ─────────▶ B (new primary) : rejects
 */
import { expect } from 'chai';
import WebSocket from 'ws';
import type { FaultProxy } from '../support/fault-proxy';
import { waitForView, type ViewProc, type ReplicaProc } from '../support/processes';
import { startCluster, type Cluster } from '../support/cluster';
import { teardownAfterEach, type Teardown } from '../support/teardown';
import { waitFor, sleep } from '../support/wait';

interface Setup { c: Cluster; vs: ViewProc; a: ReplicaProc; b: ReplicaProc; proxyA: FaultProxy; proxyVS: FaultProxy; proxyClientVS: FaultProxy }

function rawRequest(url: string, teardown: Teardown): Promise<{ ws: WebSocket; replies: Record<string, unknown>[] }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    teardown.push(() => ws.terminate());
    const replies: Record<string, unknown>[] = [];
    ws.on('message', (d) => replies.push(JSON.parse(String(d))));
    ws.once('open', () => resolve({ ws, replies }));
    ws.once('error', reject);
  });
}

describe('e2e: split brain (SPEC §1, §3.3)', function () {
  this.timeout(60_000);
  const teardown = teardownAfterEach();

  async function setup(): Promise<Setup> {
    const c = await startCluster(0, { teardown });
    const { vs } = c;
    const proxyVS = await c.proxy(vs.url, 'A→vs');
    const proxyClientVS = await c.proxy(vs.url, 'client→vs');
    const a = await c.startReplica({ view: proxyVS.url, proxied: 'client→A' });
    const proxyA = a.proxy!;
    await waitForView(vs, (v) => v.primary === a.id && v.acked);
    const b = await c.startReplica();
    await waitForView(vs, (v) => v.primary === a.id && v.backup === b.id && v.acked);
    return { c, vs, a, b, proxyA, proxyVS, proxyClientVS };
  }

  it('a read delayed at the old primary never returns the value overwritten at the new primary', async () => {
    const { c, vs, a, b, proxyA, proxyVS, proxyClientVS } = await setup();
    // s1 reaches the view service through a proxy we will cut, and A through proxyA.
    const s1 = await c.client({ view: proxyClientVS.url, timeoutMs: 8000 });
    await s1.put('k', 'old');
    const raw = await rawRequest(proxyA.url, teardown);

    proxyA.hold('toTarget');          // client traffic to A is delayed
    proxyClientVS.cut();              // s1 cannot learn the new view from the view service
    raw.ws.send(JSON.stringify({ type: 'req', client: 'raw-reader', seq: 1, ack: 1, op: 'get', key: 'k' }));
    const delayedGet = s1.get('k');

    proxyVS.cut();                    // A is cut off from the view service: B takes over
    await waitForView(vs, (v) => v.primary === b.id && v.acked);
    const s2 = await c.client();
    await s2.put('k', 'new');

    proxyA.release('toTarget');       // the delayed reads reach the old primary now
    const got = await delayedGet;
    expect(got).to.equal('new');
    await waitFor('the old primary\'s answer to the delayed read (NOT_PRIMARY)', () => raw.replies.length > 0, 3000);
    const reply = raw.replies[0];
    expect(reply.ok, JSON.stringify(reply)).to.equal(false);
    expect(reply.code).to.equal('NOT_PRIMARY');
    expect(reply.value).to.not.equal('old');
    expect(a.child.exitCode).to.equal(null);
  });

  it('with the old primary\'s backup killed afterwards, the delayed read still never returns the old value', async () => {
    const { c: cluster, vs, b, proxyA, proxyVS } = await setup();
    const c = await cluster.startReplica();
    const s1 = await cluster.client();
    await s1.put('k', 'old');
    const raw = await rawRequest(proxyA.url, teardown);
    proxyA.hold('toTarget');
    raw.ws.send(JSON.stringify({ type: 'req', client: 'raw-reader', seq: 1, ack: 1, op: 'get', key: 'k' }));

    proxyVS.cut();
    await waitForView(vs, (v) => v.primary === b.id && v.backup === c.id && v.acked);
    await s1.put('k', 'new');
    await b.kill('SIGKILL');          // the old backup, now primary, dies: C takes over
    await waitForView(vs, (v) => v.primary === c.id && v.acked);
    expect(await s1.get('k')).to.equal('new');

    proxyA.release('toTarget');
    await sleep(1500); // any answer of the old primary to the delayed read arrives meanwhile
    for (const reply of raw.replies) {
      expect(reply.ok === true && reply.value === 'old', `stale read: ${JSON.stringify(reply)}`).to.equal(false);
    }
  });
});
