/**
 * SPEC §10, `ttlMs` and ephemeral keys, on the manual clock through the simulated network:
 * expiry and session ends are decided by the PRIMARY from its time inputs and ordered
 * through the log as ordinary deletes, so both replicas apply them at the same place; a
 * failover keeps the deadlines (the new primary expires the key, which never comes back);
 * a new primary restarts every session's clock, so a client that follows it in time keeps
 * its keys. No ports, no sleeps.
 */
import { expect } from 'chai';
import { SimNetwork } from '../support/sim-network';
import { makeView } from '../../common/view';
import type { ReqMsg, EventMsg } from '../../common/messages';
import { TTL_CLIENT, SESSION_CLIENT } from '../../server/replica/expiry';

const A = 'ws://a';
const B = 'ws://b';
const C = 'ws://c';

function pairAB(): SimNetwork {
  const net = new SimNetwork();
  net.add(A, B, C);
  net.setView(makeView(1, A, null));
  net.setView(makeView(2, A, B));
  net.deliver();
  return net;
}

/** Time passes for these replicas (the shell's wake-up: a `time` step at the clock's now), then the network delivers. */
function time(net: SimNetwork, ...ids: string[]): void {
  for (const id of ids) net.step(id, { kind: 'time', now: net.clock.now() });
  net.deliver();
}

const put = (client: string, seq: number, key: string, value: string, extra: Partial<ReqMsg> = {}): ReqMsg =>
  ({ type: 'req', client, seq, ack: 1, op: 'put', key, value, ...extra }); // (ack 1: no reply taken yet, so a retry is never stale)

/** The history's events of `key` on a replica, as [rev, value]. */
const eventsOf = (net: SimNetwork, id: string, key: string): [number, string | null][] =>
  [...net.m(id).store.history.since(0)].filter((e) => e.key === key).map((e) => [e.rev, e.value]);

