import { expect } from 'chai';
import { withoutText, takeEffects, wantsFlush } from '../support/effects';
import { ReplicaMachine, ReplicaEffect, PeerIdentity } from '../../server/replica/replica-machine';
import { makeView } from '../../common/view';
import type { View, ViewHolders } from '../../common/view';
import type { ReqMsg, OpName, FwdMsg } from '../../common/messages';

const A = 'ws://a';
const B = 'ws://b';
const C = 'ws://c';
const INC: Record<string, string> = { [A]: 'ia', [B]: 'ib', [C]: 'ic' };

function machine(me: string): ReplicaMachine {
  return new ReplicaMachine({ me, incarnation: INC[me] });
}

function holders(v: View): ViewHolders {
  return { primary: v.primary && INC[v.primary], backup: v.backup && INC[v.backup] };
}

function setView(m: ReplicaMachine, v: View, h: ViewHolders = holders(v)): ReplicaEffect[] {
  m.step({ kind: 'view', view: v, holders: h });
  return effects(m);
}

/** The effects without log lines (asserted exactly). */
function effects(m: ReplicaMachine): ReplicaEffect[] {
  return withoutText(takeEffects(m).filter((e) => e.kind !== 'log'));
}

function req(seq: number, op: OpName, key: string, value?: string, client = 'c'): ReqMsg {
  const r: ReqMsg = { type: 'req', client, seq, ack: 1, op, key };
  if (value !== undefined) r.value = value;
  return r;
}

const peer = (id: string): PeerIdentity => ({ id, incarnation: INC[id] });

/** A primary A of view 2 {A, B} whose transfer to B was sent and acknowledged. */
function primaryWithBackup(): { p: ReplicaMachine; v: View } {
  const p = machine(A);
  setView(p, makeView(1, A, null));
  const v = makeView(2, A, B);
  setView(p, v);
  p.step({ kind: 'backupLinkUp' });
  effects(p);
  p.step({ kind: 'fromBackup', msg: { type: 'xferack', viewnum: 2, index: 0 } });
  effects(p);
  return { p, v };
}

/** A backup B of view 2 {A, B} with the (empty) transfer installed. */
function installedBackup(): { b: ReplicaMachine; v: View } {
  const b = machine(B);
  const v = makeView(2, A, B);
  setView(b, v);
  for (const msg of [
    { type: 'xfer-begin', view: v, holders: holders(v), index: 0, revision: 0 } as const,
    { type: 'xfer-end', viewnum: 2 } as const,
  ]) b.step({ kind: 'fromPrimary', link: 1, peer: peer(A), msg });
  effects(b);
  return { b, v };
}

