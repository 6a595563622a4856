/**
 * Replication through the simulated network (STYLE §3): ordering, pipelining, state
 * transfer and exactly-once, synchronously, no ports, no sleeps.
 */
import { expect } from 'chai';
import { SimNetwork } from '../support/sim-network';
import { makeView } from '../../common/view';
import type { ResMsg, XferDataMsg } from '../../common/messages';
import { TRANSFER_WINDOW, type ReplicaMachine } from '../../server/replica/replica-machine';

const A = 'ws://a';
const B = 'ws://b';
const C = 'ws://c';

/** A primary A with backup B in view 2, transfer done. */
function pairAB(net = new SimNetwork()): SimNetwork {
  net.add(A, B, C);
  net.setView(makeView(1, A, null));
  net.setView(makeView(2, A, B));
  net.deliver();
  expect(net.m(A).pingViewnum).to.equal(2);
  return net;
}

function sameState(x: ReplicaMachine, y: ReplicaMachine): void {
  expect(x.store.sortedEntries()).to.deep.equal(y.store.sortedEntries());
  expect(x.store.revision).to.equal(y.store.revision);
  expect(x.store.index).to.equal(y.store.index);
  expect([...x.store.snapshot()]).to.deep.equal([...y.store.snapshot()]);
}

/** Same data, revision, index and at-most-once table (the data's Map order may differ after a streamed transfer). */
function sameData(x: ReplicaMachine, y: ReplicaMachine): void {
  expect(x.store.sortedEntries()).to.deep.equal(y.store.sortedEntries());
  expect([x.store.revision, x.store.index]).to.deep.equal([y.store.revision, y.store.index]);
  expect(x.store.openTransfer().meta()).to.deep.equal(y.store.openTransfer().meta());
}

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

const ok = (value: unknown) => (r: ResMsg | undefined) => r !== undefined && r.ok && r.value === value;