describe('sim: ttlMs (SPEC §10)', () => {
  it('the primary expires the key at its deadline; the delete is ordered through the log and applied on both replicas at the same revision (SPEC §10)', () => {
    const net = pairAB();
    net.clientOp(A, put('c1', 1, 'k', 'v', { ttlMs: 1000 }), 1);
    net.deliver();
    time(net, A, B); // both arm the ttl at their own apply time
    net.clock.advance(999);
    time(net, A, B);
    expect(net.m(A).store.get('k')).to.equal('v');
    expect(net.m(B).store.get('k')).to.equal('v');
    net.clock.advance(1);
    time(net, A);
    expect(net.m(A).store.get('k')).to.equal(undefined);
    expect(net.m(B).store.get('k')).to.equal(undefined);
    expect(eventsOf(net, B, 'k')).to.deep.equal(eventsOf(net, A, 'k'));
    expect(eventsOf(net, A, 'k').map((e) => e[1])).to.deep.equal(['v', null]);
    expect(net.m(B).store.revision).to.equal(net.m(A).store.revision);
    expect(net.m(A).store.leases.size).to.equal(0);
    expect(net.m(B).store.leases.size).to.equal(0);
  });

  it('a backup never expires a key by its own clock: only a forwarded delete removes it (SPEC §10)', () => {
    const net = pairAB();
    net.clientOp(A, put('c1', 1, 'k', 'v', { ttlMs: 100 }), 1);
    net.deliver();
    time(net, A, B);
    net.clock.advance(10_000);
    time(net, B); // the backup's time passes; the primary's does not
    expect(net.m(B).store.get('k')).to.equal('v');
    expect(net.m(B).pendingCount()).to.equal(0);
    time(net, A);
    expect(net.m(B).store.get('k')).to.equal(undefined);
  });

  it('the primary dies mid-ttl: the new primary expires the key on time, and after another failover it does not come back (SPEC §10)', () => {
    const net = pairAB();
    net.clientOp(A, put('c1', 1, 'k', 'v', { ttlMs: 1000 }), 1);
    net.deliver();
    time(net, A, B);
    net.clock.advance(600);
    time(net, A, B);
    net.crash(A);
    net.setView(makeView(3, B, C)); // B promoted; C gets the state, with the ttl left
    net.deliver();
    time(net, B, C);
    expect(net.m(C).store.get('k')).to.equal('v');
    net.clock.advance(399);
    time(net, B, C);
    expect(net.m(B).store.get('k')).to.equal('v');
    net.clock.advance(1);
    time(net, B, C);
    expect(net.m(B).store.get('k')).to.equal(undefined);
    expect(net.m(C).store.get('k')).to.equal(undefined);
    net.crash(B);
    net.setView(makeView(4, C, null));
    net.deliver();
    net.clock.advance(60_000);
    time(net, C);
    expect(net.m(C).store.get('k')).to.equal(undefined);
    const get: ReqMsg = { type: 'req', client: 'c2', seq: 1, ack: 1, op: 'get', key: 'k' };
    net.clientOp(C, get, 2);
    net.deliver();
    expect(net.repliesOn(2)[0]).to.include({ ok: true, value: null });
  });

  it('a transfer carries the ttl LEFT, armed on the receiver\'s clock: a new backup does not restart the ttl (SPEC §10)', () => {
    const net = new SimNetwork();
    net.add(A, B);
    net.setView(makeView(1, A, null));
    net.clientOp(A, put('c1', 1, 'k', 'v', { ttlMs: 1000 }), 1);
    net.deliver();
    time(net, A);
    net.clock.advance(700);
    time(net, A);
    net.setView(makeView(2, A, B));
    net.deliver();
    time(net, B);
    expect(net.m(B).store.leases.deadlineOf('k')).to.equal(net.m(A).store.leases.deadlineOf('k'));
    net.crash(A);
    net.setView(makeView(3, B, null));
    net.deliver();
    net.clock.advance(299);
    time(net, B);
    expect(net.m(B).store.get('k')).to.equal('v');
    net.clock.advance(1);
    time(net, B);
    expect(net.m(B).store.get('k')).to.equal(undefined);
  });

  it('writes during a streaming transfer: the new backup ends with the same ttls and owners as its primary (SPEC §10, §3.4)', () => {
    const net = new SimNetwork({ chunkBytes: 256 });
    net.add(A, B);
    net.setView(makeView(1, A, null));
    for (let i = 0; i < 40; i++) net.clientOp(A, put('c1', i + 1, `k${i}`, 'x'.repeat(20), i % 2 === 0 ? { ttlMs: 1000 + i } : {}), 1);
    net.deliver();
    time(net, A);
    net.setView(makeView(2, A, B));
    net.clientOp(A, put('c1', 41, 'k0', 'plain now'), 1); // during the transfer: clears k0's ttl
    net.clientOp(A, put('c1', 42, 'k1', 'y', { ttlMs: 50 }), 1);
    net.clientOp(A, put('c1', 43, 'e', 'y', { ephemeral: true, sessionTtlMs: 700 }), 1);
    net.deliver();
    time(net, A, B);
    const leasesOf = (id: string) => [...Array(40).keys()].map((i) => net.m(id).store.leases.deadlineOf(`k${i}`));
    expect(net.m(B).store.sortedEntries()).to.deep.equal(net.m(A).store.sortedEntries());
    expect(leasesOf(B)).to.deep.equal(leasesOf(A));
    expect(leasesOf(A)[0]).to.equal(undefined);
    expect(net.m(B).store.leases.ownerOf('e')).to.equal('c1');
    expect(net.m(B).store.leases.session('c1')?.ttlMs).to.equal(700);
  });

  it('a put without ttlMs clears the ttl; an append keeps it; a retried ttl put after the expiry does not bring the key back (exactly-once, SPEC §10)', () => {
    const net = pairAB();
    net.clientOp(A, put('c1', 1, 'plain', 'v', { ttlMs: 100 }), 1);
    net.clientOp(A, put('c1', 2, 'plain', 'w'), 1);
    net.clientOp(A, put('c1', 3, 'j', 'v', { ttlMs: 100 }), 1);
    net.clientOp(A, { type: 'req', client: 'c1', seq: 4, ack: 1, op: 'append', key: 'j', value: '+' }, 1);
    net.deliver();
    time(net, A, B);
    net.clock.advance(100);
    time(net, A, B);
    expect(net.m(A).store.get('plain')).to.equal('w');
    expect(net.m(A).store.get('j')).to.equal(undefined);
    expect(net.m(B).store.get('j')).to.equal(undefined);
    const first = net.repliesOn(1).find((r) => r.seq === 3);
    net.clientOp(A, put('c1', 3, 'j', 'v', { ttlMs: 100 }), 1); // the retry of seq 3
    net.deliver();
    expect(net.m(A).store.get('j')).to.equal(undefined);
    expect(net.repliesOn(1).filter((r) => r.seq === 3)).to.deep.equal([first, first]);
  });

  it('watchers get null on expiry, live and in a replay from a revision (SPEC §10)', () => {
    const net = pairAB();
    net.step(A, { kind: 'watch', conn: 9, msg: { type: 'watch', id: 1, pattern: 'k' } });
    net.clientOp(A, put('c1', 1, 'k', 'v', { ttlMs: 50 }), 1);
    net.deliver();
    time(net, A, B);
    net.clock.advance(50);
    time(net, A);
    const live = net.pushes.filter((p) => p.conn === 9 && p.msg.type === 'event').map((p) => [(p.msg as EventMsg).value, (p.msg as EventMsg).rev]);
    expect(live).to.deep.equal([['v', 1], [null, 2]]);
    net.step(A, { kind: 'watch', conn: 10, msg: { type: 'watch', id: 2, pattern: 'k', from: 0 } });
    net.deliver();
    const replay = net.pushes.filter((p) => p.conn === 10 && p.msg.type === 'event').map((p) => (p.msg as EventMsg).value);
    expect(replay).to.deep.equal(['v', null]);
  });

  it('the store\'s own deletes use reserved client ids and take one log entry each (SPEC §10)', () => {
    const net = pairAB();
    for (let i = 0; i < 3; i++) net.clientOp(A, put('c1', i + 1, `k${i}`, 'v', { ttlMs: 10 }), 1);
    net.deliver();
    time(net, A, B);
    net.clock.advance(10);
    time(net, A);
    const ops = net.delivered.filter((d) => d.msg.type === 'fwd').flatMap((d) => (d.msg as { ops: ReqMsg[] }).ops).filter((o) => o.client === TTL_CLIENT);
    expect(ops.map((o) => [o.op, o.key])).to.have.deep.members([['delete', 'k0'], ['delete', 'k1'], ['delete', 'k2']]);
    expect(ops.every((o) => o.seq === o.ack)).to.equal(true);
    expect(net.m(B).store.size).to.equal(0);
  });
});

