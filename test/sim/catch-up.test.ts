/**
 * Catch-up by log suffix (SPEC §9, docs/DURABILITY.md §9), durable replica cores in memory:
 * a tiny network (FIFO links, a disk that logs at once) and restarts "from disk" (the state
 * and view a replica logged, its lineage; nothing in memory). The rule, deterministic:
 * suffix present → suffix; gone → full; lineage unknown or histories part → full.
 */
import { expect } from 'chai';
import type { ReplicaMachine, FromPrimaryMsg } from '../../server/replica/replica-machine';
import { makeView } from '../../common/view';
import type { ReqMsg } from '../../common/messages';
import { CatchUp } from '../../server/replica/catch-up';
import { A, B, Node, Net, put } from '../support/durable-net';

const digest = (m: ReplicaMachine): string => JSON.stringify([m.store.index, m.store.revision, m.store.sortedEntries()]);
const kinds = (msgs: FromPrimaryMsg[]): string[] => msgs.map((x) => (x.type === 'xfer-begin' ? (x.probe ? 'probe' : x.from !== undefined ? `suffix@${x.from}` : 'full') : x.type));

describe('catch-up by log suffix (SPEC §9: a backup restarting from disk catches up from the log suffix)', () => {
  let a: Node, b: Node, net: Net;
  beforeEach(() => {
    a = new Node(A);
    b = new Node(B);
    net = new Net(a, b);
    net.view(makeView(1, A, null));
    net.view(makeView(2, A, B));
    net.ops(a, 1, 50);
    expect(digest(b.m)).to.equal(digest(a.m));
  });

  it('suffix present → suffix: a backup restarted from its data gets only the ops it missed, no xfer-data (SPEC §9)', () => {
    b.restart();
    net.view(makeView(3, A, null));
    net.ops(a, 51, 80);
    net.sent = [];
    net.view(makeView(4, A, B));
    expect(kinds(net.sent).filter((k) => k !== 'fwd')).to.deep.equal(['probe', 'suffix@50', 'xfer-end']);
    expect(net.sent.filter((x) => x.type === 'fwd').flatMap((x) => (x as { ops: ReqMsg[] }).ops)).to.have.length(30);
    expect(digest(b.m)).to.equal(digest(a.m));
    expect(a.m.pingViewnum).to.equal(4); // the view is acknowledged: the backup has the state (SPEC §3.4)
    net.ops(a, 81, 90);
    expect(digest(b.m)).to.equal(digest(a.m));
    expect(a.replies).to.equal(90);
  });

  it('a backup that missed nothing gets an empty suffix; ops after it replicate as usual (SPEC §9)', () => {
    b.restart();
    net.sent = [];
    net.view(makeView(3, A, B));
    expect(kinds(net.sent)).to.deep.equal(['probe', 'suffix@50', 'xfer-end']);
    net.ops(a, 51, 60);
    expect(digest(b.m)).to.equal(digest(a.m));
  });

  it('suffix gone → full: the primary no longer holds the ops after the backup\'s position (SPEC §9)', () => {
    b.restart();
    net.view(makeView(3, A, null));
    net.ops(a, 51, 80);
    a.m.catchUp!.reset(a.m.store.index); // as after a restart whose log a snapshot had compacted
    net.sent = [];
    net.view(makeView(4, A, B));
    expect(kinds(net.sent).filter((k) => k !== 'xfer-data')).to.deep.equal(['probe', 'full', 'xfer-end']);
    expect(digest(b.m)).to.equal(digest(a.m));
  });

  it('lineage unknown → full: a backup whose history the primary never had (SPEC §9)', () => {
    b.restart();
    b.m.catchUp!.adopt([['elsewhere', 0]]);
    net.view(makeView(3, A, null));
    net.sent = [];
    net.view(makeView(4, A, B));
    expect(kinds(net.sent).filter((k) => k !== 'xfer-data')).to.deep.equal(['probe', 'full', 'xfer-end']);
    expect(digest(b.m)).to.equal(digest(a.m));
  });

  it('histories part → full: a returning primary with ops the new primary never got takes the whole state (SPEC §9)', () => {
    // A orders 51..55 and logs them, but B never receives them; A dies; B takes over.
    net.drop = (f) => f.dir === 'toBackup' && f.to === B;
    for (let i = 51; i <= 55; i++) net.step(a, { kind: 'clientOp', conn: 1, req: put(i, `k${i % 7}`, `lost${i}`) });
    net.run();
    net.drop = () => false;
    expect(a.m.store.index).to.equal(55);
    expect(b.m.store.index).to.equal(50);
    a.restart(); // from its disk: ops up to 55, lineage A#1
    net.view(makeView(3, B, null));
    net.ops(b, 51, 60); // B's lineage B#… starts at 50: A's 51..55 are not B's
    net.sent = [];
    net.view(makeView(4, B, A));
    expect(kinds(net.sent).filter((k) => k !== 'xfer-data')).to.deep.equal(['probe', 'full', 'xfer-end']);
    expect(digest(a.m)).to.equal(digest(b.m));
    expect(a.m.store.sortedEntries().some(([, v]) => v.startsWith('lost'))).to.equal(false);
  });

  it('the old primary returning with nothing the new one lacks gets a suffix across the failover (SPEC §9)', () => {
    a.restart();
    net.view(makeView(3, B, null));
    net.ops(b, 51, 70);
    net.sent = [];
    net.view(makeView(4, B, A));
    expect(kinds(net.sent).filter((k) => k !== 'fwd'), net.logs.join('\n')).to.deep.equal(['probe', 'suffix@50', 'xfer-end']);
    expect(digest(a.m)).to.equal(digest(b.m));
  });

  it('a primary restarted from disk starts a new lineage, so a backup ahead of its log is not continued (SPEC §9)', () => {
    // B got 51..52 (applied and logged); A crashed before its own log had them.
    net.ops(a, 51, 52);
    const aState = { index: 50 };
    b.restart();
    const old = a.m;
    a.m = a.fresh();
    a.m.store.install({ index: 0, revision: 0 }, []);
    for (const f of old.catchUp!.frames(0, aState.index, 0, 1e9)) { for (const op of f.ops) a.m.store.apply(op); a.m.catchUp!.add(f); }
    a.m.resume(a.view!.view, a.view!.holders, aState.index, a.lineage);
    expect(a.m.catchUp!.lineage.map((e) => e[1])).to.deep.equal([0, 50]); // old lineage up to 50, new from 50
    net.sent = [];
    net.view(makeView(3, A, B));
    expect(kinds(net.sent).filter((k) => k !== 'xfer-data')).to.deep.equal(['probe', 'full', 'xfer-end']);
    expect(digest(b.m)).to.equal(digest(a.m));
  });
});

