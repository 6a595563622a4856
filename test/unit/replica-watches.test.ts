/**
 * Watches in the replica core (issue #4, PROTOCOL §2.1): the effects are asserted exactly.
 * Events go out only for committed writes (after the backup's fwdack, or at once without a
 * backup), a registration is ordered like a read, and a deposed primary sends nothing.
 */
import { expect } from 'chai';
import { withoutText, takeEffects } from '../support/effects';
import { ReplicaMachine, ReplicaEffect, PeerIdentity, WATCH_CLIENT } from '../../server/replica/replica-machine';
import { makeView } from '../../common/view';
import type { View, ViewHolders } from '../../common/view';
import type { ReqMsg, OpName, WatchMsg } from '../../common/messages';
import type { HistoryBounds } from '../../server/replica/write-history';

const A = 'ws://a';
const B = 'ws://b';
const INC: Record<string, string> = { [A]: 'ia', [B]: 'ib' };
const W = 5; // the watcher's connection
const WRITER = 1;

function machine(me: string, o: { history?: HistoryBounds; maxWatchesPerConn?: number } = {}): ReplicaMachine {
  return new ReplicaMachine({ me, incarnation: INC[me], ...o });
}

function holders(v: View): ViewHolders {
  return { primary: v.primary && INC[v.primary], backup: v.backup && INC[v.backup] };
}

function setView(m: ReplicaMachine, v: View): ReplicaEffect[] {
  m.step({ kind: 'view', view: v, holders: holders(v) });
  return effects(m);
}

function effects(m: ReplicaMachine): ReplicaEffect[] {
  return withoutText(takeEffects(m).filter((e) => e.kind !== 'log'));
}

let seq = 0;
function op(m: ReplicaMachine, kind: OpName, key: string, value?: string): number {
  const r: ReqMsg = { type: 'req', client: 'c', seq: ++seq, ack: 1, op: kind, key };
  if (value !== undefined) r.value = value;
  m.step({ kind: 'clientOp', conn: WRITER, req: r });
  return seq;
}

function watch(m: ReplicaMachine, id: number, pattern: string, from?: number, conn = W): void {
  const msg: WatchMsg = { type: 'watch', id, pattern };
  if (from !== undefined) msg.from = from;
  m.step({ kind: 'watch', conn, msg });
}

/** Only the pushes (events, synced, watch errors), as [conn, msg]. */
function pushes(e: ReplicaEffect[]): unknown[] {
  return e.filter((x) => x.kind === 'push').map((x) => [(x as { conn: number }).conn, (x as { msg: unknown }).msg]);
}

function primaryAlone(o: { history?: HistoryBounds; maxWatchesPerConn?: number } = {}): ReplicaMachine {
  const p = machine(A, o);
  setView(p, makeView(1, A, null));
  return p;
}

/** A primary A of view 2 {A, B} whose (empty) transfer to B was acknowledged. */
function primaryWithBackup(): ReplicaMachine {
  const p = primaryAlone();
  setView(p, makeView(2, A, B));
  p.step({ kind: 'backupLinkUp' });
  effects(p);
  p.step({ kind: 'fromBackup', msg: { type: 'xferack', viewnum: 2, index: 0 } });
  effects(p);
  return p;
}

/** Flush and acknowledge everything the primary has ordered. */
function commitAll(p: ReplicaMachine): ReplicaEffect[] {
  p.step({ kind: 'flush' });
  const fwd = effects(p);
  p.step({ kind: 'fromBackup', msg: { type: 'fwdack', viewnum: p.view.viewnum, index: p.store.index } });
  return [...fwd, ...effects(p)];
}

