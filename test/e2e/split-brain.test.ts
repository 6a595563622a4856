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
import { connect } from '../../client/node';
import type { Store } from '../../client/store';
import { startFaultProxy, FaultProxy } from '../support/fault-proxy';
import { killAll, spawnView, spawnReplica, freePort, waitForView, ViewProc, ReplicaProc } from '../support/processes';
import { PING_MS, DEAD_PINGS } from './helpers';

interface Setup { vs: ViewProc; a: ReplicaProc; b: ReplicaProc; proxyA: FaultProxy; proxyVS: FaultProxy; proxyClientVS: FaultProxy }

function rawRequest(url: string): Promise<{ ws: WebSocket; replies: Record<string, unknown>[] }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const replies: Record<string, unknown>[] = [];
    ws.on('message', (d) => replies.push(JSON.parse(String(d))));
    ws.once('open', () => resolve({ ws, replies }));
    ws.once('error', reject);
  });
}

describe('e2e: split brain (SPEC §1, §3.3)', function () {
  this.timeout(60_000);
  const proxies: FaultProxy[] = [];
  const stores: Store[] = [];
  const sockets: WebSocket[] = [];
  afterEach(async () => {
    for (const ws of sockets.splice(0)) ws.terminate();
    await Promise.all(stores.splice(0).map((s) => s.close().catch(() => {})));
    await Promise.all(proxies.splice(0).map((p) => p.close()));
    await killAll();
  });

  async function setup(): Promise<Setup> {
    const vs = await spawnView({ pingInterval: PING_MS, deadPings: DEAD_PINGS });
    const proxyVS = await startFaultProxy({ target: vs.url, name: 'A→vs' });
    const proxyClientVS = await startFaultProxy({ target: vs.url, name: 'client→vs' });
    const portA = await freePort();
    const proxyA = await startFaultProxy({ target: `ws://127.0.0.1:${portA}`, name: 'client→A' });
    proxies.push(proxyVS, proxyClientVS, proxyA);
    const a = await spawnReplica({ view: proxyVS.url, port: portA, url: proxyA.url, pingInterval: PING_MS });
    await waitForView(vs, (v) => v.primary === a.id && v.acked);
    const b = await spawnReplica({ view: vs.url, pingInterval: PING_MS });
    await waitForView(vs, (v) => v.primary === a.id && v.backup === b.id && v.acked);
    return { vs, a, b, proxyA, proxyVS, proxyClientVS };
  }

  it('a read delayed at the old primary never returns the value overwritten at the new primary', async () => {
    const { vs, a, b, proxyA, proxyVS, proxyClientVS } = await setup();
    // s1 reaches the view service through a proxy we will cut, and A through proxyA.
    const s1 = await connect({ view: proxyClientVS.url, timeoutMs: 8000 });
    stores.push(s1);
    await s1.put('k', 'old');
    const raw = await rawRequest(proxyA.url);
    sockets.push(raw.ws);

    proxyA.hold('toTarget');          // client traffic to A is delayed
    proxyClientVS.cut();              // s1 cannot learn the new view from the view service
    raw.ws.send(JSON.stringify({ type: 'req', client: 'raw-reader', seq: 1, ack: 1, op: 'get', key: 'k' }));
    const delayedGet = s1.get('k');

    proxyVS.cut();                    // A is cut off from the view service: B takes over
    await waitForView(vs, (v) => v.primary === b.id && v.acked);
    const s2 = await connect({ view: vs.url, timeoutMs: 5000 });
    stores.push(s2);
    await s2.put('k', 'new');

    proxyA.release('toTarget');       // the delayed reads reach the old primary now
    const got = await delayedGet;
    expect(got).to.equal('new');
    const deadline = Date.now() + 3000;
    while (raw.replies.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(raw.replies, 'the old primary must answer NOT_PRIMARY').to.have.length.greaterThan(0);
    const reply = raw.replies[0];
    expect(reply.ok, JSON.stringify(reply)).to.equal(false);
    expect(reply.code).to.equal('NOT_PRIMARY');
    expect(reply.value).to.not.equal('old');
    expect(a.child.exitCode).to.equal(null);
  });

  it('with the old primary\'s backup killed afterwards, the delayed read still never returns the old value', async () => {
    const { vs, b, proxyA, proxyVS } = await setup();
    const c = await spawnReplica({ view: vs.url, pingInterval: PING_MS });
    const s1 = await connect({ view: vs.url, timeoutMs: 5000 });
    stores.push(s1);
    await s1.put('k', 'old');
    const raw = await rawRequest(proxyA.url);
    sockets.push(raw.ws);
    proxyA.hold('toTarget');
    raw.ws.send(JSON.stringify({ type: 'req', client: 'raw-reader', seq: 1, ack: 1, op: 'get', key: 'k' }));

    proxyVS.cut();
    await waitForView(vs, (v) => v.primary === b.id && v.backup === c.id && v.acked);
    await s1.put('k', 'new');
    await b.kill('SIGKILL');          // the old backup, now primary, dies: C takes over
    await waitForView(vs, (v) => v.primary === c.id && v.acked);
    expect(await s1.get('k')).to.equal('new');

    proxyA.release('toTarget');
    await new Promise((r) => setTimeout(r, 1500));
    for (const reply of raw.replies) {
      expect(reply.ok === true && reply.value === 'old', `stale read: ${JSON.stringify(reply)}`).to.equal(false);
    }
  });
});
