/**
 * Operating the processes (issue #5), over real sockets on 127.0.0.1:0: readiness
 * (`GET /readyz`), graceful shutdown (`leave`, drain, 1012), view-service restarts with and
 * without `--data-dir` (docs/VIEW-SERVICE-RESTART.md) and keepalive against half-open links
 * (the fault proxy's blackhole). Teardown is registered by each factory; waits are for
 * conditions, never fixed sleeps in assertions.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import WebSocket from 'ws';
import { startViewService, type ViewService } from '../../server/viewservice';
import type { Replica } from '../../server/replica';
import { startWsServer } from '../../server/net/ws-server';
import { Link } from '../../server/net/link';
import { normalizeViewOptions } from '../../common/config';
import { noopLogger } from '../../common/logger';
import { inProcess } from '../support/in-process';
import { connect as connectClient } from '../../client/node';
import type { Store } from '../../client/store';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy';
import { nextMessage } from '../support/ws-helpers';
import { teardownAfterEach } from '../support/teardown';
import { waitFor } from '../support/wait';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Msg = any;

const PING = 20;
const teardown = teardownAfterEach();


const { startVs, startRep } = inProcess(teardown, PING);

async function proxy(target: string): Promise<FaultProxy> {
  const p = await startFaultProxy({ target });
  teardown.push(() => p.close());
  return p;
}

async function client(vs: ViewService, timeoutMs = 5000): Promise<Store> {
  const s = await connectClient({ view: vs.url, timeoutMs });
  teardown.push(() => s.close());
  return s;
}

function tmpDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'understudy-vs-'));
  teardown.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function readyz(port: number): Promise<{ status: number; body: Msg }> {
  const res = await fetch(`http://127.0.0.1:${port}/readyz`);
  return { status: res.status, body: await res.json() };
}

async function connectRaw(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url);
  teardown.push(() => ws.terminate());
  await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
  return ws;
}

function closed(ws: WebSocket, timeoutMs = 5000): Promise<number> {
  return new Promise((resolve, reject) => {
    if (ws.readyState === WebSocket.CLOSED) { resolve(-1); return; }
    const timer = setTimeout(() => reject(new Error(`not closed within ${timeoutMs} ms`)), timeoutMs);
    ws.once('close', (code) => { clearTimeout(timer); resolve(code); });
  });
}

/** Primary and backup, the view acknowledged (the transfer done). */
async function pair(vs: ViewService): Promise<{ p: Replica; b: Replica }> {
  const p = await startRep(vs);
  await waitFor('primary of view 1', () => p.machine.role === 'primary' && vs.machine.acked);
  const b = await startRep(vs);
  await waitFor('{p, b} acknowledged', () => vs.machine.view.backup === b.id && vs.machine.acked && b.machine.role === 'backup');
  return { p, b };
}

/** `n` clients each putting its own keys in a loop until stopped; every acknowledged value is recorded. */
function load(stores: Store[]): { stop: () => Promise<void>; acked: Map<string, string>; failures: unknown[]; ops: () => number } {
  const acked = new Map<string, string>();
  const failures: unknown[] = [];
  let stopped = false;
  let ops = 0;
  const loops = stores.map(async (s, ci) => {
    for (let i = 0; !stopped; i++) {
      const key = `c${ci}:${i % 10}`;
      const value = `${i}`;
      try {
        await s.put(key, value);
        acked.set(key, value);
        ops++;
      } catch (err) {
        failures.push(err);
        return;
      }
    }
  });
  return { stop: async () => { stopped = true; await Promise.all(loops); }, acked, failures, ops: () => ops };
}