describe('sim: replication (SPEC §3)', () => {
  it('orders and pipelines: 50 ops in one turn travel in one fwd frame and are answered in order (SPEC §3.2)', () => {
    const net = pairAB();
    const c = net.client('c', 1);
    for (let i = 0; i < 50; i++) c.send(A, 'append', 'k', `${i},`);
    expect(c.replies()).to.deep.equal([]);
    net.deliver();
    expect(net.deliveredOf('fwd', B)).to.have.length(1);
    expect(net.deliveredOf('fwdack')).to.have.length(1);
    expect(c.replies().map((r) => r.seq)).to.deep.equal(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(net.m(B).store.get('k')).to.equal(Array.from({ length: 50 }, (_, i) => `${i},`).join(''));
    sameState(net.m(A), net.m(B));
  });

  it('replies only after the backup applied the op: nothing is acknowledged while the link is held (SPEC §1)', () => {
    const net = pairAB();
    const c = net.client('c', 1);
    net.hold(A, B);
    const s = c.send(A, 'put', 'k', 'v');
    net.deliver();
    expect(c.replies()).to.deep.equal([]);
    expect(net.m(B).store.get('k')).to.equal(undefined);
    net.release(A, B);
    net.deliver();
    expect(c.reply(s)).to.deep.equal({ type: 'res', seq: s, ok: true, value: null, rev: 1 });
    expect(net.m(B).store.get('k')).to.equal('v');
  });

  it('withholds the view from pings until the backup confirmed the transfer (SPEC §3.4)', () => {
    const net = new SimNetwork().add(A, B);
    net.setView(makeView(1, A, null));
    net.clientOp(A, { type: 'req', client: 'c', seq: 1, ack: 1, op: 'put', key: 'k', value: 'v' });
    net.hold(B, A); // the xferack waits
    net.setView(makeView(2, A, B));
    net.deliver();
    expect(net.m(B).store.get('k')).to.equal('v');
    expect(net.m(A).pingViewnum).to.equal(1);
    net.release(B, A);
    net.deliver();
    expect(net.m(A).pingViewnum).to.equal(2);
  });

  it('ops arriving during a transfer wait behind it and complete after it (SPEC §3.4)', () => {
    const net = new SimNetwork({ chunkBytes: 256 }).add(A, B);
    net.setView(makeView(1, A, null));
    const c = net.client('c', 1);
    for (let i = 0; i < 20; i++) c.send(A, 'put', `key${i}`, 'x'.repeat(50));
    net.hold(A, B);
    net.setView(makeView(2, A, B));
    net.deliver();
    const during = [c.send(A, 'append', 'key0', '!'), c.send(A, 'get', 'key0'), c.send(A, 'delete', 'key1')];
    net.deliver();
    for (const s of during) expect(c.replies(s)).to.deep.equal([]);
    net.release(A, B);
    net.deliver();
    expect(net.deliveredOf('xfer-data', B).length).to.be.greaterThan(2);
    expect(c.reply(during[0])).to.satisfy(ok(51));
    expect(c.reply(during[1])).to.satisfy(ok('x'.repeat(50) + '!'));
    expect(c.reply(during[2])).to.satisfy(ok(true));
    sameState(net.m(A), net.m(B));
  });

  it('serves clients while a transfer streams: ops complete before it ends, each wholly after it (SPEC §3.4)', () => {
    const net = new SimNetwork({ chunkBytes: 300 }).add(A, B);
    net.setView(makeView(1, A, null));
    const c = net.client('c', 1);
    for (let i = 0; i < 200; i++) c.send(A, 'put', `key${i}`, `v${i}-`.padEnd(40, 'x'));
    net.setView(makeView(2, A, B));
    net.reconnect();
    // a few chunks go out, then ops on keys not yet sent, on new keys, deletes and re-adds
    for (let i = 0; i < 6; i++) { net.flushAll(); net.deliverOne(); }
    const during = [
      c.send(A, 'append', 'key150', '!'), c.send(A, 'delete', 'key151'), c.send(A, 'put', 'fresh', 'f'),
      c.send(A, 'delete', 'key152'), c.send(A, 'put', 'key152', 'again'), c.send(A, 'append', 'key0', '?'),
      c.send(A, 'get', 'key199'),
    ];
    let answeredDuringTransfer = 0;
    for (let turns = 0; turns < 10_000 && net.m(A).pingViewnum === 1; turns++) {
      net.flushAll();
      if (!net.deliverOne()) break;
      if (net.m(A).pingViewnum === 1) answeredDuringTransfer = during.filter((s) => c.replies(s).length > 0).length;
    }
    expect(answeredDuringTransfer, 'every op answered before the xferack').to.equal(during.length);
    expect(net.deliveredOf('xfer-data', B).length).to.be.greaterThan(20);
    net.deliver();
    expect(net.m(A).pingViewnum).to.equal(2);
    expect(c.reply(during[0])).to.satisfy(ok(`v150-`.padEnd(40, 'x').length + 1));
    expect(c.reply(during[6])).to.satisfy(ok(`v199-`.padEnd(40, 'x')));
    expect(net.m(B).store.get('key152')).to.equal('again');
    expect(net.m(B).store.get('key151')).to.equal(undefined);
    sameData(net.m(A), net.m(B));
  });

  it('keeps at most TRANSFER_WINDOW chunks unacknowledged while streaming', () => {
    // a short history and one client op per key: the meta part (at-most-once table, history) is small
    const net = new SimNetwork({ chunkBytes: 200, history: { maxEvents: 2, maxBytes: 1024 } }).add(A, B);
    net.setView(makeView(1, A, null));
    for (let i = 0; i < 100; i++) net.clientOp(A, { type: 'req', client: 'c', seq: i + 1, ack: i + 1, op: 'put', key: `key${i}`, value: 'z'.repeat(40) });
    net.hold(B, A); // no chunkack comes back
    net.setView(makeView(2, A, B));
    net.reconnect();
    for (let i = 0; i < 100; i++) { net.flushAll(); net.deliverOne(); }
    const chunks = net.deliveredOf('xfer-data', B).map((e) => e.msg as XferDataMsg);
    const meta = chunks.filter((m) => m.data.length === 0).length;
    expect(meta).to.be.greaterThan(0);
    // the meta part goes at once; data chunks only while fewer than TRANSFER_WINDOW are unacknowledged
    expect(chunks.length - meta).to.equal(Math.max(0, TRANSFER_WINDOW - meta));
    expect(chunks.length - meta).to.be.greaterThan(0);
    net.release(B, A);
    net.deliver();
    expect(net.m(A).pingViewnum).to.equal(2);
    sameData(net.m(A), net.m(B));
  });

  it('restarts the transfer when the backup link drops mid-transfer', () => {
    const net = new SimNetwork({ chunkBytes: 200 }).add(A, B);
    net.setView(makeView(1, A, null));
    const c = net.client('c', 1);
    for (let i = 0; i < 30; i++) c.send(A, 'put', `key${i}`, 'y'.repeat(40));
    net.setView(makeView(2, A, B));
    // the link comes up, the transfer starts; deliver begin + two chunks only
    net.reconnect();
    net.deliverOne();
    net.deliverOne();
    net.deliverOne();
    const mid = c.send(A, 'put', 'late', 'z');
    net.linkDown(A);
    expect(net.m(A).pingViewnum).to.equal(1);
    net.deliver();
    expect(net.deliveredOf('xfer-begin', B)).to.have.length(2);
    expect(net.m(A).pingViewnum).to.equal(2);
    expect(c.reply(mid)).to.satisfy(ok(null));
    sameState(net.m(A), net.m(B));
  });

  describe('exactly-once (SPEC §1)', () => {
    it('the same (client, seq) sent twice is applied once and both get the first result', () => {
      const net = pairAB();
      const c = net.client('c', 1);
      const s = c.send(A, 'append', 'k', 'x');
      c.resend(A, s);
      net.deliver();
      expect(c.replies(s)).to.deep.equal([
        { type: 'res', seq: s, ok: true, value: 1, rev: 1 },
        { type: 'res', seq: s, ok: true, value: 1, rev: 1 },
      ]);
      expect(net.m(A).store.get('k')).to.equal('x');
      sameState(net.m(A), net.m(B));
    });

    it('a duplicate waits for the backup too: its reply comes only after the backup has the original', () => {
      const net = pairAB();
      const c = net.client('c', 1);
      const s = c.send(A, 'append', 'k', 'x');
      net.hold(A, B);
      net.deliver(); // the original is forwarded (held), unanswered
      c.resend(A, s);
      net.deliver();
      expect(c.replies(s)).to.deep.equal([]);
      net.release(A, B);
      net.deliver();
      expect(c.replies(s)).to.have.length(2);
    });

    it('duplicated fwd frames and resends after a link drop are applied once', () => {
      const net = pairAB();
      const c = net.client('c', 1);
      for (let i = 0; i < 5; i++) c.send(A, 'append', 'k', String(i));
      net.flushAll();
      expect(net.duplicate((e) => e.msg.type === 'fwd')).to.equal(1);
      net.deliver();
      for (let i = 5; i < 10; i++) c.send(A, 'append', 'k', String(i));
      net.flushAll();
      net.drop((e) => e.msg.type === 'fwdack' || e.msg.type === 'fwd'); // lost in flight...
      net.linkDown(A); // ...and the link breaks: everything unacknowledged is resent
      net.deliver();
      expect(net.m(B).store.get('k')).to.equal('0123456789');
      expect(c.replies().map((r) => r.seq)).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      sameState(net.m(A), net.m(B));
    });

    it('a retry at the new primary after failover is applied once and gets the first result', () => {
      const net = pairAB();
      const c = net.client('c', 1);
      const s = c.send(A, 'append', 'k', 'once');
      net.deliver(); // B applied it and acked, but the reply to the client is "lost":
      expect(c.reply(s)).to.satisfy(ok(4));
      net.crash(A);
      net.setView(makeView(3, B, C));
      net.deliver();
      c.resend(B, s);
      net.deliver();
      expect(c.replies(s)).to.deep.equal([
        { type: 'res', seq: s, ok: true, value: 4, rev: 1 },
        { type: 'res', seq: s, ok: true, value: 4, rev: 1 },
      ]);
      expect(net.m(B).store.get('k')).to.equal('once');
      sameState(net.m(B), net.m(C));
    });

    it('an op unacknowledged when the primary died is applied once at the new primary when retried', () => {
      const net = pairAB();
      const c = net.client('c', 1);
      const s = c.send(A, 'append', 'k', 'x');
      net.flushAll();
      net.deliverOne(); // B applied it; the fwdack is in flight
      net.crash(A);
      expect(c.replies(s)).to.deep.equal([]);
      net.setView(makeView(3, B, C));
      c.resend(B, s);
      net.deliver();
      expect(c.replies(s)).to.deep.equal([{ type: 'res', seq: s, ok: true, value: 1, rev: 1 }]);
      expect(net.m(C).store.get('k')).to.equal('x');
    });
  });

  it('failover: the promoted backup holds every acknowledged write (SPEC §1)', () => {
    const net = pairAB();
    const c = net.client('c', 1);
    const acked = new Map<string, string>();
    for (let i = 0; i < 40; i++) {
      const s = c.send(A, 'put', `k${i % 7}`, `v${i}`);
      if (i % 5 === 4) net.deliver();
      const r = c.reply(s);
      if (r && r.ok) acked.set(`k${i % 7}`, `v${i}`);
    }
    net.deliver();
    for (let i = 0; i < 40; i++) if (c.reply(i + 1)?.ok) acked.set(`k${i % 7}`, `v${i}`);
    net.crash(A);
    net.setView(makeView(3, B, null));
    for (const [k, v] of acked) expect(net.m(B).store.get(k)).to.equal(v);
    const d = net.client('d', 2);
    const s = d.send(B, 'get', 'k0');
    net.deliver();
    expect(d.reply(s)).to.satisfy(ok(acked.get('k0')));
  });

  it('keeps primary and backup digests equal after a random workload with link faults', () => {
    const rnd = lcg(1234);
    const net = pairAB(new SimNetwork({ chunkBytes: 512 }));
    const clients = [net.client('p', 1), net.client('q', 2), net.client('r', 3)];
    const outstanding: { c: typeof clients[0]; seq: number; write: boolean }[] = [];
    for (let i = 0; i < 600; i++) {
      const c = clients[Math.floor(rnd() * clients.length)];
      const x = rnd();
      if (x < 0.1 && outstanding.length) {
        const o = outstanding[Math.floor(rnd() * outstanding.length)];
        o.c.resend(A, o.seq);
      } else {
        const op = (['get', 'put', 'append', 'delete'] as const)[Math.floor(rnd() * 4)];
        const seq = c.send(A, op, `k${Math.floor(rnd() * 12)}`, op === 'put' || op === 'append' ? `${i}é` : undefined);
        outstanding.push({ c, seq, write: op !== 'get' });
      }
      const f = rnd();
      if (f < 0.03) net.linkDown(A);
      else if (f < 0.05) net.setView(makeView(net.m(A).view.viewnum + 1, A, B)); // a new view: a new transfer
      else if (f < 0.25) net.deliver();
      else if (f < 0.5) { net.flushAll(); net.deliverOne(); }
    }
    net.deliver();
    sameState(net.m(A), net.m(B));
    expect(net.m(A).pendingCount()).to.equal(0);
    // every op was answered, and every answer to one write (client, seq) is the first one
    // (reads are not recorded: a repeated read reads again)
    expect(outstanding.every((o) => o.c.replies(o.seq).length > 0)).to.equal(true);
    for (const o of outstanding.filter((x) => x.write)) {
      const rs = o.c.replies(o.seq);
      for (const r of rs) expect(r).to.deep.equal(rs[0]);
    }
  });

  it('runs the whole cycle with the real ViewMachine: join, transfer, acknowledge, fail over (SPEC §2, §3)', () => {
    const net = new SimNetwork({ vs: true }).add(A);
    net.settle(2);
    expect(net.vs?.view).to.deep.equal(makeView(1, A, null));
    const c = net.client('c', 1);
    const s1 = c.send(A, 'put', 'k', 'one');
    net.add(B, C);
    net.settle(3);
    expect(net.vs?.view).to.deep.include({ primary: A, backup: B });
    expect(net.vs?.acked).to.equal(true);
    const s2 = c.send(A, 'append', 'k', '+two');
    net.deliver();
    expect(c.reply(s1)).to.satisfy(ok(null));
    expect(c.reply(s2)).to.satisfy(ok(7));
    sameState(net.m(A), net.m(B));
    net.crash(A);
    net.settle(3);
    expect(net.vs?.view).to.deep.include({ primary: B, backup: C });
    expect(net.vs?.acked).to.equal(true);
    const s3 = c.send(B, 'get', 'k');
    net.deliver();
    expect(c.reply(s3)).to.satisfy(ok('one+two'));
    sameState(net.m(B), net.m(C));
  });
});
