/**
 * The durable replica's rules in the core (SPEC §9, docs/DURABILITY.md §8): persist effects,
 * replies only when backup-acked AND logged, fwdacks only of what is on disk, views as a fence.
 */
import { expect } from 'chai';
import { takeEffects } from '../support/effects';
import { ReplicaMachine, ReplicaEffect, PeerIdentity } from '../../server/replica/replica-machine';
import { makeView } from '../../common/view';
import type { View, ViewHolders } from '../../common/view';
import type { ReqMsg, FwdMsg } from '../../common/messages';

const A = 'ws://a';
const B = 'ws://b';
const INC: Record<string, string> = { [A]: 'ia', [B]: 'ib' };
const holders = (v: View): ViewHolders => ({ primary: v.primary && INC[v.primary], backup: v.backup && INC[v.backup] });
const peer = (id: string): PeerIdentity => ({ id, incarnation: INC[id] });
const put = (seq: number, key: string, value: string): ReqMsg => ({ type: 'req', client: 'c', seq, ack: 1, op: 'put', key, value });
const machine = (me: string): ReplicaMachine => new ReplicaMachine({ me, incarnation: INC[me], durable: true });
const kinds = (es: ReplicaEffect[]): string[] => es.filter((e) => e.kind !== 'log').map((e) => e.kind);

function viewLogged(m: ReplicaMachine, v: View): ReplicaEffect[] {
  m.step({ kind: 'view', view: v, holders: holders(v) });
  const es = takeEffects(m);
  m.step({ kind: 'logged', index: m.loggedIndex, viewnum: v.viewnum });
  return [...es, ...takeEffects(m)];
}

function flush(m: ReplicaMachine): ReplicaEffect[] {
  m.step({ kind: 'flush' });
  return takeEffects(m);
}

