// chai 6 ships no type declarations and @types/chai is not a devDependency yet; with it, drop this.
// @ts-ignore TS7016
import { expect } from 'chai';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { startFaultProxy, seededRandom, type FaultProxy, type FaultProxyOptions } from '../support/fault-proxy';
import { teardownAfterEach } from '../support/teardown';
import { waitFor } from '../support/wait';

// ---------------------------------------------------------------------------------------------
// helpers: a real `ws` target server and real `ws` clients, all on 127.0.0.1, port 0
// ---------------------------------------------------------------------------------------------

interface Frame { text: string; binary: boolean; data: Buffer }
interface CloseInfo { code: number; reason: string }

/** One side of a connection, recording everything it receives. */
class Peer {
  readonly frames: Frame[] = [];
  readonly closed: Promise<CloseInfo>;
  closeInfo: CloseInfo | null = null;
  private waiters: Array<() => void> = [];
  constructor(readonly ws: WebSocket) {
    ws.on('message', (data: RawData, binary: boolean) => {
      const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
      this.frames.push({ text: buf.toString('utf8'), binary, data: buf });
      this.wake();
    });
    ws.on('error', () => { /* surfaced through close */ });
    this.closed = new Promise((resolve) => {
      ws.on('close', (code: number, reason: Buffer) => {
        this.closeInfo = { code, reason: reason.toString() };
        this.wake();
        resolve(this.closeInfo);
      });
    });
  }
  texts(): string[] {
    return this.frames.map((f) => f.text);
  }
  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
  /** Resolves once `n` frames have arrived (rejects on close or timeout). */
  async waitFrames(n: number, timeoutMs = 3000): Promise<Frame[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length < n) {
      if (this.closeInfo) throw new Error(`closed (${this.closeInfo.code}) after ${this.frames.length}/${n} frames`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timeout: ${this.frames.length}/${n} frames`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
    return this.frames.slice(0, n);
  }
}

interface Target {
  url: string;
  port: number;
  wss: WebSocketServer;
  peers: Peer[];
  reqs: http.IncomingMessage[];
  nextPeer(timeoutMs?: number): Promise<Peer>;
  close(): Promise<void>;
}

interface TargetOptions {
  echo?: boolean;
  verifyClient?: WebSocketServer['options']['verifyClient'];
  handleProtocols?: (protocols: Set<string>) => string | false;
}

const cleanups = teardownAfterEach();

async function startTarget(o: TargetOptions = {}): Promise<Target> {
  const echo = o.echo ?? true;
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ok: true, url: req.url }));
  });
  const wss = new WebSocketServer({
    server,
    perMessageDeflate: false,
    ...(o.verifyClient ? { verifyClient: o.verifyClient } : {}),
    ...(o.handleProtocols ? { handleProtocols: o.handleProtocols } : {}),
  });
  const peers: Peer[] = [];
  const reqs: http.IncomingMessage[] = [];
  let waiting: Array<() => void> = [];
  wss.on('connection', (ws, req) => {
    const peer = new Peer(ws);
    if (echo) ws.on('message', (data: RawData, binary: boolean) => ws.send(data as Buffer, { binary }));
    peers.push(peer);
    reqs.push(req);
    const w = waiting;
    waiting = [];
    for (const f of w) f();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  let seen = 0;
  const target: Target = {
    url: `ws://127.0.0.1:${port}`,
    port,
    wss,
    peers,
    reqs,
    async nextPeer(timeoutMs = 3000) {
      const deadline = Date.now() + timeoutMs;
      while (peers.length <= seen) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error('timeout waiting for a connection at the target');
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          waiting.push(() => { clearTimeout(t); resolve(); });
        });
      }
      return peers[seen++];
    },
    close: () => new Promise<void>((resolve) => {
      for (const c of Array.from(wss.clients)) c.terminate();
      wss.close();
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
  cleanups.push(() => target.close());
  return target;
}

async function proxyTo(target: string, o: Partial<FaultProxyOptions> = {}): Promise<FaultProxy> {
  const p = await startFaultProxy({ target, ...o });
  cleanups.push(() => p.close());
  return p;
}

/** Opens a client; resolves once open (rejects with the handshake error). */
async function connect(url: string, protocols?: string[]): Promise<Peer> {
  const ws = new WebSocket(url, protocols ?? [], { perMessageDeflate: false });
  const peer = new Peer(ws);
  cleanups.push(() => ws.terminate());
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      ws.terminate();
      reject(Object.assign(new Error(`unexpected response ${res.statusCode}`), { statusCode: res.statusCode }));
    });
    ws.once('error', reject);
  });
  return peer;
}

