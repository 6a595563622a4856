/**
 * Cold standby (SPEC §9, the seed's other mode): `--standby cold` makes a replica, while it is
 * backup, log forwarded operations without applying them; it applies the log when promoted.
 */
import { expect } from 'chai';
import { makeView } from '../../common/view';
import type { ReplicaMachine } from '../../server/replica/replica-machine';
import { A, B, Node, Net, put } from '../support/durable-net';

const digest = (m: ReplicaMachine): string => JSON.stringify([m.store.index, m.store.revision, m.store.sortedEntries()]);

describe('cold standby (SPEC §9: --standby cold logs forwards without applying them; applies the log on promotion)', () => {
  let a: Node, b: Node, net: Net;
  beforeEach(() => {
    a = new Node(A);
    b = new Node(B, true);
    net = new Net(a, b);
    net.view(makeView(1, A, null));
    net.view(makeView(2, A, B));
    net.ops(a, 1, 40);
  });

  it('as backup it acknowledges what is logged, applies nothing: every write is answered, its state stays at the transfer (SPEC §9)', () => {
    expect(a.replies).to.equal(40);
    expect(b.m.loggedIndex).to.equal(40);
    expect(b.m.store.index).to.equal(0); // the transfer's state; the 40 ops wait in the log
  });

  it('promoted, it applies the log before serving: it holds every acknowledged write (SPEC §9)', () => {
    const primaryDigest = digest(a.m);
    net.view(makeView(3, B, null)); // A died; B is promoted
    expect(b.m.role).to.equal('primary');
    expect(digest(b.m)).to.equal(primaryDigest);
    net.step(b, { kind: 'clientOp', conn: 9, req: put(41, 'k41', 'after') });
    net.run();
    expect(b.replies).to.equal(1);
    expect(b.m.store.index).to.equal(41);
  });

  it('a cold standby still catches up by log suffix; promoted later, it holds every write (SPEC §9)', () => {
    net.view(makeView(3, A, null));
    net.ops(a, 41, 60);
    net.sent = [];
    net.view(makeView(4, A, B)); // B (same process) is backup again: probe, suffix after op 40
    expect(net.sent.filter((m) => m.type === 'xfer-begin').map((m) => (m.type === 'xfer-begin' && m.from !== undefined ? m.from : m.type === 'xfer-begin' && m.probe ? 'probe' : 'full'))).to.deep.equal(['probe', 40]);
    net.ops(a, 61, 70);
    expect(b.m.loggedIndex).to.equal(70);
    net.view(makeView(5, B, null));
    expect(digest(b.m)).to.equal(digest(a.m));
  });
});
