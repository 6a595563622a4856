/**
 * The view service's shell over real sockets (SPEC §5, §6): port 0, short intervals,
 * teardown registered by the fixture. Fake replicas are plain `ws` clients sending pings,
 * which is the real protocol. No fixed sleeps: every wait is for an event.
 */
import { expect } from 'chai';
import WebSocket from 'ws';
import { startViewService, ViewService } from '../../server/viewservice';
import { normalizeViewOptions } from '../../common/config';
import { noopLogger } from '../../common/logger';
import { openWs, nextMessage, closed, Msg } from '../support/ws-helpers';
import { teardownAfterEach } from '../support/teardown';

const teardown = teardownAfterEach();
const connect = (url: string) => openWs(url, teardown);

/** A view service on 127.0.0.1:0, closed after the test. */
async function startVs(flags: Record<string, string | number> = {}): Promise<ViewService> {
  const options = normalizeViewOptions({ port: 0, host: '127.0.0.1', 'ping-interval': 20, 'dead-pings': 1000, ...flags }, {});
  const vs = await startViewService({ ...options, log: noopLogger });
  teardown.push(() => vs.close());
  return vs;
}

const isView = (viewnum: number) => (m: Msg) => m.type === 'view' && m.view.viewnum === viewnum;

/** Send a ping and wait for the view message that answers it (or that it caused). */
async function ping(ws: WebSocket, id: string, viewnum: number, incarnation = `${id}#1`, extra: object = {}): Promise<Msg> {
  const answer = nextMessage(ws, (m) => m.type === 'view');
  ws.send(JSON.stringify({ type: 'ping', id, incarnation, viewnum, ...extra }));
  return answer;
}

async function subscribe(ws: WebSocket, extra: object = {}): Promise<Msg> {
  const answer = nextMessage(ws, (m) => m.type === 'view');
  ws.send(JSON.stringify({ type: 'subscribe', ...extra }));
  return answer;
}

async function getJson(vs: ViewService, path: string): Promise<Msg> {
  const res = await fetch(`http://127.0.0.1:${vs.port}${path}`);
  expect(res.status).to.equal(200);
  return res.json();
}

/** Replicas A and B in view 2 {A, B}, acknowledged by A. */
async function pair(vs: ViewService): Promise<{ a: WebSocket; b: WebSocket }> {
  const a = await connect(vs.url);
  const b = await connect(vs.url);
  await ping(a, 'ws://a', 0);
  await ping(a, 'ws://a', 1);
  const pushed = nextMessage(a, isView(2));
  await ping(b, 'ws://b', 0);
  await pushed;
  await ping(a, 'ws://a', 2);
  expect(vs.machine.acked).to.equal(true);
  return { a, b };
}