describe('CatchUp: the rule and the recent ops (catch-up.ts)', () => {
  const op = (i: number): ReqMsg => put(i, 'k', 'x'.repeat(100));
  const fwd = (index: number, n: number) => ({ type: 'fwd' as const, viewnum: 1, index, ops: Array.from({ length: n }, (_, i) => op(index + i)) });

  it('plan: the lineage must be known, end at or after the position, and recent must reach back to it', () => {
    const c = new CatchUp(() => 'L2', 1_000_000);
    c.adopt([['L1', 0]]);
    c.reset(10);
    c.add(fwd(11, 10)); // ops 11..20 of L1
    c.begin(20); // I became primary at 20
    expect(c.position(20)).to.deep.equal({ lineage: 'L1', index: 20 }); // L2 ordered nothing yet: op 20 is L1's
    c.add(fwd(21, 5)); // 21..25 under L2
    expect(c.position(25)).to.deep.equal({ lineage: 'L2', index: 25 });
    expect(c.plan({ lineage: 'L1', index: 15 }, 25)).to.equal(15);
    expect(c.plan({ lineage: 'L1', index: 20 }, 25)).to.equal(20);
    expect(c.plan({ lineage: 'L1', index: 21 }, 25)).to.equal(null); // L1 ends at 20 here: its 21 is not mine
    expect(c.plan({ lineage: 'L2', index: 25 }, 25)).to.equal(25);
    expect(c.plan({ lineage: 'L1', index: 9 }, 25)).to.equal(null); // recent starts at 11
    expect(c.plan({ lineage: 'L9', index: 15 }, 25)).to.equal(null);
    expect(c.plan({ lineage: null, index: 0 }, 25)).to.equal(null);
    expect(c.plan({ lineage: 'L2', index: 26 }, 25)).to.equal(null);
  });

  it('recent is bounded in bytes (oldest batches go) and frames cover exactly from+1 … to', () => {
    const c = new CatchUp(() => 'L', 20_000);
    c.reset(0);
    for (let i = 1; i <= 1000; i += 10) c.add(fwd(i, 10));
    expect(c.recentTo).to.equal(1000);
    expect(c.recentFrom).to.be.greaterThan(800);
    const from = c.recentFrom + 3;
    const frames = c.frames(from, 990, 7, 2000);
    expect(frames.length).to.be.greaterThan(1);
    const idx = frames.flatMap((f) => f.ops.map((_, i) => f.index + i));
    expect(idx[0]).to.equal(from + 1);
    expect(idx[idx.length - 1]).to.equal(990);
    expect(idx.every((x, i) => i === 0 || x === idx[i - 1] + 1)).to.equal(true);
    expect(frames.every((f) => f.viewnum === 7)).to.equal(true);
    c.add(fwd(995, 10)); // overlap: only 1001.. is new
    expect(c.recentTo).to.equal(1004);
    c.add(fwd(2000, 1)); // a gap restarts recent
    expect(c.recentFrom).to.equal(2000);
  });
});
