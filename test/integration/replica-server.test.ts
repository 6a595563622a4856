/**
 * Replicas over real sockets with the real view service (SPEC §1, §3, §5): port 0 on
 * 127.0.0.1, short ping intervals, teardown registered by each factory. Clients are raw
 * `ws` sockets speaking `req` (docs/PROTOCOL.md §2). Waits are for events or conditions,
 * never fixed sleeps.
 */
import { expect } from 'chai';
import WebSocket from 'ws';
import type { ViewService } from '../../server/viewservice';
import type { Replica } from '../../server/replica';
import { inProcess } from '../support/in-process';
import type { OpName } from '../../common/messages';
import { startFaultProxy } from '../support/fault-proxy';
import * as net from 'node:net';
import { openWs, nextMessage, closed, Msg } from '../support/ws-helpers';
import { teardownAfterEach } from '../support/teardown';
import { waitFor } from '../support/wait';

const teardown = teardownAfterEach();
const connect = (url: string) => openWs(url, teardown);


const { startVs, startRep } = inProcess(teardown);

/** A raw client: `req` frames; each `res` goes to the oldest request still waiting for that seq. */
class RawClient {
  seq = 0;
  private waiters = new Map<number, ((m: Msg) => void)[]>();

  constructor(readonly ws: WebSocket, readonly name = `client-${Math.random().toString(36).slice(2)}`) {
    ws.on('message', (data) => {
      const m = JSON.parse(String(data));
      if (m.type !== 'res') return;
      const w = this.waiters.get(m.seq);
      w?.shift()?.(m);
    });
  }

