/**
 * Partitions, split brain and restarts through the simulated network (SPEC §1 "one acting
 * primary", §2.4, §3.3), with the real ViewMachine where the scenario needs its timing.
 */
import { expect } from 'chai';
import { SimNetwork } from '../support/sim-network';
import { makeView } from '../../common/view';
import type { ResMsg } from '../../common/messages';

import { A, B, C, clusterABC } from '../support/replica-fixtures';


const okReplies = (rs: ResMsg[]) => rs.filter((r) => r.ok);

describe('sim: partitions and split brain (SPEC §1, §3.3)', () => {
  it('an old primary cut off from the view service cannot complete a read or a write once its backup moved on', () => {
    const net = clusterABC();
    const c = net.client('c', 1);
    const s1 = c.send(A, 'put', 'x', '1');
    net.deliver();
    expect(c.reply(s1)).to.deep.include({ ok: true });
    net.cutVs(A); // A still reaches B and its clients, but not the view service
    net.settle(6); // A misses deadPings: view {B, C}
    expect(net.vs?.view).to.deep.include({ primary: B, backup: C });
    expect(net.m(A).role).to.equal('primary'); // A still believes it is primary
    const d = net.client('d', 2);
    const s2 = d.send(B, 'put', 'x', '2');
    net.deliver();
    expect(d.reply(s2)).to.deep.include({ ok: true });
    // A orders a read and a write; B rejects A's fwd with its newer view; A steps down
    const r = c.send(A, 'get', 'x');
    const w = c.send(A, 'put', 'x', 'stale');
    net.deliver();
    for (const s of [r, w]) {
      expect(c.replies(s)).to.have.length(1);
      expect(c.reply(s)).to.deep.include({ ok: false, code: 'NOT_PRIMARY' });
      expect(c.reply(s)).to.have.nested.property('view.primary', B);
    }
    expect(net.m(A).role).to.equal('idle');
    expect(net.m(B).store.get('x')).to.equal('2');
    expect(net.m(C).store.get('x')).to.equal('2');
  });

  it('an old primary isolated from everyone never answers; after healing it answers NOT_PRIMARY', () => {
    const net = clusterABC();
    const c = net.client('c', 1);
    net.isolate(A);
    net.settle(6);
    expect(net.vs?.view).to.deep.include({ primary: B, backup: C });
    const r = c.send(A, 'get', 'x');
    const w = c.send(A, 'append', 'x', 'lost?');
    net.deliver();
    expect(c.replies()).to.deep.equal([]);
    net.heal();
    net.settle(3); // A pings again and learns the new view (A is now idle or backup)
    expect(okReplies(c.replies())).to.deep.equal([]);
    for (const s of [r, w]) expect(c.reply(s)).to.deep.include({ ok: false, code: 'NOT_PRIMARY' });
    // the write was never applied where it counts; a retry at B applies it once
    c.resend(B, w);
    net.deliver();
    expect(c.reply(w)).to.deep.include({ ok: true, value: 5 });
    expect(net.m(B).store.get('x')).to.equal('lost?');
  });

  it('split brain is harmless: of two replicas that believe they are primary only the real one completes ops', () => {
    const net = new SimNetwork().add(A, B, C);
    net.setView(makeView(1, A, null));
    net.setView(makeView(2, A, B));
    net.deliver();
    // view 3 promotes B; A never hears of it
    net.setView(makeView(3, B, C), undefined, [B, C]);
    net.deliver();
    expect(net.m(A).role).to.equal('primary');
    expect(net.m(B).role).to.equal('primary');
    const c = net.client('c', 1);
    const atA = c.send(A, 'put', 'k', 'from-A');
    const atB = c.send(B, 'put', 'k', 'from-B');
    net.deliver();
    expect(c.reply(atA)).to.deep.include({ ok: false, code: 'NOT_PRIMARY' });
    expect(c.reply(atB)).to.deep.include({ ok: true });
    expect(net.m(B).store.get('k')).to.equal('from-B');
    expect(net.m(C).store.get('k')).to.equal('from-B');
  });

  it('a backup rejects a transfer and forwards from a replica that is not its view\'s primary, with a stale viewnum (SPEC §3.3)', () => {
    const net = new SimNetwork().add(A, B, C);
    net.setView(makeView(1, A, null), undefined, [A, B]);
    net.setView(makeView(2, A, B), undefined, [A, B]);
    net.deliver();
    // C holds a stale view in which it is primary with backup B
    const stale = makeView(1, C, B);
    net.setView(stale, net.holdersOf(stale), [C]);
    const c = net.client('c', 1);
    const s = c.send(C, 'put', 'k', 'from-C');
    net.deliver();
    const rejects = net.deliveredOf('reject', C);
    expect(rejects.length).to.be.greaterThan(0);
    expect(rejects[0].msg).to.deep.include({ type: 'reject', view: makeView(2, A, B) });
    expect(c.reply(s)).to.deep.include({ ok: false, code: 'NOT_PRIMARY' });
    expect(net.m(C).role).to.equal('idle');
    expect(net.m(B).store.get('k')).to.equal(undefined);
    expect(net.m(B).view).to.deep.equal(makeView(2, A, B));
    // B still serves its real primary
    const t = c.send(A, 'put', 'k', 'from-A');
    net.deliver();
    expect(c.reply(t)).to.deep.include({ ok: true });
    expect(net.m(B).store.get('k')).to.equal('from-A');
  });

  it('a reject carrying a newer view that still names it primary keeps its ops until the view service confirms', () => {
    const net = new SimNetwork().add(A, B, C);
    net.setView(makeView(1, A, null));
    net.setView(makeView(2, A, B));
    net.deliver();
    net.restart(B); // B comes back under a new incarnation; view 3 {A, B'} reaches B' first
    const v3 = makeView(3, A, B);
    net.setView(v3, net.holdersOf(v3), [B]);
    const c = net.client('c', 1);
    const s = c.send(A, 'put', 'k', 'v');
    net.deliver(); // A's resent fwd is rejected by B' with view 3, which names A primary
    expect(net.deliveredOf('reject', A)).to.have.length.greaterThan(0);
    expect(c.replies(s)).to.deep.equal([]);
    expect(net.m(A).role).to.equal('primary');
    net.setView(v3, net.holdersOf(v3), [A]);
    net.deliver();
    expect(c.reply(s)).to.deep.include({ ok: true });
    expect(net.m(A).pingViewnum).to.equal(3);
    expect(net.m(B).store.get('k')).to.equal('v');
  });

  it('a restarted replica named in a view under its old incarnation never serves (SPEC §2.4)', () => {
    const net = new SimNetwork({ vs: true }).add(A);
    net.settle(2);
    const c = net.client('c', 1);
    c.send(A, 'put', 'k', 'v');
    net.deliver();
    net.restart(A); // same URL, new incarnation, state lost
    net.settle(3);
    // the view is stuck at {A, null} (the only copy died); A's new process is not its holder
    expect(net.vs?.view).to.deep.equal(makeView(1, A, null));
    expect(net.m(A).view).to.deep.equal(makeView(1, A, null));
    expect(net.m(A).role).to.equal('idle');
    const s = c.send(A, 'get', 'k');
    net.deliver();
    expect(c.reply(s)).to.deep.include({ ok: false, code: 'NOT_PRIMARY' });
  });

  it('a restarted backup rejects forwards until the view service replaces it; waiting ops then complete exactly once', () => {
    const net = clusterABC();
    const c = net.client('c', 1);
    const before = c.send(A, 'append', 'k', 'a');
    net.deliver();
    expect(c.reply(before)).to.deep.include({ ok: true, value: 1 });
    net.restart(B);
    const during = c.send(A, 'append', 'k', 'b');
    net.deliver();
    expect(c.replies(during)).to.deep.equal([]); // B's new process rejects (view 0); A keeps the op
    net.settle(4); // B's new incarnation pings: the old one is dead; a new view with a new backup
    expect(net.vs?.acked).to.equal(true);
    const v = net.vs!.view;
    expect(v.primary).to.equal(A);
    expect(c.reply(during)).to.deep.equal({ type: 'res', seq: during, ok: true, value: 2, rev: 2 });
    expect(net.m(v.backup as string).store.get('k')).to.equal('ab');
    expect(net.m(A).store.sortedEntries()).to.deep.equal(net.m(v.backup as string).store.sortedEntries());
  });

  it('a backup partitioned from the primary blocks completion; the view service replaces it and ops complete', () => {
    const net = clusterABC();
    const c = net.client('c', 1);
    net.cut(A, B);
    const s = c.send(A, 'put', 'k', 'v');
    net.deliver();
    expect(c.replies(s)).to.deep.equal([]);
    // B stops pinging too (a hung process): the view service replaces it with C
    net.cutVs(B);
    net.settle(6);
    expect(net.vs?.view).to.deep.include({ primary: A, backup: C });
    expect(c.reply(s)).to.deep.include({ ok: true });
    expect(net.m(C).store.get('k')).to.equal('v');
  });
});