describe('ReplicaMachine watches (issue #4)', () => {
  beforeEach(() => { seq = 0; });

  describe('without a backup', () => {
    it('answers a registration at once with synced at the current revision, then sends each write\'s event after its reply', () => {
      const p = primaryAlone();
      op(p, 'put', 'k', 'old');
      effects(p);
      watch(p, 1, 'k');
      expect(effects(p)).to.deep.equal([{ kind: 'push', conn: W, msg: { type: 'synced', id: 1, rev: 1 } }]);
      op(p, 'append', 'k', '!');
      op(p, 'delete', 'k');
      expect(effects(p)).to.deep.equal([
        { kind: 'reply', conn: WRITER, msg: { type: 'res', seq: 2, ok: true, value: 4, rev: 2 } },
        { kind: 'push', conn: W, msg: { type: 'event', id: 1, key: 'k', value: 'old!', rev: 2 } },
        { kind: 'reply', conn: WRITER, msg: { type: 'res', seq: 3, ok: true, value: true, rev: 3 } },
        { kind: 'push', conn: W, msg: { type: 'event', id: 1, key: 'k', value: null, rev: 3 } },
      ]);
    });

    it('sends no event for a read, a refused write, a delete of a missing key or a retried write', () => {
      const p = primaryAlone();
      watch(p, 1, '*');
      effects(p);
      op(p, 'get', 'k');
      op(p, 'delete', 'missing');
      op(p, 'put', 'k', 'x'.repeat(1024 * 1024 + 1));
      expect(pushes(effects(p))).to.deep.equal([]);
      const s = op(p, 'put', 'k', 'v');
      p.step({ kind: 'clientOp', conn: WRITER, req: { type: 'req', client: 'c', seq: s, ack: 1, op: 'put', key: 'k', value: 'v' } });
      expect(pushes(effects(p))).to.deep.equal([[W, { type: 'event', id: 1, key: 'k', value: 'v', rev: 1 }]]);
    });
  });

  describe('committed writes only (SPEC §1)', () => {
    it('sends a write\'s event only after the backup\'s fwdack covers it, in log order', () => {
      const p = primaryWithBackup();
      watch(p, 1, 'k');
      expect(effects(p)).to.deep.equal([]);
      p.step({ kind: 'flush' });
      expect(effects(p)).to.deep.equal([{
        kind: 'toBackup',
        msg: { type: 'fwd', viewnum: 2, index: 1, ops: [{ type: 'req', client: WATCH_CLIENT, seq: 0, ack: 0, op: 'get', key: '' }] },
      }]);
      p.step({ kind: 'fromBackup', msg: { type: 'fwdack', viewnum: 2, index: 1 } });
      expect(effects(p)).to.deep.equal([{ kind: 'push', conn: W, msg: { type: 'synced', id: 1, rev: 0 } }]);
      op(p, 'put', 'k', 'a');
      op(p, 'put', 'k', 'b');
      p.step({ kind: 'flush' });
      effects(p);
      expect(pushes(effects(p))).to.deep.equal([]);
      p.step({ kind: 'fromBackup', msg: { type: 'fwdack', viewnum: 2, index: 2 } });
      expect(effects(p)).to.deep.equal([
        { kind: 'reply', conn: WRITER, msg: { type: 'res', seq: 1, ok: true, value: null, rev: 1 } },
        { kind: 'push', conn: W, msg: { type: 'event', id: 1, key: 'k', value: 'a', rev: 1 } },
      ]);
      p.step({ kind: 'fromBackup', msg: { type: 'fwdack', viewnum: 2, index: 3 } });
      expect(pushes(effects(p))).to.deep.equal([[W, { type: 'event', id: 1, key: 'k', value: 'b', rev: 2 }]]);
    });

    it('orders a registration like a read: a write ordered before it is replayed (with from), one after it is live', () => {
      const p = primaryWithBackup();
      op(p, 'put', 'k', 'before');
      watch(p, 1, 'k', 0);
      op(p, 'put', 'k', 'after');
      expect(pushes(commitAll(p))).to.deep.equal([
        [W, { type: 'event', id: 1, key: 'k', value: 'before', rev: 1 }],
        [W, { type: 'synced', id: 1, rev: 1 }],
        [W, { type: 'event', id: 1, key: 'k', value: 'after', rev: 2 }],
      ]);
    });

    it('without from, starts with the writes ordered after the registration', () => {
      const p = primaryWithBackup();
      op(p, 'put', 'k', 'before');
      watch(p, 1, 'k');
      op(p, 'put', 'k', 'after');
      expect(pushes(commitAll(p))).to.deep.equal([
        [W, { type: 'synced', id: 1, rev: 1 }],
        [W, { type: 'event', id: 1, key: 'k', value: 'after', rev: 2 }],
      ]);
    });
  });

  describe('a deposed primary', () => {
    it('sends nothing for uncommitted writes or registrations, and ends its watches NOT_PRIMARY', () => {
      const p = primaryWithBackup();
      watch(p, 1, 'k*');
      commitAll(p);
      watch(p, 2, 'k', 0);
      op(p, 'put', 'k', 'never committed');
      p.step({ kind: 'flush' });
      effects(p);
      const v3 = makeView(3, B, null);
      p.step({ kind: 'fromBackup', msg: { type: 'reject', view: v3, reason: 'B is the primary of view 3' } });
      expect(effects(p)).to.deep.equal([
        { kind: 'reply', conn: WRITER, msg: { type: 'res', seq: 1, ok: false, code: 'NOT_PRIMARY', message: 'not the primary of view 3 (its primary is ws://b)', view: v3 } },
        { kind: 'push', conn: W, msg: { type: 'error', code: 'NOT_PRIMARY', id: 1, view: v3, message: 'watch 1: not the primary of view 3 (its primary is ws://b)' } },
        { kind: 'push', conn: W, msg: { type: 'error', code: 'NOT_PRIMARY', id: 2, view: v3, message: 'watch 2: not the primary of view 3 (its primary is ws://b)' } },
      ]);
      expect(p.watchCount()).to.equal(0);
    });

    it('a backup or idle replica refuses a watch NOT_PRIMARY with its view', () => {
      const m = machine(B);
      const v = makeView(2, A, B);
      setView(m, v);
      watch(m, 4, 'k');
      expect(effects(m)).to.deep.equal([
        { kind: 'push', conn: W, msg: { type: 'error', code: 'NOT_PRIMARY', id: 4, view: v, message: 'watch 4: not the primary of view 2 (its primary is ws://a)' } },
      ]);
    });
  });

  describe('replay and resync', () => {
    it('replays from the history only the matching writes after from, then synced', () => {
      const p = primaryAlone();
      op(p, 'put', 'user:1', 'a');
      op(p, 'put', 'other', 'x');
      op(p, 'put', 'user:2', 'b');
      op(p, 'delete', 'user:1');
      effects(p);
      watch(p, 7, 'user:*', 1);
      expect(pushes(effects(p))).to.deep.equal([
        [W, { type: 'event', id: 7, key: 'user:2', value: 'b', rev: 3 }],
        [W, { type: 'event', id: 7, key: 'user:1', value: null, rev: 4 }],
        [W, { type: 'synced', id: 7, rev: 4 }],
      ]);
    });

    it('replays nothing when from is at or beyond the current revision', () => {
      const p = primaryAlone();
      op(p, 'put', 'k', 'a');
      effects(p);
      watch(p, 1, 'k', 1);
      watch(p, 2, 'k', 99);
      expect(pushes(effects(p))).to.deep.equal([[W, { type: 'synced', id: 1, rev: 1 }], [W, { type: 'synced', id: 2, rev: 1 }]]);
    });

    it('resyncs the current values (marked resync, at the current revision) when the history no longer reaches back', () => {
      const p = primaryAlone({ history: { maxEvents: 2, maxBytes: 1 << 20 } });
      op(p, 'put', 'a:1', 'x');
      op(p, 'put', 'a:2', 'y');
      op(p, 'put', 'b', 'z');
      op(p, 'put', 'a:1', 'w');
      effects(p);
      expect(p.store.history.base).to.equal(2);
      watch(p, 1, 'a:*', 1);
      watch(p, 2, 'gone', 1);
      watch(p, 3, 'a:*', 2); // the history reaches 2: a replay, no resync
      expect(pushes(effects(p))).to.deep.equal([
        [W, { type: 'event', id: 1, key: 'a:1', value: 'w', rev: 4, resync: true }],
        [W, { type: 'event', id: 1, key: 'a:2', value: 'y', rev: 4, resync: true }],
        [W, { type: 'synced', id: 1, rev: 4 }],
        [W, { type: 'event', id: 2, key: 'gone', value: null, rev: 4, resync: true }],
        [W, { type: 'synced', id: 2, rev: 4 }],
        [W, { type: 'event', id: 3, key: 'a:1', value: 'w', rev: 4 }],
        [W, { type: 'synced', id: 3, rev: 4 }],
      ]);
    });
  });

  describe('patterns and registrations', () => {
    it('matches an exact key exactly and "prefix*" by prefix ("*" is every key)', () => {
      const p = primaryAlone();
      watch(p, 1, 'k');
      watch(p, 2, 'k*');
      watch(p, 3, '*');
      effects(p);
      op(p, 'put', 'k', '1');
      op(p, 'put', 'kx', '2');
      op(p, 'put', 'xk', '3');
      expect(pushes(effects(p)).map((x) => { const [, m] = x as [number, { id: number; key: string }]; return `${m.id}:${m.key}`; })).to.deep.equal([
        '1:k', '2:k', '3:k', '2:kx', '3:kx', '3:xk',
      ]);
    });

    it('stops on unwatch and when the connection closes; other connections keep theirs', () => {
      const p = primaryAlone();
      watch(p, 1, 'k', undefined, 5);
      watch(p, 2, 'k', undefined, 5);
      watch(p, 1, 'k', undefined, 6);
      effects(p);
      p.step({ kind: 'unwatch', conn: 5, msg: { type: 'unwatch', id: 1 } });
      op(p, 'put', 'k', 'a');
      expect(pushes(effects(p)).map((x) => (x as number[])[0])).to.deep.equal([5, 6]);
      p.step({ kind: 'connClosed', conn: 5 });
      op(p, 'put', 'k', 'b');
      expect(pushes(effects(p))).to.deep.equal([[6, { type: 'event', id: 1, key: 'k', value: 'b', rev: 2 }]]);
      expect(p.watchCount()).to.equal(1);
    });

    it('a registration with the same id replaces the first; a replaced pending registration never starts', () => {
      const p = primaryWithBackup();
      watch(p, 1, 'a');
      watch(p, 1, 'b');
      op(p, 'put', 'a', '1');
      op(p, 'put', 'b', '2');
      expect(pushes(commitAll(p))).to.deep.equal([
        [W, { type: 'synced', id: 1, rev: 0 }],
        [W, { type: 'event', id: 1, key: 'b', value: '2', rev: 2 }],
      ]);
    });

    it('an unwatch before the registration is committed means it never starts', () => {
      const p = primaryWithBackup();
      watch(p, 1, 'k');
      p.step({ kind: 'unwatch', conn: W, msg: { type: 'unwatch', id: 1 } });
      op(p, 'put', 'k', 'v');
      expect(pushes(commitAll(p))).to.deep.equal([]);
    });

    it('refuses more than maxWatchesPerConn watches on one connection with TOO_LARGE', () => {
      const p = primaryAlone({ maxWatchesPerConn: 2 });
      watch(p, 1, 'a');
      watch(p, 2, 'b');
      watch(p, 2, 'c'); // a replacement, not a third
      effects(p);
      watch(p, 3, 'd');
      expect(effects(p)).to.deep.equal([{
        kind: 'push', conn: W,
        msg: { type: 'error', code: 'TOO_LARGE', id: 3, message: 'too many watches on one connection: the limit is 2; stop (unwatch) some first' },
      }]);
      watch(p, 3, 'd', undefined, 6); // another connection has its own budget
      expect(pushes(effects(p))).to.have.length(1);
    });
  });

  describe('the backup', () => {
    it('records the same history from forwarded ops, the registration slots included', () => {
      const p = primaryWithBackup();
      const b = machine(B);
      const v = makeView(2, A, B);
      setView(b, v);
      const peer: PeerIdentity = { id: A, incarnation: INC[A] };
      b.step({ kind: 'fromPrimary', link: 1, peer, msg: { type: 'xfer-begin', view: v, holders: holders(v), index: 0, revision: 0 } });
      b.step({ kind: 'fromPrimary', link: 1, peer, msg: { type: 'xfer-end', viewnum: 2 } });
      effects(b);
      op(p, 'put', 'k', 'a');
      watch(p, 1, 'k', 0);
      op(p, 'append', 'k', 'b');
      op(p, 'delete', 'k');
      p.step({ kind: 'flush' });
      for (const e of effects(p)) if (e.kind === 'toBackup') b.step({ kind: 'fromPrimary', link: 1, peer, msg: e.msg });
      expect(effects(b)).to.deep.equal([{ kind: 'toPrimary', link: 1, msg: { type: 'fwdack', viewnum: 2, index: 4 } }]);
      expect(b.store.index).to.equal(p.store.index);
      expect([...b.store.history.since(0)]).to.deep.equal([...p.store.history.since(0)]);
    });
  });
});