describe('sim: ephemeral keys (SPEC §10)', () => {
  const eph = (seq: number, key: string, sessionTtlMs = 1000): ReqMsg => put('c1', seq, key, 'here', { ephemeral: true, sessionTtlMs });

  it('a session with no link for sessionTtlMs loses all its keys in ONE revision, on both replicas; its plain keys stay (SPEC §10)', () => {
    const net = pairAB();
    net.step(A, { kind: 'hello', conn: 1, client: 'c1' });
    net.clientOp(A, eph(1, 'e1'), 1);
    net.clientOp(A, eph(2, 'e2'), 1);
    net.clientOp(A, put('c1', 3, 'p', 'plain'), 1);
    net.deliver();
    time(net, A, B);
    net.clock.advance(60_000);
    time(net, A); // the link is open: the session lives
    expect(net.m(A).store.get('e1')).to.equal('here');
    net.step(A, { kind: 'connClosed', conn: 1 });
    time(net, A);
    net.clock.advance(999);
    time(net, A);
    expect(net.m(A).store.get('e1')).to.equal('here');
    net.clock.advance(1);
    time(net, A);
    for (const id of [A, B]) {
      const s = net.m(id).store;
      expect([s.get('e1'), s.get('e2'), s.get('p')]).to.deep.equal([undefined, undefined, 'plain']);
      const [r1] = eventsOf(net, id, 'e1').slice(-1);
      const [r2] = eventsOf(net, id, 'e2').slice(-1);
      expect(r1).to.deep.equal([s.revision, null]);
      expect(r2).to.deep.equal([s.revision, null]);
    }
    const ends = net.delivered.filter((d) => d.msg.type === 'fwd').flatMap((d) => (d.msg as { ops: ReqMsg[] }).ops).filter((o) => o.client === SESSION_CLIENT);
    expect(ends.map((o) => o.op)).to.deep.equal(['atomic']);
  });

  it('a client that follows the failover in time keeps its keys; the new primary starts the clock at its promotion (SPEC §10)', () => {
    const net = pairAB();
    net.step(A, { kind: 'hello', conn: 1, client: 'c1' });
    net.clientOp(A, eph(1, 'e1'), 1);
    net.deliver();
    time(net, A, B);
    net.clock.advance(5000); // long enough that a clock counted from the last link to A would have run out
    net.crash(A);
    net.setView(makeView(3, B, C));
    net.deliver();
    time(net, B, C); // B's promotion: the clock starts now
    net.clock.advance(900);
    time(net, B);
    net.step(B, { kind: 'hello', conn: 7, client: 'c1' }); // the client's new link, in time
    net.clock.advance(60_000);
    time(net, B, C);
    expect(net.m(B).store.get('e1')).to.equal('here');
    expect(net.m(C).store.get('e1')).to.equal('here');
  });

  it('a client that does not follow the failover loses its keys sessionTtlMs after the promotion (SPEC §10)', () => {
    const net = pairAB();
    net.step(A, { kind: 'hello', conn: 1, client: 'c1' });
    net.clientOp(A, eph(1, 'e1'), 1);
    net.deliver();
    time(net, A, B);
    net.crash(A);
    net.setView(makeView(3, B, C));
    net.deliver();
    time(net, B, C);
    net.clock.advance(999);
    time(net, B);
    expect(net.m(B).store.get('e1')).to.equal('here');
    net.clock.advance(1);
    time(net, B);
    expect(net.m(B).store.get('e1')).to.equal(undefined);
    expect(net.m(C).store.get('e1')).to.equal(undefined);
  });

  it('a plain put makes an ephemeral key plain; a reconnect in time stops the clock (SPEC §10)', () => {
    const net = pairAB();
    net.step(A, { kind: 'hello', conn: 1, client: 'c1' });
    net.clientOp(A, eph(1, 'e1'), 1);
    net.clientOp(A, eph(2, 'e2'), 1);
    net.clientOp(A, put('c1', 3, 'e2', 'mine now'), 1);
    net.deliver();
    time(net, A, B);
    net.step(A, { kind: 'connClosed', conn: 1 });
    time(net, A);
    net.clock.advance(500);
    net.step(A, { kind: 'hello', conn: 2, client: 'c1' });
    net.clock.advance(5000);
    time(net, A);
    expect(net.m(A).store.get('e1')).to.equal('here');
    net.step(A, { kind: 'connClosed', conn: 2 });
    time(net, A);
    net.clock.advance(1000);
    time(net, A);
    expect(net.m(A).store.get('e1')).to.equal(undefined);
    expect(net.m(A).store.get('e2')).to.equal('mine now');
    expect(net.m(B).store.get('e2')).to.equal('mine now');
  });

  it('a session with more than 1000 keys ends in atomic commits of at most 1000 keys, in the same turn (SPEC §10)', () => {
    const net = pairAB();
    net.step(A, { kind: 'hello', conn: 1, client: 'c1' });
    for (let i = 0; i < 1001; i++) net.clientOp(A, eph(i + 1, `e${i}`), 1);
    net.deliver();
    time(net, A, B);
    net.step(A, { kind: 'connClosed', conn: 1 });
    time(net, A);
    net.clock.advance(1000);
    time(net, A);
    const ends = net.delivered.filter((d) => d.msg.type === 'fwd').flatMap((d) => (d.msg as { ops: ReqMsg[] }).ops).filter((o) => o.client === SESSION_CLIENT);
    expect(ends.map((o) => o.ops?.length)).to.deep.equal([1000, 1]);
    expect(net.m(A).store.size).to.equal(0);
    expect(net.m(B).store.size).to.equal(0);
    expect(net.m(A).store.leases.size).to.equal(0);
  });
});