describe('view service over real WebSockets (SPEC §5, §6)', () => {
  describe('pings and pushes', () => {
    it('answers the first ping with view 1 naming the pinger primary, with holders (SPEC §2.2, §6)', async () => {
      const vs = await startVs();
      expect(vs.url).to.equal(`ws://127.0.0.1:${vs.port}`);
      const a = await connect(vs.url);
      const m = await ping(a, 'ws://127.0.0.1:7101', 0, 'inc-a');
      expect(m).to.deep.equal({
        type: 'view',
        view: { viewnum: 1, primary: 'ws://127.0.0.1:7101', backup: null },
        holders: { primary: 'inc-a', backup: null },
      });
    });

    it('pushes each new view at once to every subscriber and every linked replica (SPEC §2.9)', async () => {
      const vs = await startVs();
      const sub = await connect(vs.url);
      expect((await subscribe(sub)).view).to.deep.equal({ viewnum: 0, primary: null, backup: null });
      const a = await connect(vs.url);
      const got1 = nextMessage(sub, isView(1));
      await ping(a, 'ws://a', 0);
      await got1;
      await ping(a, 'ws://a', 1);
      const b = await connect(vs.url);
      const subGot2 = nextMessage(sub, isView(2));
      const aGot2 = nextMessage(a, isView(2)); // A did not ping: this is a push
      await ping(b, 'ws://b', 0);
      expect((await subGot2).view).to.deep.equal({ viewnum: 2, primary: 'ws://a', backup: 'ws://b' });
      expect((await aGot2).holders).to.deep.equal({ primary: 'ws://a#1', backup: 'ws://b#1' });
    });

    it('a closed replica link yields the next view at once, without waiting deadPings (SPEC §2.1, §2.6)', async () => {
      const vs = await startVs({ 'dead-pings': 10000 }); // 200 s: only the close can explain a change
      const { a, b } = await pair(vs);
      const sub = await connect(vs.url);
      await subscribe(sub);
      const subGot3 = nextMessage(sub, isView(3));
      const bGot3 = nextMessage(b, isView(3));
      a.close();
      expect((await subGot3).view).to.deep.equal({ viewnum: 3, primary: 'ws://b', backup: null });
      await bGot3;
    });

    it('the timer declares a silent replica dead and pushes the next view (SPEC §2.1)', async () => {
      const vs = await startVs({ 'dead-pings': 3 });
      const { b } = await pair(vs);
      const got3 = nextMessage(b, isView(3));
      // B keeps pinging like a replica does; A falls silent (its link stays open).
      const beat = setInterval(() => b.send(JSON.stringify({ type: 'ping', id: 'ws://b', incarnation: 'ws://b#1', viewnum: 2 })), 10);
      teardown.push(() => clearInterval(beat));
      expect((await got3).view).to.deep.equal({ viewnum: 3, primary: 'ws://b', backup: null });
    });

    it('a replica that reconnects replaces its old link (4409), and the old link closing kills nobody', async () => {
      const vs = await startVs();
      const { a } = await pair(vs);
      const a2 = await connect(vs.url);
      const oldClosed = closed(a);
      expect((await ping(a2, 'ws://a', 2)).view.viewnum).to.equal(2);
      expect((await oldClosed).code).to.equal(4409);
      expect(vs.machine.view).to.deep.equal({ viewnum: 2, primary: 'ws://a', backup: 'ws://b' });
      expect((await getJson(vs, '/view')).servers.every((s: Msg) => s.alive)).to.equal(true);
    });

    it('a link that pings for another replica id releases the first one (it is dead at once)', async () => {
      const vs = await startVs();
      const { a } = await pair(vs);
      const m = await ping(a, 'ws://c', 0, 'c#1');
      expect(m.view).to.deep.equal({ viewnum: 3, primary: 'ws://b', backup: null });
    });
  });

  describe('HTTP', () => {
    it('GET /view has the SPEC §5 shape; reading it or subscribing never counts as a ping (SPEC §2.9)', async () => {
      const vs = await startVs();
      const sub = await connect(vs.url);
      await subscribe(sub);
      expect(await getJson(vs, '/view')).to.deep.equal({ viewnum: 0, primary: null, backup: null, acked: false, servers: [] });
      const a = await connect(vs.url);
      await ping(a, 'ws://a', 0);
      await ping(a, 'ws://a', 1);
      const v = await getJson(vs, '/view');
      expect(v).to.deep.include({ viewnum: 1, primary: 'ws://a', backup: null, acked: true });
      expect(v.servers).to.have.length(1);
      expect(Object.keys(v.servers[0]).sort()).to.deep.equal(['alive', 'id', 'lastPingMs']);
      expect(v.servers[0]).to.deep.include({ id: 'ws://a', alive: true });
      expect(v.servers[0].lastPingMs).to.be.a('number').and.at.least(0);
    });

    it('GET /view/history lists the view changes with timestamps, for the dashboard', async () => {
      const vs = await startVs();
      await pair(vs);
      const { history } = await getJson(vs, '/view/history');
      expect(history.map((h: Msg) => [h.viewnum, h.primary, h.backup])).to.deep.equal([[1, 'ws://a', null], [2, 'ws://a', 'ws://b']]);
      expect(history[0].at).to.be.a('number');
    });

    it('GET /healthz answers 200 {"ok":true} (SPEC §5)', async () => {
      const vs = await startVs();
      expect(await getJson(vs, '/healthz')).to.deep.equal({ ok: true });
    });

    it('GET /metrics exposes the view metrics and default process metrics in Prometheus text (SPEC §5)', async () => {
      const vs = await startVs();
      await pair(vs);
      const res = await fetch(`http://127.0.0.1:${vs.port}/metrics`);
      expect(res.status).to.equal(200);
      expect(res.headers.get('content-type')).to.match(/^text\/plain/);
      const text = await res.text();
      expect(text).to.match(/^understudy_viewnum 2$/m);
      expect(text).to.match(/^understudy_view_changes_total 2$/m);
      expect(text).to.match(/^understudy_replicas_alive 2$/m);
      expect(text).to.match(/^understudy_connections 2$/m);
      expect(text).to.match(/^understudy_process_cpu_user_seconds_total /m);
    });

    it('GET / serves the live dashboard from this server alone, with a CSP that allows no inline script or style (SPEC §5)', async () => {
      const vs = await startVs();
      const res = await fetch(`http://127.0.0.1:${vs.port}/`);
      expect(res.status, 'GET / (the dashboard is built by `npm run build`: scripts/build-browser.js)').to.equal(200);
      expect(res.headers.get('content-type')).to.equal('text/html; charset=utf-8');
      expect(res.headers.get('cache-control')).to.equal('no-store');
      const csp = res.headers.get('content-security-policy')!;
      expect(csp).to.include("default-src 'none'");
      expect(csp).to.include("script-src 'self';");
      expect(csp).to.include("style-src 'self';");
      expect(csp).to.include("connect-src 'self' ws: wss:");
      expect(csp).to.not.match(/unsafe-|sha256-/);
      const html = await res.text();
      expect(html).to.match(/^<!doctype html>/i);
      expect(html).to.not.match(/<(script|link|img)[^>]+(src|href)="(?!data:|\/)/i); // nothing from elsewhere
      expect(html).to.include('<script type="module" src="/dashboard.js"></script>');
      expect(html).to.include('<link rel="stylesheet" href="/dashboard.css">');
      // The script and the style, from this server; the script imports the client from it too.
      const js = await fetch(`http://127.0.0.1:${vs.port}/dashboard.js`);
      expect(js.status).to.equal(200);
      expect(js.headers.get('content-type')).to.equal('text/javascript; charset=utf-8');
      const code = await js.text();
      expect(code).to.include('type: "subscribe"');
      expect(code).to.include('fetch("/view"');
      expect(code).to.include('import("/understudy.js")'); // the key browser: the client from this server
      const css = await fetch(`http://127.0.0.1:${vs.port}/dashboard.css`);
      expect(css.status).to.equal(200);
      expect(css.headers.get('content-type')).to.equal('text/css; charset=utf-8');
      expect(await css.text()).to.include('.pill');
      // Revalidation costs a 304.
      const again = await fetch(`http://127.0.0.1:${vs.port}/dashboard.js`, { headers: { 'if-none-match': js.headers.get('etag')! } });
      expect(again.status).to.equal(304);
    });

    it('unknown paths are 404 and other methods 405', async () => {
      const vs = await startVs();
      expect((await fetch(`http://127.0.0.1:${vs.port}/nope`)).status).to.equal(404);
      expect((await fetch(`http://127.0.0.1:${vs.port}/view`, { method: 'POST' })).status).to.equal(405);
      expect((await fetch(`http://127.0.0.1:${vs.port}/`, { method: 'POST' })).status).to.equal(405);
    });
  });

  describe('bad input (SPEC §1)', () => {
    it('bad JSON gets a BAD_REQUEST error; the link and the process survive', async () => {
      const vs = await startVs();
      const a = await connect(vs.url);
      const err = nextMessage(a, (m) => m.type === 'error');
      a.send('{"type":"ping",');
      expect(await err).to.deep.equal({ type: 'error', code: 'BAD_REQUEST', message: 'message is not valid JSON' });
      expect((await ping(a, 'ws://a', 0)).view.viewnum).to.equal(1);
      expect(await getJson(vs, '/healthz')).to.deep.equal({ ok: true });
    });

    it('an invalid ping (viewnum -1) gets BAD_REQUEST naming the field, and counts as no ping', async () => {
      const vs = await startVs();
      const a = await connect(vs.url);
      const err = nextMessage(a, (m) => m.type === 'error');
      a.send(JSON.stringify({ type: 'ping', id: 'ws://a', incarnation: 'x', viewnum: -1 }));
      expect((await err).message).to.match(/viewnum/);
      expect(vs.machine.view.viewnum).to.equal(0);
    });

    it('a binary frame gets a BAD_REQUEST error (docs/PROTOCOL.md: binary frames are refused)', async () => {
      const vs = await startVs();
      const a = await connect(vs.url);
      const err = nextMessage(a, (m) => m.type === 'error');
      a.send(Buffer.from(JSON.stringify({ type: 'subscribe' })), { binary: true });
      expect(await err).to.deep.include({ type: 'error', code: 'BAD_REQUEST' });
      expect((await subscribe(a)).type).to.equal('view');
    });

    it('a valid message of another link (a client req) gets BAD_REQUEST', async () => {
      const vs = await startVs();
      const a = await connect(vs.url);
      const err = nextMessage(a, (m) => m.type === 'error');
      a.send(JSON.stringify({ type: 'req', client: 'c', seq: 1, ack: 1, op: 'get', key: 'k' }));
      expect(await err).to.deep.include({ code: 'BAD_REQUEST' });
    });

    it('many bad messages in a row close the link with 1008', async () => {
      const vs = await startVs();
      const a = await connect(vs.url);
      const done = closed(a);
      for (let i = 0; i < 25; i++) a.send('x');
      expect((await done).code).to.equal(1008);
      expect(await getJson(vs, '/healthz')).to.deep.equal({ ok: true });
    });
  });

  describe('tokens (SPEC §6)', () => {
    it('with a cluster token, a ping without it is closed with 4401', async () => {
      const vs = await startVs({ 'cluster-token': 's3cret' });
      const a = await connect(vs.url);
      const done = closed(a);
      a.send(JSON.stringify({ type: 'ping', id: 'ws://a', incarnation: 'x', viewnum: 0 }));
      expect((await done).code).to.equal(4401);
      expect(vs.machine.view.viewnum).to.equal(0);
    });

    it('with a cluster token, a ping with a wrong one is closed with 4401', async () => {
      const vs = await startVs({ 'cluster-token': 's3cret' });
      const a = await connect(vs.url);
      const done = closed(a);
      a.send(JSON.stringify({ type: 'ping', id: 'ws://a', incarnation: 'x', viewnum: 0, token: 'guess' }));
      expect((await done).code).to.equal(4401);
      expect(vs.machine.view.viewnum).to.equal(0);
    });

    it('with the right cluster token the ping is answered, and later pings on that link may omit it', async () => {
      const vs = await startVs({ 'cluster-token': 's3cret' });
      const a = await connect(vs.url);
      expect((await ping(a, 'ws://a', 0, 'x', { token: 's3cret' })).view.viewnum).to.equal(1);
      await ping(a, 'ws://a', 1, 'x');
      expect(vs.machine.acked).to.equal(true);
      const done = closed(a);
      a.send(JSON.stringify({ type: 'ping', id: 'ws://a', incarnation: 'x', viewnum: 1, token: 'wrong' }));
      expect((await done).code).to.equal(4401);
    });

    it('with a client token, subscribing needs it (in the message or ?token=), else 4401', async () => {
      const vs = await startVs({ 'client-token': 'c1ient' });
      const bad = await connect(vs.url);
      const done = closed(bad);
      bad.send(JSON.stringify({ type: 'subscribe' }));
      expect((await done).code).to.equal(4401);
      const viaUrl = await connect(`${vs.url}/?token=c1ient`);
      expect((await subscribe(viaUrl)).type).to.equal('view');
      const viaMsg = await connect(vs.url);
      expect((await subscribe(viaMsg, { token: 'c1ient' })).type).to.equal('view');
    });
  });

  describe('#close', () => {
    it('closes every link with 1012 (service restart: reconnect) and stops answering', async () => {
      const vs = await startVs();
      const a = await connect(vs.url);
      await ping(a, 'ws://a', 0);
      const done = closed(a);
      await vs.close();
      expect((await done).code).to.equal(1012);
      expect(vs.machine.view.viewnum).to.equal(1); // closing our own links is not a replica death
    });
  });
});