describe('ReplicaMachine', () => {
  describe('roles (SPEC §3.1)', () => {
    it('starts idle in view 0 and answers client operations NOT_PRIMARY with its view', () => {
      const m = machine(A);
      expect(m.role).to.equal('idle');
      expect(m.pingViewnum).to.equal(0);
      m.step({ kind: 'clientOp', conn: 7, req: req(1, 'get', 'k') });
      expect(effects(m)).to.deep.equal([{
        kind: 'reply', conn: 7,
        msg: { type: 'res', seq: 1, ok: false, code: 'NOT_PRIMARY', message: 'not the primary of view 0 (its primary is nobody)', view: makeView(0, null, null) },
      }]);
    });

    it('the backup refuses client operations with NOT_PRIMARY naming the primary', () => {
      const { b, v } = installedBackup();
      b.step({ kind: 'clientOp', conn: 1, req: req(1, 'put', 'k', 'v') });
      const [e] = effects(b);
      expect(e).to.deep.include({ kind: 'reply', conn: 1 });
      expect((e as { msg: object }).msg).to.deep.include({ ok: false, code: 'NOT_PRIMARY', view: v });
    });

    it('is not primary when the holders name another incarnation of its URL (a restart)', () => {
      const m = machine(A);
      setView(m, makeView(1, A, null), { primary: 'old-incarnation', backup: null });
      expect(m.role).to.equal('idle');
      m.step({ kind: 'clientOp', conn: 1, req: req(1, 'put', 'k', 'v') });
      expect(effects(m)[0]).to.have.nested.property('msg.code', 'NOT_PRIMARY');
    });

    it('adopts only views with a higher viewnum', () => {
      const m = machine(A);
      setView(m, makeView(3, B, A));
      setView(m, makeView(2, A, null));
      expect(m.view).to.deep.equal(makeView(3, B, A));
      expect(m.role).to.equal('backup');
      expect(m.pingViewnum).to.equal(3);
    });
  });

  describe('primary without a backup', () => {
    it('acknowledges the view at once and replies at once', () => {
      const m = machine(A);
      setView(m, makeView(1, A, null));
      expect(m.role).to.equal('primary');
      expect(m.pingViewnum).to.equal(1);
      expect(m.backupTarget).to.equal(null);
      m.step({ kind: 'clientOp', conn: 1, req: req(1, 'put', 'k', 'v') });
      m.step({ kind: 'clientOp', conn: 1, req: req(2, 'get', 'k') });
      expect(effects(m)).to.deep.equal([
        { kind: 'reply', conn: 1, msg: { type: 'res', seq: 1, ok: true, value: null, rev: 1 } },
        { kind: 'reply', conn: 1, msg: { type: 'res', seq: 2, ok: true, value: 'v', rev: 1 } },
      ]);
      expect(wantsFlush(m)).to.equal(false);
    });
  });

  describe('state transfer (SPEC §3.4)', () => {
    it('withholds the view from pings until xferack, and sends the transfer once the link is up', () => {
      const m = machine(A);
      setView(m, makeView(1, A, null));
      m.step({ kind: 'clientOp', conn: 1, req: req(1, 'put', 'k', 'v') });
      effects(m);
      const v = makeView(2, A, B);
      expect(setView(m, v)).to.deep.equal([]);
      expect(m.backupTarget).to.equal(B);
      expect(m.pingViewnum).to.equal(1);
      m.step({ kind: 'backupLinkUp' });
      expect(effects(m)).to.deep.equal([
        { kind: 'toBackup', msg: { type: 'xfer-begin', view: v, holders: holders(v), index: 1, revision: 1 } },
        // the at-most-once table first, then the data (streamed: one chunk per pump), then the history
        { kind: 'toBackup', msg: { type: 'xfer-data', viewnum: 2, data: [], dedup: [['c', 1, [[1, { ok: true, value: null, rev: 1 }]]]] } },
        { kind: 'toBackup', msg: { type: 'xfer-data', viewnum: 2, data: [['k', 'v', 0, 1]], dedup: [] } },
        { kind: 'toBackup', msg: { type: 'xfer-data', viewnum: 2, data: [], dedup: [], events: [[1, 'k', 'v']] } },
        { kind: 'toBackup', msg: { type: 'xfer-end', viewnum: 2 } },
      ]);
      expect(m.pingViewnum).to.equal(1);
      m.step({ kind: 'fromBackup', msg: { type: 'xferack', viewnum: 2, index: 1 } });
      expect(effects(m)).to.deep.equal([]);
      expect(m.pingViewnum).to.equal(2);
    });

    it('takes the snapshot when the view names the backup: later ops, even before the link is up, are forwarded behind it and answered on their fwdack, before the xferack', () => {
      const m = machine(A);
      setView(m, makeView(1, A, null));
      m.step({ kind: 'clientOp', conn: 1, req: req(1, 'put', 'k', 'a') }); // no backup yet: answered at once
      expect(effects(m)).to.have.length(1);
      setView(m, makeView(2, A, B));
      m.step({ kind: 'clientOp', conn: 1, req: req(2, 'append', 'k', 'b') }); // after the snapshot (index 1)
      expect(wantsFlush(m), 'nothing is forwarded before the link is up').to.equal(false);
      m.step({ kind: 'backupLinkUp' });
      const begin = effects(m);
      expect(begin[0]).to.have.nested.property('msg.index', 1);
      expect(wantsFlush(m)).to.equal(true);
      m.step({ kind: 'flush' });
      // the key the append changed went out as of the snapshot ('a'), pulled ahead by the
      // append, before the end of this one-key transfer; the cursor skipped it
      const data = begin.flatMap((e) => (e.kind === 'toBackup' && e.msg.type === 'xfer-data' ? e.msg.data : []));
      expect(data).to.deep.equal([['k', 'a', 0, 1]]);
      expect(begin[begin.length - 1]).to.deep.equal({ kind: 'toBackup', msg: { type: 'xfer-end', viewnum: 2 } });
      expect(effects(m)).to.deep.equal([
        { kind: 'toBackup', msg: { type: 'fwd', viewnum: 2, index: 2, ops: [req(2, 'append', 'k', 'b')] } },
      ]);
      m.step({ kind: 'fromBackup', msg: { type: 'fwdack', viewnum: 2, index: 2 } });
      expect(effects(m)).to.deep.equal([{ kind: 'reply', conn: 1, msg: { type: 'res', seq: 2, ok: true, value: 2, rev: 2 } }]);
      expect(m.pingViewnum, 'the view waits for the xferack').to.equal(1);
      m.step({ kind: 'fromBackup', msg: { type: 'xferack', viewnum: 2, index: 2 } });
      expect(m.pingViewnum).to.equal(2);
    });

    it('restarts the transfer with a fresh snapshot when the link drops before xferack', () => {
      const m = machine(A);
      setView(m, makeView(1, A, null));
      setView(m, makeView(2, A, B));
      m.step({ kind: 'backupLinkUp' });
      expect(effects(m)[0]).to.have.nested.property('msg.index', 0);
      m.step({ kind: 'clientOp', conn: 1, req: req(1, 'put', 'k', 'v') });
      m.step({ kind: 'backupLinkDown' });
      expect(wantsFlush(m)).to.equal(false);
      m.step({ kind: 'backupLinkUp' });
      const e = effects(m);
      expect(e.map((x) => (x as { msg: { type: string } }).msg.type)).to.deep.equal(['xfer-begin', 'xfer-data', 'xfer-data', 'xfer-data', 'xfer-end']);
      expect(e[0]).to.have.nested.property('msg.index', 1);
      // the old attempt's xferack (index 0) does not count
      m.step({ kind: 'fromBackup', msg: { type: 'xferack', viewnum: 2, index: 0 } });
      expect(m.pingViewnum).to.equal(1);
      m.step({ kind: 'fromBackup', msg: { type: 'xferack', viewnum: 2, index: 1 } });
      expect(effects(m)).to.deep.equal([{ kind: 'reply', conn: 1, msg: { type: 'res', seq: 1, ok: true, value: null, rev: 1 } }]);
      expect(m.pingViewnum).to.equal(2);
    });

    it('sends a new transfer on every new view, even with the same backup', () => {
      const { p } = primaryWithBackup();
      p.step({ kind: 'clientOp', conn: 1, req: req(1, 'put', 'k', 'v') });
      const v4 = makeView(4, A, B);
      // the link to B stays up (same target): the transfer goes out at once
      expect(setView(p, v4)).to.deep.equal([
        { kind: 'toBackup', msg: { type: 'xfer-begin', view: v4, holders: holders(v4), index: 1, revision: 1 } },
        // the at-most-once table first, then the data (streamed: one chunk per pump), then the history
        { kind: 'toBackup', msg: { type: 'xfer-data', viewnum: 4, data: [], dedup: [['c', 1, [[1, { ok: true, value: null, rev: 1 }]]]] } },
        { kind: 'toBackup', msg: { type: 'xfer-data', viewnum: 4, data: [['k', 'v', 0, 1]], dedup: [] } },
        { kind: 'toBackup', msg: { type: 'xfer-data', viewnum: 4, data: [], dedup: [], events: [[1, 'k', 'v']] } },
        { kind: 'toBackup', msg: { type: 'xfer-end', viewnum: 4 } },
      ]);
      expect(p.backupTarget).to.equal(B);
      expect(p.pingViewnum).to.equal(2);
      // the op ordered in view 2 is covered by the view-4 transfer
      p.step({ kind: 'fromBackup', msg: { type: 'fwdack', viewnum: 2, index: 1 } });
      expect(effects(p)).to.deep.equal([]);
      p.step({ kind: 'fromBackup', msg: { type: 'xferack', viewnum: 4, index: 1 } });
      expect(effects(p)).to.deep.equal([{ kind: 'reply', conn: 1, msg: { type: 'res', seq: 1, ok: true, value: null, rev: 1 } }]);
      expect(p.pingViewnum).to.equal(4);
    });
  });

  describe('forwarding (SPEC §3.2)', () => {
    it('pipelines: many ops ordered in one turn go out in one fwd frame, replies wait for the cumulative ack', () => {
      const { p } = primaryWithBackup();
      for (let s = 1; s <= 3; s++) p.step({ kind: 'clientOp', conn: s, req: req(s, 'append', 'k', String(s)) });
      expect(effects(p)).to.deep.equal([]);
      expect(p.pendingCount()).to.equal(3);
      p.step({ kind: 'flush' });
      expect(effects(p)).to.deep.equal([{
        kind: 'toBackup',
        msg: { type: 'fwd', viewnum: 2, index: 1, ops: [1, 2, 3].map((s) => req(s, 'append', 'k', String(s))) },
      }]);
      expect(wantsFlush(p)).to.equal(false);
      p.step({ kind: 'fromBackup', msg: { type: 'fwdack', viewnum: 2, index: 2 } });
      expect(effects(p).map((e) => (e as { conn: number }).conn)).to.deep.equal([1, 2]);
      p.step({ kind: 'fromBackup', msg: { type: 'fwdack', viewnum: 2, index: 3 } });
      expect(effects(p)).to.deep.equal([{ kind: 'reply', conn: 3, msg: { type: 'res', seq: 3, ok: true, value: 3, rev: 3 } }]);
      expect(p.pendingCount()).to.equal(0);
    });

    it('forwards reads too and answers them only after the ack', () => {
      const { p } = primaryWithBackup();
      p.step({ kind: 'clientOp', conn: 1, req: req(1, 'get', 'k') });
      p.step({ kind: 'flush' });
      expect(effects(p)).to.have.length(1);
      p.step({ kind: 'fromBackup', msg: { type: 'fwdack', viewnum: 2, index: 1 } });
      expect(effects(p)).to.deep.equal([{ kind: 'reply', conn: 1, msg: { type: 'res', seq: 1, ok: true, value: null, rev: 0 } }]);
    });

    it('resends every unacknowledged op from the acked index + 1 after a link drop', () => {
      const { p } = primaryWithBackup();
      for (let s = 1; s <= 3; s++) p.step({ kind: 'clientOp', conn: 1, req: req(s, 'put', `k${s}`, 'v') });
      p.step({ kind: 'flush' });
      p.step({ kind: 'fromBackup', msg: { type: 'fwdack', viewnum: 2, index: 1 } });
      effects(p);
      p.step({ kind: 'backupLinkDown' });
      p.step({ kind: 'clientOp', conn: 1, req: req(4, 'put', 'k4', 'v') });
      expect(wantsFlush(p)).to.equal(false);
      p.step({ kind: 'backupLinkUp' });
      p.step({ kind: 'flush' });
      const [e] = effects(p);
      expect((e as { msg: FwdMsg }).msg.index).to.equal(2);
      expect((e as { msg: FwdMsg }).msg.ops.map((o) => o.seq)).to.deep.equal([2, 3, 4]);
    });

    it('splits a flush into frames under the message limit', () => {
      const p = new ReplicaMachine({ me: A, incarnation: 'ia', limits: { maxKeyBytes: 1024, maxValueBytes: 1000, maxMessageBytes: 4096 } });
      setView(p, makeView(1, A, null));
      setView(p, makeView(2, A, B));
      p.step({ kind: 'backupLinkUp' });
      effects(p);
      for (let s = 1; s <= 10; s++) p.step({ kind: 'clientOp', conn: 1, req: req(s, 'put', 'k', 'x'.repeat(900)) });
      p.step({ kind: 'flush' });
      const frames = effects(p).map((e) => (e as { msg: FwdMsg }).msg);
      expect(frames.length).to.be.greaterThan(1);
      expect(frames.flatMap((f) => f.ops.map((o) => o.seq))).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      for (const f of frames) expect(JSON.stringify(f).length).to.be.at.most(4096);
      expect(frames.map((f) => f.index)).to.deep.equal(frames.map((f) => f.ops[0].seq));
    });
  });

  describe('losing the primary role', () => {
    it('answers every waiting op NOT_PRIMARY with the new view when a view no longer names it primary', () => {
      const { p } = primaryWithBackup();
      p.step({ kind: 'clientOp', conn: 1, req: req(1, 'put', 'k', 'v') });
      p.step({ kind: 'clientOp', conn: 2, req: req(1, 'get', 'k', undefined, 'd') });
      const v3 = makeView(3, B, null);
      expect(setView(p, v3)).to.deep.equal([
        { kind: 'reply', conn: 1, msg: { type: 'res', seq: 1, ok: false, code: 'NOT_PRIMARY', message: `not the primary of view 3 (its primary is ${B})`, view: v3 } },
        { kind: 'reply', conn: 2, msg: { type: 'res', seq: 1, ok: false, code: 'NOT_PRIMARY', message: `not the primary of view 3 (its primary is ${B})`, view: v3 } },
      ]);
      expect(p.role).to.equal('idle');
      expect(p.backupTarget).to.equal(null);
      expect(p.pendingCount()).to.equal(0);
    });

    it('a reject naming a newer view deposes it without adopting that view: every waiting op gets NOT_PRIMARY pointing there (SPEC §3.3)', () => {
      const { p, v } = primaryWithBackup();
      p.step({ kind: 'clientOp', conn: 1, req: req(1, 'put', 'k', 'v') });
      const v3 = makeView(3, B, C);
      p.step({ kind: 'fromBackup', msg: { type: 'reject', view: v3, reason: 'x' } });
      expect(effects(p)).to.deep.equal([
        { kind: 'reply', conn: 1, msg: { type: 'res', seq: 1, ok: false, code: 'NOT_PRIMARY', message: `not the primary of view 3 (its primary is ${B})`, view: v3 } },
      ]);
      expect(p.view, 'views come from the view service only').to.deep.equal(v);
      expect(p.role).to.equal('idle');
      expect(p.backupTarget).to.equal(null);
      expect(p.pingViewnum).to.equal(2);
      // new requests are refused, pointed at the newer view, until the view service's arrives
      p.step({ kind: 'clientOp', conn: 2, req: req(2, 'get', 'k') });
      expect(effects(p)).to.deep.equal([
        { kind: 'reply', conn: 2, msg: { type: 'res', seq: 2, ok: false, code: 'NOT_PRIMARY', message: `not the primary of view 3 (its primary is ${B})`, view: v3 } },
      ]);
      setView(p, v3);
      expect(p.view).to.deep.equal(v3);
      expect(p.pingViewnum).to.equal(3);
    });

    it('keeps waiting ops on a reject with an older or equal view, and relinks for a fresh transfer', () => {
      const { p } = primaryWithBackup();
      p.step({ kind: 'clientOp', conn: 1, req: req(1, 'put', 'k', 'v') });
      p.step({ kind: 'fromBackup', msg: { type: 'reject', view: makeView(0, null, null), reason: 'restarted' } });
      expect(effects(p)).to.deep.equal([{ kind: 'relinkBackup', reason: 'restarted' }]);
      expect(p.pendingCount()).to.equal(1);
      expect(p.role).to.equal('primary');
      // A second reject from the old socket, before the new link is up, changes nothing.
      p.step({ kind: 'fromBackup', msg: { type: 'reject', view: makeView(0, null, null), reason: 'restarted' } });
      expect(effects(p)).to.deep.equal([]);
    });

    it('a backup that rejects a gap (frames lost on a link that stayed up) gets a fresh transfer on a new link; the waiting ops complete after its xferack', () => {
      const { p, v } = primaryWithBackup();
      p.step({ kind: 'clientOp', conn: 1, req: req(1, 'put', 'k', 'v1') });
      p.step({ kind: 'flush' });
      effects(p); // this fwd is lost on the way
      p.step({ kind: 'clientOp', conn: 1, req: req(2, 'put', 'k', 'v2') });
      p.step({ kind: 'flush' });
      effects(p); // this one arrives, starting at index 2: the backup (at index 0) rejects it
      p.step({ kind: 'fromBackup', msg: { type: 'reject', view: v, reason: 'fwd starts at index 2, expected at most 1' } });
      expect(effects(p)).to.deep.equal([{ kind: 'relinkBackup', reason: 'fwd starts at index 2, expected at most 1' }]);
      p.step({ kind: 'flush' });
      expect(effects(p), 'nothing is forwarded until the new link is up').to.deep.equal([]);
      p.step({ kind: 'backupLinkDown' });
      p.step({ kind: 'backupLinkUp' });
      const sent = effects(p).map((e) => (e.kind === 'toBackup' ? e.msg.type : e.kind));
      expect(sent).to.deep.equal(['xfer-begin', 'xfer-data', 'xfer-data', 'xfer-data', 'xfer-end']);
      p.step({ kind: 'fromBackup', msg: { type: 'xferack', viewnum: 2, index: 2 } });
      expect(effects(p)).to.deep.equal([
        { kind: 'reply', conn: 1, msg: { type: 'res', seq: 1, ok: true, value: null, rev: 1 } },
        { kind: 'reply', conn: 1, msg: { type: 'res', seq: 2, ok: true, value: null, rev: 2 } },
      ]);
      expect(p.pingViewnum).to.equal(2);
    });

    it('completes waiting ops at once when a new view drops the backup', () => {
      const { p } = primaryWithBackup();
      p.step({ kind: 'clientOp', conn: 1, req: req(1, 'put', 'k', 'v') });
      p.step({ kind: 'flush' });
      effects(p);
      expect(setView(p, makeView(3, A, null))).to.deep.equal([
        { kind: 'reply', conn: 1, msg: { type: 'res', seq: 1, ok: true, value: null, rev: 1 } },
      ]);
      expect(p.pingViewnum).to.equal(3);
    });
  });

  describe('backup (SPEC §3.3)', () => {
    it('never adopts a view from an xfer-begin: the frames wait, unread, until the view service announces the view, then install (views come from the view service only)', () => {
      const b = machine(B);
      const v = makeView(2, A, B);
      const steps = [
        { type: 'xfer-begin', view: v, holders: holders(v), index: 5, revision: 3 } as const,
        { type: 'xfer-data', viewnum: 2, data: [['k', 'v']], dedup: [] } as const,
        { type: 'xfer-end', viewnum: 2 } as const,
      ];
      for (const msg of steps) b.step({ kind: 'fromPrimary', link: 1, peer: peer(A), msg: msg as never });
      expect(b.view, 'not adopted from the peer').to.deep.equal(makeView(0, null, null));
      expect(b.role).to.equal('idle');
      expect(effects(b), 'held: the shell stops reading the link').to.deep.equal([{ kind: 'readPeer', link: 1, on: false }]);
      // the view service announces view 2: the held frames are stepped in order
      expect(setView(b, v)).to.deep.equal([
        { kind: 'readPeer', link: 1, on: true },
        { kind: 'toPrimary', link: 1, msg: { type: 'chunkack', viewnum: 2, n: 1 } },
        { kind: 'toPrimary', link: 1, msg: { type: 'xferack', viewnum: 2, index: 5 } },
      ]);
      expect(b.role).to.equal('backup');
      expect(b.store.get('k')).to.equal('v');
      expect(b.store.revision).to.equal(3);
    });

    it('a hold that starts before the first tick is timed from the first tick, not from time zero', () => {
      const b = machine(B);
      const v = makeView(2, A, B);
      b.step({ kind: 'fromPrimary', link: 3, peer: peer(A), msg: { type: 'xfer-begin', view: v, holders: holders(v), index: 0, revision: 0 } });
      effects(b);
      b.tick(5_000_000);
      expect(effects(b), 'still held').to.deep.equal([]);
      expect(setView(b, v)[0]).to.deep.equal({ kind: 'readPeer', link: 3, on: true });
    });

    it('closes a held link with 1013 when the view service never announces its view (a forged view), on tick', () => {
      const b = machine(B);
      setView(b, makeView(1, C, null));
      b.tick(1_000);
      const forged = makeView(2 ** 40, A, B);
      b.step({ kind: 'fromPrimary', link: 7, peer: peer(A), msg: { type: 'xfer-begin', view: forged, holders: holders(forged), index: 0, revision: 0 } });
      expect(effects(b)).to.deep.equal([{ kind: 'readPeer', link: 7, on: false }]);
      b.tick(1_999);
      expect(effects(b)).to.deep.equal([]);
      b.tick(2_000);
      expect(effects(b)).to.deep.equal([
        { kind: 'readPeer', link: 7, on: true },
        { kind: 'closePeer', link: 7, code: 1013, reason: 'view not announced' },
      ]);
      expect(b.view.viewnum).to.equal(1);
      expect(b.role).to.equal('idle');
    });

    it('a backup that restarted before the transfer reached it still takes the transfer, so the primary can acknowledge the view (no permanent stall, SPEC §2.3)', () => {
      // The view service put incarnation 'ib' of B into view 2; B restarted as 'ib-2'.
      const b = new ReplicaMachine({ me: B, incarnation: 'ib-2' });
      const v = makeView(2, A, B);
      setView(b, v);
      expect(b.role).to.equal('backup');
      for (const msg of [
        { type: 'xfer-begin', view: v, holders: holders(v), index: 4, revision: 2 } as const,
        { type: 'xfer-data', viewnum: 2, data: [['k', 'v']], dedup: [] } as const,
        { type: 'xfer-end', viewnum: 2 } as const,
      ]) b.step({ kind: 'fromPrimary', link: 1, peer: peer(A), msg: msg as never });
      expect(effects(b)).to.deep.equal([
        { kind: 'toPrimary', link: 1, msg: { type: 'chunkack', viewnum: 2, n: 1 } },
        { kind: 'toPrimary', link: 1, msg: { type: 'xferack', viewnum: 2, index: 4 } },
      ]);
      expect(b.store.get('k')).to.equal('v');
      // It still never serves: only the primary slot is tied to the incarnation.
      b.step({ kind: 'clientOp', conn: 1, req: req(1, 'get', 'k') });
      const [reply] = effects(b) as { kind: string; msg: { ok: boolean; code?: string } }[];
      expect(reply.kind).to.equal('reply');
      expect(reply.msg.code).to.equal('NOT_PRIMARY');
    });

    it('rejects a transfer from a replica that is not its view\'s primary', () => {
      const b = machine(B);
      const v = makeView(2, A, B);
      setView(b, v);
      b.step({ kind: 'fromPrimary', link: 1, peer: peer(C), msg: { type: 'xfer-begin', view: v, holders: holders(v), index: 0, revision: 0 } });
      expect(effects(b)).to.deep.equal([{ kind: 'toPrimary', link: 1, msg: { type: 'reject', view: v, reason: `${C} is not the primary of view 2` } }]);
    });

    it('rejects fwd before the transfer is installed', () => {
      const b = machine(B);
      const v = makeView(2, A, B);
      setView(b, v);
      b.step({ kind: 'fromPrimary', link: 1, peer: peer(A), msg: { type: 'fwd', viewnum: 2, index: 1, ops: [req(1, 'put', 'k', 'v')] } });
      expect(effects(b)).to.deep.equal([{ kind: 'toPrimary', link: 1, msg: { type: 'reject', view: v, reason: 'no state transfer installed for view 2' } }]);
      expect(b.store.size).to.equal(0);
    });

    it('rejects fwd with a stale viewnum, or from a peer that is not the primary', () => {
      const { b, v } = installedBackup();
      b.step({ kind: 'fromPrimary', link: 1, peer: peer(A), msg: { type: 'fwd', viewnum: 1, index: 1, ops: [req(1, 'put', 'k', 'v')] } });
      b.step({ kind: 'fromPrimary', link: 1, peer: peer(C), msg: { type: 'fwd', viewnum: 2, index: 1, ops: [req(1, 'put', 'k', 'v')] } });
      b.step({ kind: 'fromPrimary', link: 1, peer: { id: A, incarnation: 'other' }, msg: { type: 'fwd', viewnum: 2, index: 1, ops: [req(1, 'put', 'k', 'v')] } });
      expect(effects(b)).to.deep.equal([
        { kind: 'toPrimary', link: 1, msg: { type: 'reject', view: v, reason: 'fwd for view 1, but my view is 2' } },
        { kind: 'toPrimary', link: 1, msg: { type: 'reject', view: v, reason: `${C} is not the primary of view 2` } },
        { kind: 'toPrimary', link: 1, msg: { type: 'reject', view: v, reason: `${A} is not the primary of view 2` } },
      ]);
      expect(b.store.size).to.equal(0);
    });

    it('applies fwd in order, acks cumulatively, skips already-applied ops of a resend, rejects a gap', () => {
      const { b, v } = installedBackup();
      const fwd = (index: number, seqs: number[]) => b.step({
        kind: 'fromPrimary', link: 1, peer: peer(A),
        msg: { type: 'fwd', viewnum: 2, index, ops: seqs.map((s) => req(s, 'append', 'k', String(s))) },
      });
      fwd(1, [1, 2]);
      fwd(2, [2, 3]); // resend overlapping: op 2 skipped
      fwd(5, [5]); // gap
      expect(effects(b)).to.deep.equal([
        { kind: 'toPrimary', link: 1, msg: { type: 'fwdack', viewnum: 2, index: 2 } },
        { kind: 'toPrimary', link: 1, msg: { type: 'fwdack', viewnum: 2, index: 3 } },
        { kind: 'toPrimary', link: 1, msg: { type: 'reject', view: v, reason: 'fwd starts at index 5, expected at most 4' } },
      ]);
      expect(b.store.get('k')).to.equal('123');
    });

    it('an idle replica never acknowledges forwards', () => {
      const m = machine(C);
      const v = makeView(2, A, B);
      setView(m, v);
      m.step({ kind: 'fromPrimary', link: 1, peer: peer(A), msg: { type: 'fwd', viewnum: 2, index: 1, ops: [req(1, 'put', 'k', 'v')] } });
      expect(effects(m)).to.deep.equal([{ kind: 'toPrimary', link: 1, msg: { type: 'reject', view: v, reason: `${C} is not a backup in view 2` } }]);
    });
  });
});
