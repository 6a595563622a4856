/**
 * Watches across failovers through the simulated network (issue #4, SPEC §7): the real
 * client watch table (client/core/watches.ts) against real ReplicaMachines and the real
 * ViewMachine, synchronously, no ports, no sleeps. A watcher's link is a connection id at
 * one replica; a new link is a new id (the old one's pushes are lost, like a closed socket).
 */
import { expect } from 'chai';
import { SimNetwork } from '../support/sim-network';
import { Watches, WatchEvent } from '../../client/core/watches';
import type { View } from '../../common/view';
import type { HistoryBounds } from '../../server/replica/write-history';

const A = 'ws://a';
const B = 'ws://b';
const C = 'ws://c';

/** A watcher: the client's watch table, one link at a time to the replica it believes primary. */
class SimWatcher {
  readonly watches = new Watches();
  readonly delivered: WatchEvent[] = [];
  /** NOT_PRIMARY retries asked for, with the view they carried. */
  readonly retries: (View | undefined)[] = [];
  primary: string | null = null;
  private conn = 0;
  private read = 0;

  constructor(private readonly net: SimNetwork, private nextConn: number) {}

  /** Open a new link to `primary`; the old link closes (its undelivered pushes are lost). */
  connect(primary: string): void {
    if (this.primary !== null) this.net.step(this.primary, { kind: 'connClosed', conn: this.conn });
    this.watches.linkClosed();
    this.primary = primary;
    this.conn = this.nextConn++;
    this.read = this.net.pushes.length;
    this.watches.linkOpened();
    this.pump();
  }

  /** The link drops (the replica crashed): nothing more arrives on it. */
  disconnect(): void {
    this.watches.linkClosed();
    this.primary = null;
    this.conn = -1;
  }

  /** Carry effects and read pushes on the current link; at most `limit` pushes. */
  pump(limit = Infinity): void {
    for (let progressed = true; progressed;) {
      progressed = false;
      for (const e of this.watches.takeEffects()) {
        progressed = true;
        if (e.kind === 'send' && this.primary !== null) {
          this.net.step(this.primary, e.msg.type === 'watch'
            ? { kind: 'watch', conn: this.conn, msg: e.msg }
            : { kind: 'unwatch', conn: this.conn, msg: e.msg });
        } else if (e.kind === 'deliver') this.delivered.push(e.event);
        else if (e.kind === 'retry') this.retries.push(e.view);
      }
      while (limit > 0 && this.read < this.net.pushes.length) {
        const p = this.net.pushes[this.read++];
        if (p.conn !== this.conn || p.at !== this.primary) continue;
        limit--;
        progressed = true;
        if (p.msg.type === 'event') this.watches.event(p.msg);
        else if (p.msg.type === 'synced') this.watches.synced(p.msg);
        else if (p.msg.id !== undefined) this.watches.error({ ...p.msg, id: p.msg.id });
      }
    }
  }
}

/** View {A, B} acknowledged by the real view service, C idle. */
function clusterABC(history?: HistoryBounds): SimNetwork {
  const net = new SimNetwork({ vs: true, deadPings: 3, history }).add(A);
  net.settle(2);
  net.add(B, C);
  net.settle(3);
  expect(net.vs?.view).to.deep.include({ primary: A, backup: B });
  return net;
}

/** Revisions strictly increasing (so none twice), none marked resync. */
function expectInOrderOnce(events: WatchEvent[]): void {
  for (let i = 1; i < events.length; i++) expect(events[i].revision, `after ${events[i - 1].revision}`).to.be.greaterThan(events[i - 1].revision);
}

/** The (revision → key=value) the replica's history holds from `from` on. */
function historyOf(net: SimNetwork, id: string, from = 0): Map<number, string> {
  return new Map([...net.m(id).store.history.since(from)].map((e) => [e.rev, `${e.key}=${e.value}`]));
}

const asMap = (events: WatchEvent[]): Map<number, string> => new Map(events.map((e) => [e.revision, `${e.key}=${e.value}`]));