  request(op: OpName, key: string, value?: string, seq = ++this.seq): Promise<Msg> {
    const answer = new Promise<Msg>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply to seq ${seq} within 3000 ms`)), 3000);
      const list = this.waiters.get(seq) ?? [];
      list.push((m) => { clearTimeout(timer); resolve(m); });
      this.waiters.set(seq, list);
    });
    this.ws.send(JSON.stringify({ type: 'req', client: this.name, seq, ack: 1, op, key, ...(value === undefined ? {} : { value }) }));
    return answer;
  }

  /** The value of a successful reply, or throws with the reply. */
  async ok(op: OpName, key: string, value?: string): Promise<unknown> {
    const r = await this.request(op, key, value);
    if (!r.ok) throw new Error(`${op} ${key} failed: ${JSON.stringify(r)}`);
    return r.value;
  }
}

async function client(r: Replica): Promise<RawClient> {
  return new RawClient(await connect(r.id));
}

async function getJson(r: Replica, path: string): Promise<Msg> {
  const res = await fetch(`http://127.0.0.1:${r.port}${path}`);
  expect(res.status).to.equal(200);
  return res.json();
}

/** A primary alone in view 1, acknowledged. */
async function single(): Promise<{ vs: ViewService; p: Replica }> {
  const vs = await startVs();
  const p = await startRep(vs);
  await waitFor('primary of view 1', () => p.machine.role === 'primary' && vs.machine.acked);
  return { vs, p };
}

/** Primary and backup, the view acknowledged (so the transfer is done). */
async function pair(): Promise<{ vs: ViewService; p: Replica; b: Replica }> {
  const { vs, p } = await single();
  const b = await startRep(vs);
  await waitFor('view {p, b} acknowledged', () => vs.machine.view.backup === b.id && vs.machine.acked && b.machine.role === 'backup');
  return { vs, p, b };
}

/** A free TCP port on 127.0.0.1 (to start a replica behind a proxy that must know it first). */
async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', () => resolve()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

describe('replica over real WebSockets (SPEC §3, §5)', () => {
  it('one replica serves put, get, append and delete', async () => {
    const { p } = await single();
    expect(p.id).to.equal(`ws://127.0.0.1:${p.port}`);
    const c = await client(p);
    expect(await c.ok('get', 'k')).to.equal(null);
    expect(await c.request('put', 'k', 'v')).to.deep.equal({ type: 'res', seq: 2, ok: true, value: null, rev: 1 });
    expect(await c.ok('append', 'k', 'é!')).to.equal(4);
    expect(await c.ok('get', 'k')).to.equal('vé!');
    expect(await c.ok('delete', 'k')).to.equal(true);
    expect(await c.ok('delete', 'k')).to.equal(false);
    expect(await c.ok('get', 'k')).to.equal(null);
  });

  it('a joining backup receives the state by transfer: /digest is equal on primary and backup', async () => {
    const { vs, p } = await single();
    const c = await client(p);
    for (let i = 0; i < 50; i++) await c.ok('put', `key${i}`, `value${i}`);
    const b = await startRep(vs);
    await waitFor('view {p, b} acknowledged', () => vs.machine.view.backup === b.id && vs.machine.acked);
    await Promise.all(Array.from({ length: 20 }, (_, i) => c.ok('append', `key${i}`, '+')));
    const [dp, db] = await Promise.all([getJson(p, '/digest'), getJson(b, '/digest')]);
    expect(dp.role).to.equal('primary');
    expect(db.role).to.equal('backup');
    expect(dp.viewnum).to.equal(vs.machine.view.viewnum);
    expect({ ...db, role: 'x' }).to.deep.equal({ ...dp, role: 'x' });
    expect(dp.keys).to.equal(50);
    expect(dp.revision).to.equal(70);
    expect(dp.sha256).to.match(/^[0-9a-f]{64}$/);
  });

  it('the backup answers NOT_PRIMARY with the view it knows (SPEC §3.1)', async () => {
    const { p, b } = await pair();
    const c = await client(b);
    const r = await c.request('get', 'k');
    expect(r).to.deep.include({ type: 'res', seq: 1, ok: false, code: 'NOT_PRIMARY' });
    expect(r.view).to.deep.include({ primary: p.id, backup: b.id });
  });

  it('exactly-once: the same (client, seq) sent twice takes effect once and gets the same result', async () => {
    const { p, b } = await pair();
    const c = await client(p);
    const first = c.request('append', 'k', 'x', 7);
    const again = c.request('append', 'k', 'x', 7);
    const [r1, r2] = await Promise.all([first, again]);
    expect(r1).to.deep.equal({ type: 'res', seq: 7, ok: true, value: 1, rev: 1 });
    expect(r2).to.deep.equal(r1); // the duplicate's own reply: the first result again
    const r3 = await c.request('append', 'k', 'x', 7);
    expect(r3).to.deep.equal(r1);
    expect(await c.ok('get', 'k')).to.equal('x');
    expect(b.machine.store.get('k')).to.equal('x');
  });

  it('when the primary closes, the backup takes over with every acknowledged write (SPEC §1)', async () => {
    const { vs, p, b } = await pair();
    const c = await client(p);
    const writes = Array.from({ length: 30 }, (_, i) => c.ok('put', `k${i}`, `v${i}`));
    await Promise.all(writes);
    await p.close();
    await waitFor('the backup promoted', () => vs.machine.view.primary === b.id && b.machine.role === 'primary' && vs.machine.acked);
    const c2 = await client(b);
    for (let i = 0; i < 30; i++) expect(await c2.ok('get', `k${i}`)).to.equal(`v${i}`);
    expect(await c2.ok('append', 'k0', '!')).to.equal(3);
  });

  it('a third replica becomes backup after a failover and gets the state', async () => {
    const { vs, p, b } = await pair();
    const c = await client(p);
    for (let i = 0; i < 10; i++) await c.ok('append', 'log', `${i};`);
    const third = await startRep(vs);
    await p.close();
    await waitFor('view {b, third} acknowledged', () => vs.machine.view.primary === b.id && vs.machine.view.backup === third.id && vs.machine.acked);
    const c2 = await client(b);
    await c2.ok('append', 'log', 'after;');
    const [db, dt] = await Promise.all([getJson(b, '/digest'), getJson(third, '/digest')]);
    expect(dt.sha256).to.equal(db.sha256);
    expect(third.machine.store.get('log')).to.equal('0;1;2;3;4;5;6;7;8;9;after;');
  });

  it('bad frames get errors, the link and the process survive (SPEC §1)', async () => {
    const { p } = await single();
    const c = await client(p);
    const ws = c.ws;
    const next = () => nextMessage(ws);
    let m = next();
    ws.send('not json');
    expect(await m).to.deep.include({ type: 'error', code: 'BAD_REQUEST', message: 'message is not valid JSON' });
    m = next();
    ws.send(JSON.stringify({ type: 'req', client: 'c', seq: 5, ack: 1, op: 'frobnicate', key: 'k' }));
    expect(await m).to.deep.include({ type: 'res', seq: 5, ok: false, code: 'BAD_REQUEST' });
    m = next();
    ws.send(JSON.stringify({ type: 'req', client: 'c', seq: 6, ack: 1, op: 'put', key: 'k'.repeat(2000), value: 'v' }));
    expect(await m).to.deep.include({ type: 'res', seq: 6, ok: false, code: 'TOO_LARGE' });
    m = next();
    ws.send(Buffer.from('binary'), { binary: true });
    expect(await m).to.deep.include({ type: 'error', code: 'BAD_REQUEST' });
    m = next();
    ws.send(JSON.stringify({ type: 'fwd', viewnum: 1, index: 1, ops: [] }));
    expect(await m).to.deep.include({ type: 'error', code: 'BAD_REQUEST' });
    m = next();
    ws.send(JSON.stringify({ type: 'req', client: 'c', seq: 7, ack: 1, op: 'put', key: 'k', value: 'x'.repeat(1024 * 1024 + 1) }));
    expect(await m).to.deep.include({ type: 'res', seq: 7, ok: false, code: 'TOO_LARGE' });
    expect(await c.ok('put', 'k', 'fine')).to.equal(null);
    expect(await getJson(p, '/healthz')).to.deep.equal({ ok: true });
    expect(p.machine.store.size).to.equal(1);
  });

  it('closes a client frame over maxMessageBytes with 1009', async () => {
    const { p } = await single();
    const c = await client(p);
    const done = closed(c.ws);
    c.ws.send('x'.repeat(2 * 1024 * 1024 + 10));
    expect((await done).code).to.equal(1009);
    expect(await (await client(p)).ok('get', 'k')).to.equal(null);
  });

  it('closes a /peer link without the cluster token with 4401, and a client link with a wrong token', async () => {
    const vs = await startVs({ 'cluster-token': 's3cret', 'client-token': 'c1ient' });
    const p = await startRep(vs, { 'cluster-token': 's3cret', 'client-token': 'c1ient' });
    await waitFor('primary of view 1', () => p.machine.role === 'primary');
    const peer = await connect(`${p.id}/peer`);
    const peerClosed = closed(peer);
    peer.send(JSON.stringify({ type: 'peer', id: 'ws://evil', incarnation: 'x', token: 'wrong' }));
    expect((await peerClosed).code).to.equal(4401);
    const bare = await connect(`${p.id}/peer`);
    const bareClosed = closed(bare);
    bare.send(JSON.stringify({ type: 'fwd', viewnum: 1, index: 1, ops: [] }));
    expect((await bareClosed).code).to.equal(4401);
    const wrongUrl = new WebSocket(`${p.id}/?token=nope`);
    teardown.push(() => wrongUrl.terminate());
    expect((await closed(wrongUrl)).code).to.equal(4401);
    const noHello = await connect(p.id);
    const noHelloClosed = closed(noHello);
    noHello.send(JSON.stringify({ type: 'req', client: 'c', seq: 1, ack: 1, op: 'get', key: 'k' }));
    expect((await noHelloClosed).code).to.equal(4401);
    // the right token, in a hello or in the URL, works
    const hello = new RawClient(await connect(p.id));
    hello.ws.send(JSON.stringify({ type: 'hello', token: 'c1ient' }));
    expect(await hello.ok('put', 'k', 'v')).to.equal(null);
    const inUrl = new RawClient(await connect(`${p.id}/?token=c1ient`));
    expect(await inUrl.ok('get', 'k')).to.equal('v');
  });

  it('with a cluster token, primary and backup still replicate', async () => {
    const vs = await startVs({ 'cluster-token': 't' });
    const p = await startRep(vs, { 'cluster-token': 't' });
    await waitFor('primary of view 1', () => p.machine.role === 'primary' && vs.machine.acked);
    const b = await startRep(vs, { 'cluster-token': 't' });
    await waitFor('view {p, b} acknowledged', () => vs.machine.view.backup === b.id && vs.machine.acked);
    const c = await client(p);
    await c.ok('put', 'k', 'v');
    expect(b.machine.store.get('k')).to.equal('v');
  });

  it('serves /metrics in the Prometheus text format', async () => {
    const { p } = await single();
    await (await client(p)).ok('put', 'k', 'v');
    const res = await fetch(`http://127.0.0.1:${p.port}/metrics`);
    expect(res.status).to.equal(200);
    const text = await res.text();
    expect(text).to.match(/^understudy_revision 1$/m);
    expect(text).to.match(/^understudy_replica_role\{role="primary"\} 1$/m);
    expect(text).to.match(/^understudy_replica_requests_total\{op="put"\} 1$/m);
  });

  it('the primary relinks to its backup after the link drops and resends what was not acknowledged', async () => {
    const { vs, p } = await single();
    const port = await freePort();
    const proxy = await startFaultProxy({ target: `ws://127.0.0.1:${port}`, name: 'p→b' });
    teardown.push(() => proxy.close());
    const b = await startRep(vs, { port, url: proxy.url }); // the primary reaches b only through the proxy
    await waitFor('view {p, b} acknowledged', () => vs.machine.view.backup === b.id && vs.machine.acked);
    const c = await client(p);
    await c.ok('put', 'k', 'v0');
    proxy.hold('fromTarget'); // acks are held: the writes wait
    const writes = Array.from({ length: 20 }, (_, i) => c.ok('append', 'k', `,${i}`));
    await waitFor('the writes ordered and applied on b, unacknowledged', () => p.machine.pendingCount() === 20 && b.machine.store.index === p.machine.store.index);
    proxy.closeAll(); // the acks are lost with the link
    proxy.release();
    const results = await Promise.all(writes);
    expect(results).to.have.length(20);
    expect(b.machine.store.get('k')).to.equal(p.machine.store.get('k'));
    expect(p.machine.store.get('k')).to.equal('v0' + Array.from({ length: 20 }, (_, i) => `,${i}`).join(''));
    // and once more, a drop in the middle of a stream of writes
    const more = Array.from({ length: 50 }, (_, i) => c.ok('put', `m${i}`, String(i)));
    setImmediate(() => proxy.closeAll());
    await Promise.all(more);
    const [dp, db] = await Promise.all([getJson(p, '/digest'), getJson(b, '/digest')]);
    expect(db.sha256).to.equal(dp.sha256);
    expect(db.revision).to.equal(dp.revision);
  });
});