describe('lifecycle over real sockets (issue #5)', function () {
  this.timeout(20_000);

  describe('GET /readyz', () => {
    it('the view service is not ready while it recovers or has no view; ready once it has one', async () => {
      const vs = await startVs({ 'dead-pings': 10 }); // a 200 ms recovery window
      const first = await readyz(vs.port);
      expect(first.status).to.equal(503);
      expect(first.body).to.include({ ready: false, recovering: true });
      expect(first.body.reason).to.match(/recovering/);
      await startRep(vs);
      await waitFor('view 1 acknowledged', () => vs.machine.view.viewnum === 1 && vs.machine.acked);
      expect(await readyz(vs.port)).to.deep.equal({ status: 200, body: { ready: true, viewnum: 1, acked: true, recovering: false } });
    });

    it('a primary is ready only once its backup installed the transfer; a backup once it knows its role', async () => {
      const vs = await startVs();
      const p = await startRep(vs);
      await waitFor('primary', () => p.machine.role === 'primary' && vs.machine.acked);
      expect((await readyz(p.port)).body).to.deep.equal({ ready: true, role: 'primary', viewnum: 1 });
      // A backup behind a proxy that holds the primary's frames: the transfer stays pending.
      const port = await freePortFor();
      const px = await proxy(`ws://127.0.0.1:${port}`);
      px.hold('toTarget');
      const b = await startRep(vs, { port, url: px.url });
      await waitFor('view {p, b}', () => p.machine.view.backup === b.id);
      const pending = await readyz(p.port);
      expect(pending.status).to.equal(503);
      expect(pending.body.reason).to.match(/state transfer to the backup/);
      expect((await readyz(b.port)).status, 'the backup knows its role').to.equal(200);
      px.release();
      await waitFor('transfer acknowledged', async () => (await readyz(p.port)).status === 200);
    });
  });

  describe('graceful shutdown', () => {
    it('a `leave` kills the replica at once: its backup is promoted without waiting for deadPings (SPEC §2.1)', async () => {
      const vs = await startVs({ 'dead-pings': 10_000 }, { recoveryWindowMs: 200 }); // silence would take 200 s
      const a = await connectRaw(vs.url);
      const b = await connectRaw(vs.url);
      const ping = (ws: WebSocket, id: string, viewnum: number) => ws.send(JSON.stringify({ type: 'ping', id, incarnation: `${id}#1`, viewnum }));
      ping(a, 'ws://a', 0);
      await waitFor('view 1', () => vs.machine.view.viewnum === 1);
      ping(a, 'ws://a', 1);
      ping(b, 'ws://b', 0);
      await waitFor('view 2', () => vs.machine.view.backup === 'ws://b');
      ping(a, 'ws://a', 2);
      ping(b, 'ws://b', 2);
      await waitFor('view 2 acknowledged', () => vs.machine.acked);
      const pushed = nextMessage(a, (m) => m.type === 'view' && m.view.viewnum === 3);
      a.send(JSON.stringify({ type: 'leave', id: 'ws://a', incarnation: 'ws://a#1' }));
      const v3 = await pushed; // the leaving replica still hears the new view on its open link
      expect(v3.view).to.deep.equal({ viewnum: 3, primary: 'ws://b', backup: null });
    });

    it('shutdown() of the primary under load: in-flight ops finish, the backup takes over, no operation fails', async () => {
      const vs = await startVs({ 'dead-pings': 10_000 }, { recoveryWindowMs: 200 });
      const { p, b } = await pair(vs);
      const stores = await Promise.all([0, 1, 2, 3].map(() => client(vs)));
      const run = load(stores);
      await waitFor('some load', () => run.ops() > 50);
      const t0 = Date.now();
      const done = p.shutdown();
      await waitFor('the backup promoted', () => vs.machine.view.primary === b.id && b.machine.role === 'primary');
      const failover = Date.now() - t0;
      await done;
      const before = run.ops();
      await waitFor('ops at the new primary', () => run.ops() > before + 50);
      await run.stop();
      expect(run.failures, String(run.failures[0])).to.deep.equal([]);
      expect(failover, 'failover after leave, not after deadPings (200 s)').to.be.below(3000);
      const reader = await client(vs);
      for (const [key, value] of run.acked) expect(await reader.get(key), key).to.equal(value);
    });

    it('requests that arrive during shutdown are held, then answered NOT_PRIMARY with the new view; links close with 1012', async () => {
      const vs = await startVs({ 'dead-pings': 10_000 }, { recoveryWindowMs: 200 });
      const { p, b } = await pair(vs);
      const ws = await connectRaw(p.id);
      const code = closed(ws);
      const answer = nextMessage(ws, (m) => m.type === 'res' && m.seq === 1);
      const done = p.shutdown();
      ws.send(JSON.stringify({ type: 'req', client: 'raw', seq: 1, ack: 1, op: 'put', key: 'k', value: 'v' }));
      const res = await answer;
      expect(res).to.deep.include({ ok: false, code: 'NOT_PRIMARY' });
      expect(res.view).to.deep.include({ primary: b.id });
      await done;
      expect(await code).to.equal(1012);
      expect((await readyz(b.port)).status).to.equal(200);
    });

    it('shutdown() of the backup: the primary gets a new view at once and keeps serving', async () => {
      const vs = await startVs({ 'dead-pings': 10_000 }, { recoveryWindowMs: 200 });
      const { p, b } = await pair(vs);
      const s = await client(vs);
      await s.put('k', 'v');
      await b.shutdown();
      await waitFor('view without b', () => vs.machine.view.backup === null && vs.machine.view.primary === p.id && vs.machine.acked);
      await s.put('k', 'w');
      expect(await s.get('k')).to.equal('w');
    });
  });

  describe('view-service restart (docs/VIEW-SERVICE-RESTART.md)', () => {
    it('with a data dir: restarted on the same port it resumes the saved view at once; the cluster serves on', async () => {
      const dir = tmpDir();
      const vs = await startVs({ 'data-dir': dir });
      const { p, b } = await pair(vs);
      const s = await client(vs);
      await s.put('k', 'v1');
      const view = vs.machine.view;
      expect(JSON.parse(fs.readFileSync(path.join(dir, 'view.json'), 'utf8'))).to.deep.include({ view, acked: true });
      await vs.close();
      const vs2 = await startVs({ 'data-dir': dir, port: vs.port });
      expect(vs2.machine.recovering).to.equal(false);
      expect(vs2.machine.view).to.deep.equal(view);
      expect((await readyz(vs2.port)).status).to.equal(200);
      await s.put('k', 'v2');
      await waitFor('both replicas ping the new process', () => vs2.machine.status().servers.filter((x) => x.alive).length === 2);
      expect(vs2.machine.view).to.deep.equal(view);
      expect(p.machine.role).to.equal('primary');
      expect(b.machine.role).to.equal('backup');
      expect(await s.get('k')).to.equal('v2');
    });

    it('without a data dir: it learns the view from the replicas\' reports before forming any; the same primary serves on', async () => {
      const vs = await startVs({ 'dead-pings': 10 });
      const { p, b } = await pair(vs);
      const s = await client(vs);
      await s.put('k', 'v1');
      const view = vs.machine.view;
      await vs.close();
      const vs2 = await startVs({ 'dead-pings': 10, port: vs.port });
      expect(vs2.machine.recovering).to.equal(true);
      expect(vs2.machine.view.viewnum).to.equal(0);
      await waitFor('recovered', () => !vs2.machine.recovering);
      expect(vs2.machine.view).to.deep.equal(view);
      expect(vs2.machine.acked).to.equal(true);
      expect(p.machine.role).to.equal('primary');
      expect(b.machine.view.viewnum).to.equal(view.viewnum);
      expect(await s.get('k')).to.equal('v1');
      await s.put('k', 'v2');
      expect(await s.get('k')).to.equal('v2');
    });

    it('a corrupt view.json stops the start with a message naming the file', async () => {
      const dir = tmpDir();
      fs.writeFileSync(path.join(dir, 'view.json'), '{"version":1,"view":');
      const options = normalizeViewOptions({ port: 0, host: '127.0.0.1', 'data-dir': dir }, {});
      const err = await startViewService({ ...options, log: noopLogger }).then(() => null, (e: Error) => e);
      expect(err?.message).to.contain(path.join(dir, 'view.json')).and.to.contain('not valid JSON');
    });
  });

  describe('keepalive (half-open links)', () => {
    it('the server pings every link and terminates one whose pongs stop (fault proxy blackhole)', async () => {
      const server = await startWsServer({
        port: 0, host: '127.0.0.1', maxPayload: 1024, maxConnections: 10, log: noopLogger, keepaliveMs: 50,
        routes: { '/': () => {} }, http: [],
      });
      teardown.push(() => server.close());
      const px = await proxy(`ws://127.0.0.1:${server.port}`);
      const ws = await connectRaw(px.url);
      await new Promise((r) => setTimeout(r, 200));
      expect(server.connectionCount(), 'a healthy link survives several rounds').to.equal(1);
      px.blackhole('both'); // the sockets stay open; nothing gets through
      const t0 = Date.now();
      await waitFor('the server drops the link', () => server.connectionCount() === 0, 2000);
      expect(Date.now() - t0).to.be.below(500);
      expect(ws.readyState, 'the client side is half-open: it has not noticed').to.equal(WebSocket.OPEN);
    });

    it('a Link drops a half-open socket after a missed pong and reconnects once the path heals', async () => {
      const server = await startWsServer({
        port: 0, host: '127.0.0.1', maxPayload: 1024, maxConnections: 10, log: noopLogger,
        routes: { '/': () => {} }, http: [],
      });
      teardown.push(() => server.close());
      const px = await proxy(`ws://127.0.0.1:${server.port}`);
      const link = new Link({ url: px.url, log: noopLogger, name: 'test', heartbeatMs: 50 });
      teardown.push(() => link.close());
      let opens = 0;
      let downs = 0;
      link.on('open', () => { opens++; });
      link.on('down', () => { downs++; });
      await waitFor('open', () => link.status === 'open');
      px.blackhole('both');
      await waitFor('the link noticed', () => downs === 1, 2000);
      px.heal();
      await waitFor('reopened', () => link.status === 'open' && opens === 2, 5000);
    });

    it('a replica whose view-service path is blackholed stops counting as alive after deadPings (SPEC §2.1)', async () => {
      const vs = await startVs({ 'dead-pings': 10 });
      await pair(vs);
      const px = await proxy(vs.url);
      const port = await freePortFor();
      const id = `ws://127.0.0.1:${port}`;
      await startRep(px.url, { port });
      await waitFor('registered', () => vs.machine.status().servers.some((x) => x.id === id && x.alive));
      px.blackhole('both'); // its link stays open, nothing gets through
      const t0 = Date.now();
      await waitFor('declared dead', () => vs.machine.status().servers.some((x) => x.id === id && !x.alive), 3000);
      expect(Date.now() - t0).to.be.below(1000);
    });
  });
});

/** A TCP port that was free a moment ago. */
async function freePortFor(): Promise<number> {
  const net = await import('node:net');
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', () => resolve()));
  const port = (srv.address() as import('node:net').AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}