describe('sim: watches across failover (issue #4, SPEC §7)', () => {
  it('a watcher across a primary crash receives every committed revision exactly once, in order, and no uncommitted one', () => {
    const net = clusterABC();
    const watcher = new SimWatcher(net, 100);
    watcher.watches.add('k*', 0);
    watcher.connect(A);
    const w = net.client('writer', 1);
    for (let i = 0; i < 30; i++) { w.send(A, 'put', `k${i % 4}`, `a${i}`); net.deliver(); }
    expect(w.replies().filter((r) => r.ok)).to.have.length(30);
    watcher.pump(21); // synced + 20 events; 10 committed events are still "in flight" on the link when A dies
    expect(watcher.delivered).to.have.length(20);
    // Writes A applies but B never gets: never committed, never acknowledged.
    net.hold(A, B);
    const lost = net.client('lost', 2);
    for (let i = 0; i < 5; i++) lost.send(A, 'put', `k${i}`, `uncommitted${i}`);
    net.deliver();
    expect(net.m(A).store.revision).to.equal(35);
    net.crash(A);
    watcher.disconnect();
    net.settle(8);
    expect(net.vs?.view).to.deep.include({ primary: B, backup: C });
    watcher.connect(B);
    for (let i = 30; i < 50; i++) { w.send(B, 'append', `k${i % 4}`, `-b${i}`); net.deliver(); }
    watcher.pump();
    expect(net.m(B).store.revision).to.equal(50);
    expectInOrderOnce(watcher.delivered);
    expect(watcher.delivered.map((e) => e.revision)).to.deep.equal(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(asMap(watcher.delivered)).to.deep.equal(historyOf(net, B));
    expect(watcher.delivered.some((e) => /uncommitted/.test(e.value ?? ''))).to.equal(false);
  });

  it('the history travels with the state transfer: the new backup, once primary, replays what the watcher missed', () => {
    const net = clusterABC();
    const watcher = new SimWatcher(net, 100);
    watcher.watches.add('*', 0);
    watcher.connect(A);
    const w = net.client('writer', 1);
    for (let i = 0; i < 10; i++) { w.send(A, 'put', `k${i}`, `v${i}`); net.deliver(); }
    watcher.pump(4); // synced + 3 events: the watcher is behind, at revision 3
    net.crash(A);
    watcher.disconnect();
    net.settle(8); // B primary, C backup by state transfer (history included)
    expect(net.vs?.view).to.deep.include({ primary: B, backup: C });
    expect(net.m(C).store.history.base).to.equal(0);
    for (let i = 10; i < 15; i++) { w.send(B, 'put', `k${i}`, `v${i}`); net.deliver(); }
    net.crash(B);
    net.settle(8); // C primary
    expect(net.vs?.view).to.deep.include({ primary: C });
    watcher.connect(C);
    watcher.pump();
    expect(watcher.delivered.map((e) => e.revision)).to.deep.equal(Array.from({ length: 15 }, (_, i) => i + 1));
    expect(watcher.delivered.filter((e) => e.resync)).to.deep.equal([]);
  });

  it('resyncs the current values when the new primary\'s history no longer reaches back, then continues live', () => {
    const net = clusterABC({ maxEvents: 5, maxBytes: 1 << 20 });
    const watcher = new SimWatcher(net, 100);
    watcher.watches.add('k*', 0);
    watcher.connect(A);
    const w = net.client('writer', 1);
    for (let i = 0; i < 3; i++) { w.send(A, 'put', `k${i}`, `v${i}`); net.deliver(); }
    watcher.pump();
    expect(watcher.delivered.map((e) => e.revision)).to.deep.equal([1, 2, 3]);
    watcher.disconnect(); // away for a while
    w.send(A, 'delete', 'k0');
    for (let i = 0; i < 10; i++) { w.send(A, 'put', `k${i % 2 + 1}`, `x${i}`); net.deliver(); }
    net.crash(A);
    net.settle(8);
    watcher.connect(B);
    w.send(B, 'put', 'k9', 'live');
    net.deliver();
    watcher.pump();
    expect(watcher.delivered.slice(3)).to.deep.equal([
      { key: 'k1', value: 'x8', revision: 14, resync: true },
      { key: 'k2', value: 'x9', revision: 14, resync: true },
      { key: 'k0', value: null, revision: 14, resync: true }, // deleted meanwhile: absent from the resync
      { key: 'k9', value: 'live', revision: 15 },
    ]);
    expectInOrderOnce(watcher.delivered.filter((e) => !e.resync));
  });

  it('a primary cut off from the view service sends nothing once the backup moved on, and ends the watch NOT_PRIMARY', () => {
    const net = clusterABC();
    const watcher = new SimWatcher(net, 100);
    watcher.watches.add('k', 0);
    watcher.connect(A);
    const w = net.client('writer', 1);
    w.send(A, 'put', 'k', 'one');
    net.deliver();
    watcher.pump();
    net.cutVs(A);
    net.settle(6); // view {B, C}; A still believes it is primary
    expect(net.m(A).role).to.equal('primary');
    const stale = net.client('stale', 2);
    stale.send(A, 'put', 'k', 'from the old primary');
    net.deliver(); // B rejects A's forward with its newer view: A steps down
    watcher.pump();
    expect(watcher.delivered.map((e) => e.value)).to.deep.equal(['one']);
    expect(watcher.retries.map((v) => v?.primary)).to.deep.equal([B]);
    watcher.connect(B);
    w.send(B, 'put', 'k', 'two');
    net.deliver();
    watcher.pump();
    expect(watcher.delivered.map((e) => `${e.value}@${e.revision}`)).to.deep.equal(['one@1', 'two@2']);
  });
});
