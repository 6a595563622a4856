/**
 * Limits over real sockets (issue #5, SPEC §1, §8): connection and subscription bounds,
 * idle and hello timeouts, slow consumers (4408), rate-limited warnings, and the rule that
 * views come from the view service only. Port 0 on 127.0.0.1, teardown registered by each
 * factory; waits are for events or conditions.
 */
import { expect } from 'chai';
import WebSocket from 'ws';
import type { ViewService } from '../../server/viewservice';
import type { Replica } from '../../server/replica';
import { MAX_PEER_STRANGERS } from '../../server/replica/replica-server';
import type { Logger } from '../../common/logger';
import { inProcess } from '../support/in-process';
import { openWs, nextMessage, closed, Msg } from '../support/ws-helpers';
import { teardownAfterEach } from '../support/teardown';
import { waitFor } from '../support/wait';

const teardown = teardownAfterEach();
const connect = (url: string) => openWs(url, teardown);

/** A logger that keeps every warn line's message, for counting. */
function recordingLogger(): { log: Logger; warns: string[] } {
  const warns: string[] = [];
  const log: Logger = {
    debug() {}, info() {}, error() {},
    warn(obj: object | string, msg?: string) { warns.push(msg ?? String(obj)); },
    child() { return log; },
  };
  return { log, warns };
}

const { startVs, startRep } = inProcess(teardown);

/** Open a socket; resolves with it once open, or with the HTTP status that refused the upgrade. */
function open(url: string): Promise<WebSocket | number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    teardown.push(() => ws.terminate());
    ws.on('error', () => {});
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => { resolve(res.statusCode ?? 0); res.resume(); });
    ws.once('close', () => reject(new Error(`${url} closed before opening`)));
  });
}

async function metricsOf(port: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}

/** The value of one series, e.g. metric(text, 'understudy_ops_total', { op: 'put', result: 'ok' }); NaN if absent. */
function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_:]+)(\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[3] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[4]);
  }
  return NaN;
}

