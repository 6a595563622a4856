/**
 * Every replica rule of SPEC §3, and the replica's side of §2, through the simulated network
 * with the real ViewMachine and a manual clock: the rules live in the replica core
 * (replica-machine.ts and its roles, ping-rules.ts, peer-hold.ts), so time and the view
 * service's answers are inputs here, as they are for the shell. No ports, no sleeps.
 */
import { expect } from 'chai';
import { SimNetwork } from '../support/sim-network';
import { makeView } from '../../common/view';
import type { ReplicaMachine } from '../../server/replica/replica-machine';
import { SUSPECT_AFTER_PINGS } from '../../server/replica/ping-rules';

import { A, B, C, clusterABC } from '../support/replica-fixtures';


const pingsOf = (net: SimNetwork, id: string) => net.pingLog.filter((p) => p.from === id).map((p) => p.msg);

function sameState(x: ReplicaMachine, y: ReplicaMachine): void {
  expect(x.store.sortedEntries()).to.deep.equal(y.store.sortedEntries());
  expect([x.store.revision, x.store.index]).to.deep.equal([y.store.revision, y.store.index]);
}

describe('sim: the replica rules (SPEC §3, the replica side of §2)', () => {
  describe('pings (SPEC §2.1)', () => {
    it('each replica pings every pingInterval with the latest view it knows, 0 after a start (SPEC §2.1)', () => {
      const net = new SimNetwork({ vs: true });
      net.add(A);
      expect(pingsOf(net, A).map((p) => p.viewnum), 'at once when the link opens').to.deep.equal([0]);
      net.deliverPings();
      expect(net.m(A).view).to.deep.equal(makeView(1, A, null));
      expect(pingsOf(net, A).map((p) => p.viewnum), 'at once when the view to acknowledge changes').to.deep.equal([0, 1]);
      net.deliverPings();
      for (let i = 0; i < 3; i++) net.tickVs();
      expect(pingsOf(net, A).map((p) => p.viewnum), 'then once per tick').to.deep.equal([0, 1, 1, 1, 1]);
    });

    it('at most one viewnum-0 ping is in flight: a second 0 before the answer would read as a restart and kill view 1 (SPEC §2.1)', () => {
      const net = new SimNetwork({ vs: true });
      net.add(A); // pings 0 at once; the answer is slow
      for (let i = 0; i < 5; i++) {
        net.clock.advance(net.pingIntervalMs);
        net.tick(A);
      }
      expect(net.pings.map((p) => p.msg.viewnum), 'one ping 0, however many ticks').to.deep.equal([0]);
      net.deliverPings();
      expect(net.vs?.view).to.deep.equal(makeView(1, A, null));
      net.settle(3);
      expect(net.vs?.view, 'view 1 survived').to.deep.equal(makeView(1, A, null));
      expect(net.m(A).role).to.equal('primary');
      expect(pingsOf(net, A).filter((p) => p.viewnum === 0)).to.have.length(1);
    });

    it('a new link to the view service lets a viewnum-0 ping go again: answers on the old link are lost (SPEC §2.1)', () => {
      const net = new SimNetwork({ vs: true });
      net.add(A);
      net.cutVs(A); // the link drops before the answer came
      net.deliverPings();
      expect(net.m(A).view.viewnum).to.equal(0);
      net.heal();
      expect(net.pings.map((p) => p.msg.viewnum)).to.deep.equal([0]);
      net.deliverPings();
      expect(net.m(A).view).to.deep.equal(makeView(1, A, null));
    });
  });

  it('only the primary of the view it knows serves; the backup and an idle replica answer NOT_PRIMARY with the view they know (SPEC §3.1)', () => {
    const net = clusterABC();
    const c = net.client('c', 1);
    const v = net.vs!.view;
    for (const at of [B, C]) {
      const s = c.send(at, 'put', 'k', 'v');
      expect(c.reply(s)).to.deep.include({ ok: false, code: 'NOT_PRIMARY', view: v });
    }
    const s = c.send(A, 'put', 'k', 'v');
    net.deliver();
    expect(c.reply(s)).to.deep.include({ ok: true });
  });

  it('the primary forwards every op, reads too, tagged with its viewnum, and replies only after the backup applied it (SPEC §3.2)', () => {
    const net = clusterABC();
    const c = net.client('c', 1);
    net.hold(A, B);
    const w = c.send(A, 'put', 'k', 'v');
    const r = c.send(A, 'get', 'k');
    net.deliver();
    expect(c.replies(), 'nothing answered before the backup applied it').to.deep.equal([]);
    net.release(A, B);
    net.deliver();
    const fwds = net.deliveredOf('fwd', B).map((e) => e.msg as { viewnum: number; ops: { op: string }[] });
    expect(fwds.flatMap((f) => f.ops.map((o) => o.op))).to.deep.equal(['put', 'get']);
    for (const f of fwds) expect(f.viewnum).to.equal(net.vs!.view.viewnum);
    expect(c.reply(w)).to.deep.include({ ok: true });
    expect(c.reply(r)).to.deep.include({ ok: true, value: 'v' });
    expect(net.m(B).store.get('k')).to.equal('v');
  });

  it('a backup accepts forwards only from its view\'s primary with that viewnum; the rejected sender learns it is no longer primary, without adopting the view from the reject (SPEC §3.3)', () => {
    const net = clusterABC();
    const old = net.m(A).view;
    const c = net.client('c', 1);
    net.cutVs(A); // A stops hearing the view service (and stops pinging): B takes over
    for (let i = 0; i < 6; i++) net.tickVs();
    net.deliver();
    expect(net.vs?.view).to.deep.include({ primary: B, backup: C });
    const newer = net.vs!.view;
    const s = c.send(A, 'put', 'k', 'stale');
    net.deliver();
    expect(net.deliveredOf('reject', A).length).to.be.greaterThan(0);
    expect(c.reply(s)).to.deep.include({ ok: false, code: 'NOT_PRIMARY', view: newer });
    expect(net.m(A).view, 'views come from the view service only').to.deep.equal(old);
    expect(net.m(A).role).to.equal('idle');
    expect(net.m(B).store.get('k'), 'the stale write was never applied').to.not.equal('stale');
    net.heal();
    net.settle(3);
    expect(net.m(A).view.viewnum).to.be.at.least(newer.viewnum);
  });

  it('the primary acknowledges a view naming a new backup only after the backup confirmed the transfer (SPEC §3.4)', () => {
    const net = new SimNetwork({ vs: true, deadPings: 3 }).add(A);
    net.settle(2);
    const c = net.client('c', 1);
    c.send(A, 'put', 'k', 'before');
    net.deliver();
    net.hold(A, B);
    net.add(B);
    for (let i = 0; i < 4; i++) {
      net.tickVs();
      net.deliver();
    }
    expect(net.vs?.view).to.deep.include({ primary: A, backup: B });
    expect(net.vs?.acked, 'the view waits for xferack').to.equal(false);
    expect(pingsOf(net, A).every((p) => p.viewnum < net.vs!.view.viewnum)).to.equal(true);
    net.release(A, B);
    net.settle(2);
    expect(net.vs?.acked).to.equal(true);
    expect(net.m(B).store.get('k')).to.equal('before');
  });

  it('state is deterministic: the same operations in the same order give the same state on both replicas (SPEC §3.5)', () => {
    const net = clusterABC();
    const c = net.client('c', 1);
    for (let i = 0; i < 40; i++) {
      c.send(A, i % 3 === 0 ? 'append' : 'put', `k${i % 5}`, `v${i}`);
      if (i % 7 === 0) c.send(A, 'delete', `k${(i + 1) % 5}`);
      if (i % 4 === 0) net.deliver();
    }
    net.deliver();
    sameState(net.m(A), net.m(B));
  });

  describe('backup-stall suspicion (docs/PROTOCOL.md §1), on the manual clock', () => {
    it(`a primary whose backup applies nothing for ${SUSPECT_AFTER_PINGS} ping intervals names it in a ping; the view service replaces it and the ops complete`, () => {
      const net = clusterABC();
      const c = net.client('c', 1);
      net.cut(A, B); // both still ping the view service: only A can see the partition
      const s = c.send(A, 'put', 'k', 'v');
      net.deliver();
      for (let i = 0; i < SUSPECT_AFTER_PINGS - 1; i++) net.tickVs();
      expect(pingsOf(net, A).some((p) => p.suspect !== undefined), 'not before the interval').to.equal(false);
      net.tickVs();
      net.tickVs();
      expect(pingsOf(net, A).filter((p) => p.suspect !== undefined).map((p) => p.suspect)).to.include(B);
      net.settle(4);
      expect(net.vs?.view).to.deep.include({ primary: A, backup: C });
      expect(c.reply(s)).to.deep.include({ ok: true });
      expect(net.m(C).store.get('k')).to.equal('v');
    });

    it('a slow backup that still acknowledges is never suspected', () => {
      const net = clusterABC();
      const c = net.client('c', 1);
      for (let i = 0; i < 3 * SUSPECT_AFTER_PINGS; i++) {
        net.hold(B, A); // its acknowledgements come one interval late: a request always waits at the ping
        c.send(A, 'append', 'k', '.');
        net.deliver();
        net.tickVs();
        net.release(B, A);
        net.deliver();
      }
      expect(pingsOf(net, A).some((p) => p.suspect !== undefined)).to.equal(false);
      expect(net.vs?.view).to.deep.include({ primary: A, backup: B });
    });

    it('an idle primary (nothing waiting, link up) is never suspected, however long', () => {
      const net = clusterABC();
      for (let i = 0; i < 3 * SUSPECT_AFTER_PINGS; i++) net.tickVs();
      expect(pingsOf(net, A).some((p) => p.suspect !== undefined)).to.equal(false);
    });
  });

  describe('views come only from the view service (SPEC §2, issue #5)', () => {
    it('a transfer for a view the backup has not heard of yet waits, unread, until the view service announces it; then it installs', () => {
      const net = new SimNetwork({ vs: true, deadPings: 5 }).add(A);
      net.settle(2);
      net.add(B);
      net.cutVs(B); // B's ping reaches the view service, but its link drops before the answer …
      net.vs!.ping(B, net.inc(B), 0);
      net.tickVs(); // … so view 2, naming B backup, is pushed to A only
      net.deliver();
      const v2 = net.vs!.view;
      expect(v2).to.deep.include({ primary: A, backup: B });
      // … so A's transfer reaches B first: held in B's core, its link unread
      expect(net.deliveredOf('xfer-begin', B)).to.have.length(1);
      expect(net.m(B).view.viewnum, 'not adopted from the xfer-begin').to.be.lessThan(v2.viewnum);
      expect(net.deliveredOf('xferack')).to.have.length(0);
      expect(net.vs?.acked).to.equal(false);
      net.heal(); // B's link reopens: it pings, hears view 2, and the held frames are stepped
      net.tickVs();
      net.deliver();
      net.settle(6);
      // B's first ping after the heal still says 0 (it had not learned view 2): not a restart
      // (SPEC §2.1), so view 2 stays and its one transfer completes.
      expect(net.vs!.view).to.deep.equal(v2);
      expect(net.deliveredOf('xferack', A)).to.have.length(1);
      expect(net.vs?.acked).to.equal(true);
      expect(net.m(B).role).to.equal('backup');
      expect(net.peerCloses).to.deep.equal([]);
    });

    it('a view the view service never made is never adopted: the link is closed with 1013 after the hold time, on tick', () => {
      const net = clusterABC();
      const v = net.m(B).view;
      const forged = makeView(2 ** 40, C, B);
      net.step(B, {
        kind: 'fromPrimary', link: 999, peer: { id: C, incarnation: net.inc(C) },
        msg: { type: 'xfer-begin', view: forged, holders: { primary: net.inc(C), backup: net.inc(B) }, index: 0, revision: 0 },
      });
      for (let i = 0; i < 9; i++) net.tickVs();
      expect(net.peerCloses).to.deep.equal([]);
      for (let i = 0; i < 2; i++) net.tickVs();
      expect(net.peerCloses).to.deep.equal([{ at: B, link: 999, code: 1013, reason: 'view not announced' }]);
      expect(net.m(B).view).to.deep.equal(v);
      expect(net.m(B).role).to.equal('backup');
    });
  });
});