/** Opens a client that must fail to connect; resolves with the failure. */
async function connectFails(url: string): Promise<{ statusCode?: number; message: string }> {
  try {
    const p = await connect(url);
    p.ws.terminate();
  } catch (err) {
    return err as { statusCode?: number; message: string };
  }
  throw new Error('connection unexpectedly succeeded');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------------------------------------

describe('fault proxy (integration)', function () {
  this.timeout(5000);

  describe('relaying', () => {
    it('relays 1000 text messages both ways in order', async () => {
      const target = await startTarget();
      const proxy = await proxyTo(target.url);
      expect(proxy.url).to.equal(`ws://127.0.0.1:${proxy.port}`);
      const client = await connect(proxy.url);
      const server = await target.nextPeer();
      const sent = Array.from({ length: 1000 }, (_, i) => JSON.stringify({ type: 'put', seq: i }));
      for (const m of sent) client.ws.send(m);
      const echoed = await client.waitFrames(1000);
      expect(server.texts()).to.deep.equal(sent);
      expect(echoed.map((f) => f.text)).to.deep.equal(sent);
      expect(echoed.every((f) => !f.binary)).to.equal(true);
      const s = proxy.stats();
      expect(s.toTarget.messages).to.equal(1000);
      expect(s.fromTarget.messages).to.equal(1000);
      expect(s.connections).to.equal(1);
      expect(proxy.links()).to.equal(1);
    });

    it('preserves path, query string, headers and subprotocol', async () => {
      const target = await startTarget({ handleProtocols: (ps) => (ps.has('understudy.v1') ? 'understudy.v1' : false) });
      const proxy = await proxyTo(target.url);
      const ws = new WebSocket(`${proxy.url}/peer?token=s3cret&x=1`, ['other', 'understudy.v1'], {
        headers: { authorization: 'Bearer abc' },
      });
      const client = new Peer(ws);
      cleanups.push(() => ws.terminate());
      await new Promise<void>((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
      await target.nextPeer();
      expect(target.reqs[0].url).to.equal('/peer?token=s3cret&x=1');
      expect(target.reqs[0].headers.authorization).to.equal('Bearer abc');
      expect(ws.protocol).to.equal('understudy.v1');
      ws.send('hi');
      expect((await client.waitFrames(1))[0].text).to.equal('hi');

      const root = await connect(`${proxy.url}/`);
      await target.nextPeer();
      expect(target.reqs[1].url).to.equal('/');
      root.ws.close();
    });

    it('preserves binary frames (and text stays text)', async () => {
      const target = await startTarget();
      const proxy = await proxyTo(target.url);
      const client = await connect(proxy.url);
      const server = await target.nextPeer();
      const bin = Buffer.from([0, 1, 2, 255, 254, 0x7b]);
      client.ws.send(bin);
      client.ws.send('{"text":true}');
      const [b, t] = await client.waitFrames(2);
      expect(b.binary).to.equal(true);
      expect(b.data.equals(bin)).to.equal(true);
      expect(t.binary).to.equal(false);
      expect(t.text).to.equal('{"text":true}');
      expect(server.frames.map((f) => f.binary)).to.deep.equal([true, false]);
    });

    it('relays ping/pong end to end', async () => {
      const target = await startTarget();
      const proxy = await proxyTo(target.url);
      await connect(proxy.url);
      const server = await target.nextPeer();
      const pong = new Promise<string>((resolve) => server.ws.once('pong', (d: Buffer) => resolve(d.toString())));
      server.ws.ping('hb-1');
      expect(await pong).to.equal('hb-1');
      expect(proxy.stats().fromTarget.control).to.equal(1);
      expect(proxy.stats().toTarget.control).to.equal(1);
    });

    it('forwards plain HTTP requests', async () => {
      const target = await startTarget();
      const proxy = await proxyTo(target.url);
      const res = await fetch(`http://127.0.0.1:${proxy.port}/healthz?x=1`);
      expect(res.status).to.equal(200);
      expect(await res.json()).to.deep.equal({ ok: true, url: '/healthz?x=1' });
    });
  });

  describe('closing', () => {
    it('propagates close codes and reasons both ways', async () => {
      const target = await startTarget();
      const proxy = await proxyTo(target.url);
      const c1 = await connect(proxy.url);
      const s1 = await target.nextPeer();
      s1.ws.close(4401, 'bad token');
      expect(await c1.closed).to.deep.equal({ code: 4401, reason: 'bad token' });

      const c2 = await connect(proxy.url);
      const s2 = await target.nextPeer();
      c2.ws.close(1000, 'bye');
      expect(await s2.closed).to.deep.equal({ code: 1000, reason: 'bye' });
      await waitFor('links to end', () => proxy.links() === 0, 3000);
    });

    it('a close arrives after the messages sent before it', async () => {
      const target = await startTarget({ echo: false });
      const proxy = await proxyTo(target.url);
      proxy.delay({ fixedMs: 30, direction: 'toTarget' });
      const client = await connect(proxy.url);
      const server = await target.nextPeer();
      for (let i = 0; i < 20; i++) client.ws.send(`m${i}`);
      client.ws.close(4000, 'done');
      expect(await server.closed).to.deep.equal({ code: 4000, reason: 'done' });
      expect(server.texts()).to.deep.equal(Array.from({ length: 20 }, (_, i) => `m${i}`));
    });

    it('transparent handshake: upstream 401 / unreachable reach the client as HTTP 401 / 502', async () => {
      const target = await startTarget({ verifyClient: (_info, cb) => cb(false, 401, 'Unauthorized') });
      const proxy = await proxyTo(target.url);
      expect((await connectFails(proxy.url)).statusCode).to.equal(401);

      const dead = await startTarget();
      const deadUrl = dead.url;
      await dead.close();
      const proxy2 = await proxyTo(deadUrl);
      expect((await connectFails(proxy2.url)).statusCode).to.equal(502);
      expect(proxy2.stats().upstreamFailures).to.equal(1);
      expect(proxy.links() + proxy2.links()).to.equal(0);
    });

    it('eager handshake: queues early messages in order; upstream 401 → 4401, unreachable → 1011', async () => {
      // The target takes 150 ms to accept, so the client is open long before the upstream.
      const target = await startTarget({ verifyClient: (_info, cb) => { setTimeout(() => cb(true), 150); } });
      const proxy = await proxyTo(target.url, { handshake: 'eager' });
      const client = await connect(proxy.url);
      const sent = Array.from({ length: 50 }, (_, i) => `early-${i}`);
      for (const m of sent) client.ws.send(m);
      const server = await target.nextPeer();
      await client.waitFrames(50);
      expect(server.texts()).to.deep.equal(sent);

      const refusing = await startTarget({ verifyClient: (_info, cb) => cb(false, 401) });
      const p401 = await proxyTo(refusing.url, { handshake: 'eager' });
      const c401 = await connect(p401.url);
      expect((await c401.closed).code).to.equal(4401);

      const dead = await startTarget();
      const deadUrl = dead.url;
      await dead.close();
      const pDead = await proxyTo(deadUrl, { handshake: 'eager' });
      const cDead = await connect(pDead.url);
      expect((await cDead.closed).code).to.equal(1011);
    });

    it('closeAll restarts links without refusing new ones', async () => {
      const target = await startTarget();
      const proxy = await proxyTo(target.url);
      const a = await connect(proxy.url);
      const b = await connect(proxy.url);
      await target.nextPeer();
      await target.nextPeer();
      expect(proxy.links()).to.equal(2);
      expect(proxy.closeAll()).to.equal(2);
      expect(proxy.links()).to.equal(0);
      expect((await a.closed).code).to.equal(1006);
      expect((await b.closed).code).to.equal(1006);

      const c = await connect(proxy.url);
      const s = await target.nextPeer();
      expect(proxy.closeAll(1012)).to.equal(1);
      expect((await c.closed).code).to.equal(1012);
      expect((await s.closed).code).to.equal(1012);
      const d = await connect(proxy.url);
      d.ws.send('again');
      expect((await d.waitFrames(1))[0].text).to.equal('again');
    });
  });

  describe('faults', () => {
    it('cut terminates live links and refuses new ones until heal', async () => {
      const target = await startTarget();
      const proxy = await proxyTo(target.url);
      const client = await connect(proxy.url);
      const server = await target.nextPeer();
      proxy.cut();
      expect((await client.closed).code).to.equal(1006);
      expect((await server.closed).code).to.equal(1006);
      expect(proxy.links()).to.equal(0);
      await connectFails(proxy.url);
      const httpErr = await fetch(`http://127.0.0.1:${proxy.port}/healthz`).then(() => null, (e: unknown) => e);
      expect(httpErr).to.be.instanceOf(Error);
      expect(proxy.stats().refused).to.be.greaterThanOrEqual(2);
      expect(target.peers.length).to.equal(1);

      proxy.heal();
      const again = await connect(proxy.url);
      again.ws.send('after heal');
      expect((await again.waitFrames(1))[0].text).to.equal('after heal');
    });

    it('cut(durationMs) heals by itself', async () => {
      const target = await startTarget();
      const proxy = await proxyTo(target.url);
      proxy.cut(150);
      await connectFails(proxy.url);
      await sleep(200);
      const client = await connect(proxy.url);
      client.ws.send('x');
      await client.waitFrames(1);
    });

    it('blackhole drops one direction only while the other still flows', async () => {
      const target = await startTarget({ echo: false });
      const proxy = await proxyTo(target.url);
      const client = await connect(proxy.url);
      const server = await target.nextPeer();

      proxy.blackhole('toTarget');
      client.ws.send('lost-1');
      client.ws.send('lost-2');
      server.ws.send('push-1');
      expect((await client.waitFrames(1))[0].text).to.equal('push-1');
      await sleep(100);
      expect(server.frames).to.have.length(0);
      expect(proxy.stats().toTarget.dropped).to.equal(2);
      expect(proxy.links()).to.equal(1);

      proxy.heal();
      proxy.blackhole('fromTarget');
      client.ws.send('arrives');
      server.ws.send('lost-3');
      expect((await server.waitFrames(1))[0].text).to.equal('arrives');
      await sleep(100);
      expect(client.texts()).to.deep.equal(['push-1']);

      proxy.heal();
      client.ws.send('ok-up');
      server.ws.send('ok-down');
      await server.waitFrames(2);
      await client.waitFrames(2);
      expect(server.texts()).to.deep.equal(['arrives', 'ok-up']);
      expect(client.texts()).to.deep.equal(['push-1', 'ok-down']);
    });

    it('hold buffers messages (and the close) until release, then flushes in order', async () => {
      const target = await startTarget({ echo: false });
      const proxy = await proxyTo(target.url);
      const client = await connect(proxy.url);
      const server = await target.nextPeer();
      proxy.hold('toTarget');
      const sent = Array.from({ length: 100 }, (_, i) => `req-${i}`);
      for (const m of sent) client.ws.send(m);
      server.ws.send('still flows');
      await client.waitFrames(1);
      await sleep(100);
      expect(server.frames).to.have.length(0);
      // The split-brain scenario: the client gives up on this link while its requests are held.
      client.ws.close(1000, 'giving up');
      await client.closed;
      await sleep(50);
      expect(server.closeInfo).to.equal(null);

      proxy.release();
      await server.waitFrames(100).catch(() => undefined);
      expect(server.texts()).to.deep.equal(sent);
      expect(await server.closed).to.deep.equal({ code: 1000, reason: 'giving up' });
    });

    it('delay adds at least fixedMs and preserves order', async () => {
      const target = await startTarget();
      const proxy = await proxyTo(target.url, { random: seededRandom(7) });
      const client = await connect(proxy.url);
      await target.nextPeer();

      proxy.delay({ fixedMs: 80, direction: 'toTarget' });
      const t0 = performance.now();
      client.ws.send('one');
      await client.waitFrames(1);
      expect(performance.now() - t0).to.be.greaterThanOrEqual(79);

      proxy.delay({ fixedMs: 2, randomMs: 30 });
      const sent = Array.from({ length: 100 }, (_, i) => `j${i}`);
      for (const m of sent) client.ws.send(m);
      const frames = await client.waitFrames(101);
      expect(frames.slice(1).map((f) => f.text)).to.deep.equal(sent);
    });

    it('flaky with probability 1 closes the link on the first message', async () => {
      const target = await startTarget();
      const proxy = await proxyTo(target.url);
      const client = await connect(proxy.url);
      const server = await target.nextPeer();
      proxy.flaky({ closeProbabilityPerMessage: 1 });
      client.ws.send('doomed');
      expect((await client.closed).code).to.equal(1006);
      expect((await server.closed).code).to.equal(1006);
      expect(server.frames).to.have.length(0);
      expect(proxy.stats().injectedCloses).to.equal(1);
      expect(proxy.stats().toTarget.dropped).to.equal(1);
    });

    it('flaky with a seeded random closes at the same messages for the same seed', async () => {
      const target = await startTarget();
      /** Sends numbered messages one at a time; returns the indexes at which the link died. */
      async function run(seed: number): Promise<number[]> {
        const proxy = await proxyTo(target.url, { random: seededRandom(seed) });
        proxy.flaky({ closeProbabilityPerMessage: 0.25, direction: 'toTarget' });
        const deaths: number[] = [];
        let client = await connect(proxy.url);
        let got = 0;
        for (let i = 0; i < 40; i++) {
          client.ws.send(`m${i}`);
          const r = await Promise.race([client.waitFrames(got + 1).then(() => 'echo'), client.closed.then(() => 'closed')]);
          if (r === 'closed') {
            deaths.push(i);
            client = await connect(proxy.url);
            got = 0;
          } else {
            got++;
          }
        }
        await proxy.close();
        return deaths;
      }
      const a = await run(42);
      const b = await run(42);
      expect(a.length).to.be.greaterThan(0);
      expect(b).to.deep.equal(a);
    });

    it('flaky refuseProbabilityPerConnection 1 refuses every new connection', async () => {
      const target = await startTarget();
      const proxy = await proxyTo(target.url);
      proxy.flaky({ refuseProbabilityPerConnection: 1 });
      await connectFails(proxy.url);
      proxy.heal();
      await connect(proxy.url);
    });

    it('slow: 100 KB at 1 MB/s takes at least ~80 ms, in order', async () => {
      const target = await startTarget({ echo: false });
      const proxy = await proxyTo(target.url);
      const client = await connect(proxy.url);
      const server = await target.nextPeer();
      proxy.slow({ bytesPerSecond: 1_000_000, direction: 'toTarget' });
      const t0 = performance.now();
      for (let i = 0; i < 10; i++) client.ws.send(Buffer.alloc(10_000, i));
      const frames = await server.waitFrames(10);
      expect(performance.now() - t0).to.be.greaterThanOrEqual(80);
      expect(frames.map((f) => f.data[0])).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(proxy.stats().toTarget.bytes).to.equal(100_000);
    });

    it('heal clears every fault at once', async () => {
      const target = await startTarget();
      const proxy = await proxyTo(target.url);
      const client = await connect(proxy.url);
      await target.nextPeer();
      proxy.hold('fromTarget');
      proxy.delay({ fixedMs: 5 });
      proxy.slow({ bytesPerSecond: 1000 });
      proxy.blackhole('toTarget');
      client.ws.send('dropped');
      await waitFor('the drop', () => proxy.stats().toTarget.dropped === 1, 3000);
      proxy.heal();
      expect(proxy.faults()).to.deep.equal({
        cut: false, blackhole: [], hold: [], delay: {}, slow: {},
        flaky: { closeProbabilityPerMessage: {}, refuseProbabilityPerConnection: 0 },
      });
      client.ws.send('through');
      expect((await client.waitFrames(1))[0].text).to.equal('through');
    });

    it('proxies are independent', async () => {
      const target = await startTarget();
      const p1 = await proxyTo(target.url, { name: 'a' });
      const p2 = await proxyTo(target.url, { name: 'b' });
      const c1 = await connect(p1.url);
      const c2 = await connect(p2.url);
      p1.cut();
      await c1.closed;
      c2.ws.send('alive');
      expect((await c2.waitFrames(1))[0].text).to.equal('alive');
      expect(p1.stats().name).to.equal('a');
      expect(p2.links()).to.equal(1);
    });
  });

  describe('close()', () => {
    it('terminates every socket and stops listening', async () => {
      const target = await startTarget();
      const proxy = await proxyTo(target.url);
      const client = await connect(proxy.url);
      const server = await target.nextPeer();
      proxy.hold('both');
      proxy.delay({ fixedMs: 10_000 });
      proxy.cut(60_000); // a pending timer that close() must clear
      proxy.heal();
      proxy.delay({ fixedMs: 10_000 });
      client.ws.send('in flight');
      await proxy.close();
      expect((await client.closed).code).to.equal(1006);
      expect((await server.closed).code).to.equal(1006);
      expect(proxy.links()).to.equal(0);
      await waitFor('target sockets to close', () => target.wss.clients.size === 0, 3000);
      const err = await connectFails(proxy.url);
      expect(err.message).to.match(/ECONNREFUSED/);
      await proxy.close(); // idempotent
    });
  });
});