describe('limits (issue #5)', () => {
  describe('view service', () => {
    it('refuses a subscription beyond maxSubscribers with 4429, and counts it', async () => {
      const vs = await startVs({ 'max-connections': 10, 'max-subscribers': 2 });
      for (let i = 0; i < 2; i++) {
        const ws = await connect(vs.url);
        const view = nextMessage(ws);
        ws.send('{"type":"subscribe"}');
        expect((await view).type).to.equal('view');
      }
      const third = await connect(vs.url);
      const done = closed(third);
      third.send('{"type":"subscribe"}');
      expect(await done).to.deep.equal({ code: 4429, reason: 'too many subscriptions' });
      const text = await metricsOf(vs.port);
      expect(metric(text, 'understudy_overloaded_total')).to.equal(1);
      expect(metric(text, 'understudy_subscribers')).to.equal(2);
    });

    it('closes a link that neither pings nor subscribes in time with 1008 (idle links hold no slot)', async () => {
      const vs = await startVs({}, { idleLinkMs: 100 });
      const idle = await connect(vs.url);
      const busy = await connect(vs.url);
      busy.send('{"type":"subscribe"}');
      expect(await closed(idle)).to.deep.equal({ code: 1008, reason: 'no ping or subscribe' });
      expect(busy.readyState).to.equal(WebSocket.OPEN);
      expect(metric(await metricsOf(vs.port), 'understudy_idle_links_closed_total')).to.equal(1);
    });

    it('refuses connections beyond maxConnections with HTTP 503 before the upgrade', async () => {
      const vs = await startVs({ 'max-connections': 2 });
      await connect(vs.url);
      await connect(vs.url);
      expect(await open(vs.url)).to.equal(503);
    });

    it('a flood of bad frames writes a bounded number of warn lines (10 per 10 s per kind), and every frame is counted', async () => {
      const { log, warns } = recordingLogger();
      const vs = await startVs({}, { log });
      for (let c = 0; c < 10; c++) {
        const ws = await connect(vs.url);
        const done = closed(ws);
        for (let i = 0; i < 20; i++) ws.send(`{"bad":${i}`);
        expect((await done).code).to.equal(1008); // 20 bad in a row
      }
      expect(metric(await metricsOf(vs.port), 'understudy_bad_messages_total')).to.equal(200);
      expect(warns.filter((w) => w.startsWith('bad message'))).to.have.length(10);
    });

    it('closes a subscriber that stops reading with 4408 once its send buffer passes the bound', async function () {
      // 400k frames through a paused socket take 10–14 s on a quiet machine: room for a loaded one.
      this.timeout(90_000);
      const vs = await startVs();
      const ws = await connect(vs.url);
      const done = closed(ws, 85_000);
      ws.pause(); // a reader that stops reading: every answer piles up on the server
      for (let i = 0; i < 400_000 && ws.readyState === WebSocket.OPEN; i++) {
        ws.send('{"type":"subscribe"}');
        if (i % 5000 === 4999) await new Promise((r) => setImmediate(r));
      }
      ws.resume();
      expect((await done).code).to.equal(4408);
      expect(metric(await metricsOf(vs.port), 'understudy_slow_consumers_total')).to.equal(1);
    });
  });

  describe('replica', () => {
    async function pair(flags: Record<string, string | number> = {}): Promise<{ vs: ViewService; p: Replica; b: Replica }> {
      const vs = await startVs(flags);
      const p = await startRep(vs, flags);
      await waitFor('primary of view 1', () => p.machine.role === 'primary' && vs.machine.acked);
      const b = await startRep(vs, flags);
      await waitFor('view {p, b} acknowledged', () => vs.machine.view.backup === b.id && vs.machine.acked && b.machine.role === 'backup');
      return { vs, p, b };
    }

    it('bounds clients on / by maxConnections (HTTP 503) while /peer keeps its own slots', async () => {
      const vs = await startVs();
      const r = await startRep(vs, { 'max-connections': 2 });
      await connect(r.id);
      await connect(r.id);
      expect(await open(r.id)).to.equal(503);
      await connect(`${r.id}/peer`);
    });

    it(`pushes out the oldest /peer link without a peer hello when more than ${MAX_PEER_STRANGERS} wait (4401)`, async () => {
      const vs = await startVs();
      const r = await startRep(vs);
      const first = await connect(`${r.id}/peer`);
      const done = closed(first);
      for (let i = 0; i < MAX_PEER_STRANGERS; i++) await connect(`${r.id}/peer`);
      expect(await done).to.deep.equal({ code: 4401, reason: 'unauthorized' });
    });

    it('never adopts a view from a /peer xfer-begin the view service has not announced: holds it, then closes with 1013 (views come from the view service)', async () => {
      const { vs, p, b } = await pair();
      const before = b.machine.view;
      const digest = async () => (await (await fetch(`http://127.0.0.1:${b.port}/digest`)).json()) as Msg;
      const d0 = await digest();
      const evil = await connect(`${b.id}/peer`);
      const done = closed(evil);
      const forged = { viewnum: before.viewnum + 1000, primary: 'ws://evil', backup: b.id };
      evil.send(JSON.stringify({ type: 'peer', id: 'ws://evil', incarnation: 'e' }));
      evil.send(JSON.stringify({ type: 'xfer-begin', view: forged, holders: { primary: 'e', backup: null }, index: 0, revision: 0 }));
      evil.send(JSON.stringify({ type: 'xfer-data', viewnum: forged.viewnum, data: [['stolen', 'yes']], dedup: [] }));
      evil.send(JSON.stringify({ type: 'xfer-end', viewnum: forged.viewnum }));
      expect(await done).to.deep.equal({ code: 1013, reason: 'view not announced' });
      expect(b.machine.view).to.deep.equal(before);
      expect(b.machine.role).to.equal('backup');
      expect((await digest()).sha256).to.equal(d0.sha256);
      expect(metric(await metricsOf(b.port), 'understudy_bad_messages_total', { route: 'peer', code: 'UNANNOUNCED_VIEW' })).to.equal(1);
      // and the real primary still replicates to it
      const c = await connect(p.id);
      const res = nextMessage(c, (m) => m.type === 'res');
      c.send(JSON.stringify({ type: 'req', client: 'c', seq: 1, ack: 1, op: 'put', key: 'k', value: 'v' }));
      expect((await res).ok).to.equal(true);
      await waitFor('backup has k', () => b.machine.store.get('k') === 'v');
      expect(vs.machine.view.viewnum).to.equal(before.viewnum);
    });

    it('a frame from a stranger claiming to be the primary (right id, other incarnation) is rejected, not applied', async () => {
      const { p, b } = await pair();
      const evil = await connect(`${b.id}/peer`);
      evil.send(JSON.stringify({ type: 'peer', id: p.id, incarnation: 'not-the-real-one' }));
      const answer = nextMessage(evil);
      evil.send(JSON.stringify({ type: 'fwd', viewnum: b.machine.view.viewnum, index: b.machine.store.index + 1, ops: [{ type: 'req', client: 'x', seq: 1, ack: 0, op: 'put', key: 'stolen', value: 'yes' }] }));
      const m = await answer;
      expect(m.type).to.equal('reject');
      expect(m.reason).to.contain('is not the primary of view');
      expect(b.machine.store.get('stolen')).to.equal(undefined);
    });

    it('closes a client that stops reading with 4408 once its send buffer passes 16 MiB', async function () {
      this.timeout(30_000);
      const vs = await startVs();
      const r = await startRep(vs);
      await waitFor('primary', () => r.machine.role === 'primary' && vs.machine.acked);
      const ws = await connect(r.id);
      const stored = nextMessage(ws, (m) => m.type === 'res');
      ws.send(JSON.stringify({ type: 'req', client: 'slow', seq: 1, ack: 1, op: 'put', key: 'big', value: 'b'.repeat(512 * 1024) }));
      expect((await stored).ok).to.equal(true);
      const done = closed(ws, 25_000);
      ws.pause();
      for (let seq = 2; seq < 400 && ws.readyState === WebSocket.OPEN; seq++) {
        ws.send(JSON.stringify({ type: 'req', client: 'slow', seq, ack: 1, op: 'get', key: 'big' }));
        if (seq % 20 === 0) await new Promise((res) => setTimeout(res, 5));
      }
      ws.resume();
      expect((await done).code).to.equal(4408);
      expect(metric(await metricsOf(r.port), 'understudy_slow_consumers_total')).to.equal(1);
    });

    it('refuses deeply nested frames on the client route before parsing them (BAD_REQUEST), and keeps serving', async () => {
      const vs = await startVs();
      const r = await startRep(vs);
      await waitFor('primary', () => r.machine.role === 'primary' && vs.machine.acked);
      const ws = await connect(r.id);
      const err = nextMessage(ws);
      const started = Date.now();
      ws.send('['.repeat(1024 * 1024) + ']'.repeat(1024 * 1024 - 1));
      const m = await err;
      expect(m).to.include({ type: 'error', code: 'BAD_REQUEST' });
      expect(m.message).to.contain('deeper than');
      expect(Date.now() - started, 'ms to refuse 2 MiB of nesting').to.be.below(500);
    });
  });
});
