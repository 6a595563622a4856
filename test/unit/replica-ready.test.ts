/**
 * The replica core's one Ready per step (raft's Ready): what the shell is told to do after
 * each step or tick, instead of reading getters. Pure: no ports, no timers.
 */
import { expect } from 'chai';
import { ReplicaMachine, PAUSE_PENDING, RESUME_PENDING } from '../../server/replica/replica-machine';
import { takeEffects } from '../support/effects';
import { makeView } from '../../common/view';
import type { ReqMsg } from '../../common/messages';

import { A, B, primaryOfView2 } from '../support/replica-fixtures';


const put = (seq: number): ReqMsg => ({ type: 'req', client: 'c', seq, ack: seq, op: 'put', key: `k${seq % 100}`, value: 'v' });

describe('ReplicaMachine Ready', () => {
  it('the backup link target, and when to flush: "soon" with nothing in flight (no added latency), "turn" behind ops in flight (batching)', () => {
    const p = primaryOfView2();
    expect(p.ready().backupTarget).to.equal(B);
    expect(p.ready().flush).to.equal('none');
    p.step({ kind: 'clientOp', conn: 1, req: put(1) });
    expect(p.ready().flush).to.equal('soon');
    p.step({ kind: 'flush' });
    p.step({ kind: 'clientOp', conn: 1, req: put(2) });
    expect(p.ready().flush).to.equal('turn');
    takeEffects(p);
    expect(p.ready().effects, 'advance() consumed them').to.deep.equal([]);
  });

  it('drained only when nothing ordered is unanswered and, as primary, the view is acknowledged (graceful shutdown)', () => {
    const p = new ReplicaMachine({ me: A, incarnation: 'ia' });
    p.step({ kind: 'view', view: makeView(1, A, null), holders: { primary: 'ia', backup: null } });
    p.step({ kind: 'view', view: makeView(2, A, B), holders: { primary: 'ia', backup: 'ib' } });
    expect(p.ready().drained, 'view 2 not acknowledged yet').to.equal(false);
    p.step({ kind: 'backupLinkUp' });
    p.step({ kind: 'fromBackup', msg: { type: 'xferack', viewnum: 2, index: 0 } });
    expect(p.ready().drained).to.equal(true);
    p.step({ kind: 'clientOp', conn: 1, req: put(1) });
    expect(p.ready().drained).to.equal(false);
    p.step({ kind: 'flush' });
    p.step({ kind: 'fromBackup', msg: { type: 'fwdack', viewnum: 2, index: 1 } });
    expect(p.ready().drained).to.equal(true);
  });

  it(`pauses client reads at ${PAUSE_PENDING} unanswered requests and resumes at ${RESUME_PENDING} (backpressure)`, () => {
    const p = primaryOfView2();
    let seq = 0;
    while (seq < PAUSE_PENDING - 1) p.step({ kind: 'clientOp', conn: 1, req: put(++seq) });
    expect(p.ready().pauseClients).to.equal(false);
    p.step({ kind: 'clientOp', conn: 1, req: put(++seq) });
    expect(p.ready().pauseClients).to.equal(true);
    p.step({ kind: 'flush' });
    p.step({ kind: 'fromBackup', msg: { type: 'fwdack', viewnum: 2, index: PAUSE_PENDING - RESUME_PENDING - 1 } });
    expect(p.ready().pauseClients, 'still above the resume mark').to.equal(true);
    p.step({ kind: 'fromBackup', msg: { type: 'fwdack', viewnum: 2, index: PAUSE_PENDING - RESUME_PENDING } });
    expect(p.ready().pauseClients).to.equal(false);
  });

  it('pings only while the link to the view service is up, and never after leave (graceful shutdown)', () => {
    const m = new ReplicaMachine({ me: A, incarnation: 'ia' });
    m.tick(100);
    expect(m.ready().ping, 'no link').to.equal(null);
    m.step({ kind: 'vsLinkUp' });
    expect(m.ready().ping).to.deep.include({ type: 'ping', id: A, incarnation: 'ia', viewnum: 0 });
    takeEffects(m);
    m.step({ kind: 'view', view: makeView(1, A, null), holders: { primary: 'ia', backup: null } });
    expect(m.ready().ping).to.deep.include({ viewnum: 1, role: 'primary', initialised: true });
    takeEffects(m);
    m.step({ kind: 'leave' });
    m.tick(200);
    expect(m.ready().ping).to.equal(null);
  });

  it('backup-stall suspicion counts from the first tick: time is an input, and none has come before it', () => {
    const p = primaryOfView2();
    p.step({ kind: 'vsLinkUp' });
    p.step({ kind: 'clientOp', conn: 1, req: put(1) });
    p.step({ kind: 'backupLinkDown' }); // stalled: a request waits and the link is down
    takeEffects(p);
    p.tick(1_000_000_000);
    expect(p.ready().ping).to.not.have.property('suspect');
    takeEffects(p);
    p.tick(1_000_000_000 + 900);
    expect(p.ready().ping).to.not.have.property('suspect');
    takeEffects(p);
    p.tick(1_000_000_000 + 1000); // 10 intervals of 100 ms without an acknowledgement
    expect(p.ready().ping).to.have.property('suspect', B);
  });

  it('graceful shutdown: requests are held, never executed, then refused NOT_PRIMARY with the view naming the next primary', () => {
    const p = primaryOfView2();
    p.step({ kind: 'shutdown' });
    p.step({ kind: 'clientOp', conn: 1, req: put(1) });
    expect(takeEffects(p).filter((e) => e.kind !== 'log')).to.deep.equal([]);
    expect(p.ready().drained, 'a held request is not pending').to.equal(true);
    expect(p.store.index).to.equal(0);
    const v3 = makeView(3, B, null);
    p.step({ kind: 'view', view: v3, holders: { primary: 'ib', backup: null } });
    takeEffects(p);
    p.step({ kind: 'releaseHeld' });
    p.step({ kind: 'clientOp', conn: 2, req: put(2) });
    expect(takeEffects(p).filter((e) => e.kind === 'reply').map((e) => (e as { msg: { seq: number; code?: string; view?: unknown } }).msg))
      .to.deep.equal([1, 2].map((seq) => ({ type: 'res', seq, ok: false, code: 'NOT_PRIMARY', message: `not the primary of view 3 (its primary is ${B})`, view: v3 })));
    expect(p.store.index, 'nothing held was executed').to.equal(0);
  });
});