describe('durable replica core (SPEC §9)', () => {
  it('views are a fence: a view is entered only once it is logged; until then the replica acts in the old one (SPEC §9)', () => {
    const m = machine(A);
    m.step({ kind: 'vsLinkUp' });
    m.tick(0);
    takeEffects(m);
    m.step({ kind: 'view', view: makeView(1, A, null), holders: holders(makeView(1, A, null)) });
    const es = takeEffects(m);
    expect(es.filter((e) => e.kind === 'persistView')).to.have.length(1);
    expect(m.view.viewnum).to.equal(0);
    expect(m.role).to.equal('idle');
    m.step({ kind: 'clientOp', conn: 1, req: put(1, 'k', 'v') });
    expect(takeEffects(m).find((e) => e.kind === 'reply')).to.deep.include({ kind: 'reply' });
    m.tick(100);
    expect(m.ready().ping?.viewnum).to.equal(0); // the unlogged view is not acknowledged
    m.advance();
    m.step({ kind: 'logged', index: 0, viewnum: 1 });
    takeEffects(m);
    expect(m.view.viewnum).to.equal(1);
    expect(m.role).to.equal('primary');
  });

  it('a primary without a backup replies only once the op is logged (SPEC §9: reply after the operation is on disk)', () => {
    const m = machine(A);
    viewLogged(m, makeView(1, A, null));
    m.step({ kind: 'clientOp', conn: 1, req: put(1, 'k', 'v'), raw: '{"raw":1}' });
    expect(kinds(takeEffects(m))).to.deep.equal([]);
    expect(m.ready().flush).to.not.equal('none');
    m.advance();
    const es = flush(m);
    expect(es).to.deep.equal([{ kind: 'persistOps', msg: { type: 'fwd', viewnum: 1, index: 1, ops: [put(1, 'k', 'v')] }, raws: ['{"raw":1}'] }]);
    m.step({ kind: 'logged', index: 1, viewnum: 1 });
    expect(kinds(takeEffects(m))).to.deep.equal(['reply']);
  });

  it('a primary with a backup logs and forwards the same frame in one turn, and replies only when backup-acked AND logged (SPEC §9)', () => {
    const m = machine(A);
    viewLogged(m, makeView(1, A, null));
    const v = makeView(2, A, B);
    viewLogged(m, v);
    m.step({ kind: 'backupLinkUp' });
    takeEffects(m);
    m.step({ kind: 'fromBackup', msg: { type: 'xfer-pos', viewnum: 2, lineage: null, index: 0 } }); // the probe's answer: a full transfer
    takeEffects(m);
    m.step({ kind: 'fromBackup', msg: { type: 'xferack', viewnum: 2, index: 0 } });
    takeEffects(m);
    for (let i = 1; i <= 3; i++) m.step({ kind: 'clientOp', conn: 1, req: put(i, `k${i}`, 'v') });
    takeEffects(m);
    const es = flush(m);
    expect(kinds(es)).to.deep.equal(['persistOps', 'toBackup']);
    const [p, f] = es as [Extract<ReplicaEffect, { kind: 'persistOps' }>, Extract<ReplicaEffect, { kind: 'toBackup' }>];
    expect(p.msg).to.equal(f.msg); // one msg object: the shell encodes it once
    m.step({ kind: 'fromBackup', msg: { type: 'fwdack', viewnum: 2, index: 3 } });
    expect(kinds(takeEffects(m))).to.deep.equal([]); // acked but not on my disk
    m.step({ kind: 'logged', index: 2, viewnum: 2 });
    expect(kinds(takeEffects(m))).to.deep.equal(['reply', 'reply']);
    m.step({ kind: 'logged', index: 3, viewnum: 2 });
    expect(kinds(takeEffects(m))).to.deep.equal(['reply']);
  });

  it('a backup logs each fwd as received and acknowledges only what is on disk: fwdack up to min(applied, logged) (SPEC §9)', () => {
    const b = machine(B);
    const v = makeView(2, A, B);
    viewLogged(b, v);
    for (const msg of [
      { type: 'xfer-begin', view: v, holders: holders(v), index: 0, revision: 0 } as const,
      { type: 'xfer-end', viewnum: 2 } as const,
    ]) b.step({ kind: 'fromPrimary', link: 1, peer: peer(A), msg });
    const es = takeEffects(b);
    expect(kinds(es)).to.deep.equal(['persistState']); // no xferack before the state is on disk
    b.step({ kind: 'stateLogged', viewnum: 2, index: 0 });
    expect(takeEffects(b).filter((e) => e.kind !== 'log')).to.deep.equal([{ kind: 'toPrimary', link: 1, msg: { type: 'xferack', viewnum: 2, index: 0 } }]);
    const fwd: FwdMsg = { type: 'fwd', viewnum: 2, index: 1, ops: [put(1, 'a', '1'), put(2, 'b', '2')] };
    b.step({ kind: 'fromPrimary', link: 1, peer: peer(A), msg: fwd, text: 'TEXT' });
    expect(takeEffects(b)).to.deep.equal([{ kind: 'persistOps', msg: fwd, text: 'TEXT' }]);
    expect(b.store.index).to.equal(2);
    b.step({ kind: 'logged', index: 1, viewnum: 2 });
    expect(takeEffects(b)).to.deep.equal([{ kind: 'toPrimary', link: 1, msg: { type: 'fwdack', viewnum: 2, index: 1 } }]);
    b.step({ kind: 'logged', index: 2, viewnum: 2 });
    expect(takeEffects(b)).to.deep.equal([{ kind: 'toPrimary', link: 1, msg: { type: 'fwdack', viewnum: 2, index: 2 } }]);
  });

  it('a replica resumed from disk as the primary of a view without backup pings that view with its incarnation (SPEC §9, §2.4)', () => {
    const m = machine(A);
    const v = makeView(3, A, null);
    m.resume(v, holders(v), 5);
    m.step({ kind: 'vsLinkUp' });
    m.tick(0);
    expect(m.role).to.equal('primary');
    expect(m.ready().ping).to.deep.include({ viewnum: 3, incarnation: 'ia' });
    m.advance();
  });

  it('a primary resumed with a backup in its view does not acknowledge the view before the backup has the state again (SPEC §3.4, §9)', () => {
    const m = machine(A);
    const v = makeView(4, A, B);
    m.resume(v, holders(v), 5);
    m.step({ kind: 'vsLinkUp' });
    m.tick(0);
    expect(m.ready().ping?.viewnum).to.equal(3);
    m.advance();
  });

  it('a backup restarted from disk rejects forwards from a view it had already left (SPEC §9: views are a fence)', () => {
    const C = 'ws://c';
    INC[C] = 'ic';
    const v3 = makeView(3, C, B);
    const b = machine(B);
    b.resume(v3, holders(v3), 4); // it had adopted view 3 (on disk) before the crash
    const fwd: FwdMsg = { type: 'fwd', viewnum: 2, index: 5, ops: [put(9, 'x', 'stale')] };
    b.step({ kind: 'fromPrimary', link: 1, peer: peer(A), msg: fwd, text: 'T' });
    const es = takeEffects(b).filter((e) => e.kind !== 'log');
    expect(es).to.have.length(1);
    expect(es[0]).to.deep.include({ kind: 'toPrimary', link: 1 });
    expect((es[0] as Extract<ReplicaEffect, { kind: 'toPrimary' }>).msg).to.deep.include({ type: 'reject', view: v3 });
    expect(b.store.index).to.equal(0); // nothing applied
  });
});
