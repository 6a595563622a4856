/**
 * The client's request table (client/core/requests.ts): pure, no sockets, no timers.
 * Inputs in, effects out — the way raft_paper_test.go reads (STYLE §1/§12).
 */
import { expect } from 'chai';
import { Requests, RequestEffect } from '../../client/core/requests';
import { UnderstudyError } from '../../common/errors';
import type { OpResult, ReqMsg, ResMsg } from '../../common/messages';
import { makeView } from '../../common/view';

const A = 'ws://a';
const B = 'ws://b';
const C = 'ws://c';

const sends = (effects: RequestEffect[]): ReqMsg[] =>
  effects.filter((e): e is RequestEffect & { kind: 'send' } => e.kind === 'send').map((e) => e.req);
const sentSeqs = (effects: RequestEffect[]): number[] => sends(effects).map((r) => r.seq);
const ok = (seq: number, value: OpResult): ResMsg => ({ type: 'res', seq, ok: true, value });
const notPrimary = (seq: number, view?: ReturnType<typeof makeView>): ResMsg =>
  ({ type: 'res', seq, ok: false, code: 'NOT_PRIMARY', message: 'not the primary', ...(view ? { view } : {}) });

function issued(r: Requests, ...ops: [string, string, string?][]): number[] {
  return ops.map(([op, key, value]) => {
    const seq = r.issue(op as 'get', key, value);
    if (seq instanceof UnderstudyError) throw seq;
    return seq;
  });
}

/** A table whose primary A (view 1) is linked, effects drained. */
function linked(clientId = 'c1'): Requests {
  const r = new Requests(clientId);
  r.learnView(makeView(1, A, null));
  r.linkOpened();
  r.takeEffects();
  return r;
}

describe('client/core/requests', () => {
  describe('#issue', () => {
    it('allocates seqs 1, 2, 3, … in call order', () => {
      const r = linked();
      expect(issued(r, ['put', 'a', '1'], ['get', 'a'], ['delete', 'a'])).to.deep.equal([1, 2, 3]);
    });

    it('sends at once when the primary link is open, with client, seq, ack, op, key, value', () => {
      const r = linked('me');
      issued(r, ['append', 'k', 'x']);
      expect(r.takeEffects()).to.deep.equal([
        { kind: 'send', req: { type: 'req', client: 'me', seq: 1, ack: 1, op: 'append', key: 'k', value: 'x' } },
      ]);
    });

    it('sends no value for get and delete', () => {
      const r = linked();
      issued(r, ['get', 'k', 'ignored'], ['delete', 'k', 'ignored']);
      for (const req of sends(r.takeEffects())) expect(req).to.not.have.property('value');
    });

    it('buffers operations while there is no primary (SPEC §7)', () => {
      const r = new Requests('c1');
      issued(r, ['put', 'a', '1'], ['put', 'b', '2']);
      expect(r.takeEffects()).to.deep.equal([]);
      expect(r.pendingSeqs()).to.deep.equal([1, 2]);
    });

    it('buffers operations while the primary link is not open yet', () => {
      const r = new Requests('c1');
      r.learnView(makeView(1, A, null));
      r.takeEffects();
      issued(r, ['put', 'a', '1']);
      expect(r.takeEffects()).to.deep.equal([]);
    });

    it('returns CLOSED after close(), uses no seq and queues nothing', () => {
      const r = linked();
      r.close();
      r.takeEffects();
      const res = r.issue('get', 'k');
      expect(res).to.be.instanceOf(UnderstudyError);
      expect((res as UnderstudyError).code).to.equal('CLOSED');
      expect(r.takeEffects()).to.deep.equal([]);
      expect(r.pendingSeqs()).to.deep.equal([]);
    });
  });

  describe('#ack', () => {
    it('is the next seq when nothing is pending', () => {
      const r = linked();
      expect(r.ack).to.equal(1);
      issued(r, ['get', 'a']);
      r.reply(ok(1, null));
      expect(r.ack).to.equal(2);
    });

    it('is the lowest pending seq, also when later seqs settle first', () => {
      const r = linked();
      issued(r, ['get', 'a'], ['get', 'b'], ['get', 'c']);
      r.reply(ok(2, null));
      expect(r.ack).to.equal(1);
      r.reply(ok(1, null));
      expect(r.ack).to.equal(3);
      r.reply(ok(3, null));
      expect(r.ack).to.equal(4);
    });

    it('moves past an op that timed out or was aborted', () => {
      const r = linked();
      issued(r, ['put', 'a', '1'], ['put', 'b', '2'], ['put', 'c', '3']);
      r.timedOut(1, 100);
      expect(r.ack).to.equal(2);
      r.aborted(2);
      expect(r.ack).to.equal(3);
    });

    it('each send carries the ack current at send time', () => {
      const r = linked();
      issued(r, ['put', 'a', '1'], ['put', 'b', '2']);
      r.takeEffects();
      r.reply(ok(1, null));
      r.resend(2);
      issued(r, ['get', 'a']);
      expect(sends(r.takeEffects()).map((q) => [q.seq, q.ack])).to.deep.equal([[2, 2], [3, 2]]);
    });
  });

  describe('#learnView', () => {
    it('adopts a newer view: publishes it and points the link at its primary', () => {
      const r = new Requests('c1');
      const v1 = makeView(1, A, null);
      expect(r.learnView(v1)).to.equal(true);
      expect(r.view).to.deep.equal(v1);
      expect(Object.isFrozen(r.view)).to.equal(true);
      expect(r.takeEffects()).to.deep.equal([{ kind: 'view', view: v1 }, { kind: 'primary', primary: A }]);
    });

    it('ignores a view that is not newer (same or lower viewnum)', () => {
      const r = linked();
      r.learnView(makeView(3, B, null));
      r.takeEffects();
      expect(r.learnView(makeView(3, C, null))).to.equal(false);
      expect(r.learnView(makeView(2, A, B))).to.equal(false);
      expect(r.view.primary).to.equal(B);
      expect(r.takeEffects()).to.deep.equal([]);
    });

    it('keeps the link when only the backup changed', () => {
      const r = linked();
      const v2 = makeView(2, A, B);
      r.learnView(v2);
      expect(r.takeEffects()).to.deep.equal([{ kind: 'view', view: v2 }]);
      expect(r.linkOpen).to.equal(true);
    });

    it('on a new primary, buffers until the new link opens, then resends every pending op unchanged (STYLE §9)', () => {
      const r = linked();
      issued(r, ['put', 'a', '1'], ['append', 'b', 'x']);
      const first = sends(r.takeEffects());
      r.learnView(makeView(2, B, null));
      expect(r.takeEffects().map((e) => e.kind)).to.deep.equal(['view', 'primary']);
      expect(r.linkOpen).to.equal(false);
      issued(r, ['get', 'a']);
      r.resend(1);
      expect(r.takeEffects()).to.deep.equal([]);
      r.linkOpened();
      const again = sends(r.takeEffects());
      expect(again.map((q) => q.seq)).to.deep.equal([1, 2, 3]);
      expect(again.slice(0, 2)).to.deep.equal(first);
    });

    it('points the link nowhere when the new view has no primary', () => {
      const r = linked();
      r.learnView(makeView(2, null, null));
      expect(r.takeEffects()).to.deep.include({ kind: 'primary', primary: null });
      r.linkOpened();
      expect(r.linkOpen).to.equal(false);
    });
  });

  describe('#linkOpened / #linkClosed', () => {
    it('sends every pending op in seq order when the link opens', () => {
      const r = new Requests('c1');
      issued(r, ['put', 'a', '1'], ['get', 'a'], ['delete', 'a']);
      r.learnView(makeView(1, A, null));
      r.linkOpened();
      expect(sentSeqs(r.takeEffects())).to.deep.equal([1, 2, 3]);
    });

    it('does nothing on open while there is no primary', () => {
      const r = new Requests('c1');
      issued(r, ['get', 'a']);
      r.linkOpened();
      expect(r.takeEffects()).to.deep.equal([]);
      expect(r.linkOpen).to.equal(false);
    });

    it('after a drop without a view change: buffers, fails nothing, and resends all on reopen', () => {
      const r = linked();
      issued(r, ['put', 'a', '1'], ['put', 'b', '2']);
      r.reply(ok(1, null));
      r.takeEffects();
      r.linkClosed();
      issued(r, ['put', 'c', '3']);
      expect(r.takeEffects()).to.deep.equal([]);
      r.linkOpened();
      const again = sends(r.takeEffects());
      expect(again).to.deep.equal([
        { type: 'req', client: 'c1', seq: 2, ack: 2, op: 'put', key: 'b', value: '2' },
        { type: 'req', client: 'c1', seq: 3, ack: 2, op: 'put', key: 'c', value: '3' },
      ]);
    });
  });

  describe('#reply', () => {
    it('resolves an op with the result value', () => {
      const r = linked();
      issued(r, ['append', 'k', 'abc']);
      r.takeEffects();
      r.reply(ok(1, 3));
      expect(r.takeEffects()).to.deep.equal([{ kind: 'resolve', seq: 1, value: 3 }]);
      expect(r.pendingSeqs()).to.deep.equal([]);
    });

    it('settles exactly once: a duplicate reply (from a resend) is ignored', () => {
      const r = linked();
      issued(r, ['put', 'k', 'v']);
      r.resend(1);
      r.takeEffects();
      r.reply(ok(1, null));
      r.reply(ok(1, null));
      r.reply(notPrimary(1));
      expect(r.takeEffects()).to.deep.equal([{ kind: 'resolve', seq: 1, value: null }]);
    });

    it('ignores replies for seqs it never issued', () => {
      const r = linked();
      r.reply(ok(7, 'x'));
      r.reply({ type: 'res', seq: 0, ok: false, code: 'BAD_REQUEST', message: 'no' });
      expect(r.takeEffects()).to.deep.equal([]);
    });

    it('rejects with the reply code for BAD_REQUEST, TOO_LARGE and UNAUTHORIZED, quoting the server', () => {
      const r = linked();
      issued(r, ['put', 'a', '1'], ['put', 'b', '2'], ['put', 'c', '3']);
      r.takeEffects();
      r.reply({ type: 'res', seq: 1, ok: false, code: 'BAD_REQUEST', message: 'req.op is odd' });
      r.reply({ type: 'res', seq: 2, ok: false, code: 'TOO_LARGE', message: 'value is 2 MiB' });
      r.reply({ type: 'res', seq: 3, ok: false, code: 'UNAUTHORIZED', message: 'token' });
      const fx = r.takeEffects() as (RequestEffect & { kind: 'reject' })[];
      expect(fx.map((e) => [e.kind, e.seq, e.error.code])).to.deep.equal([
        ['reject', 1, 'BAD_REQUEST'], ['reject', 2, 'TOO_LARGE'], ['reject', 3, 'UNAUTHORIZED'],
      ]);
      expect(fx[1].error.message).to.contain('value is 2 MiB');
      expect(fx[1].error.message).to.contain('put "b" (seq 2)');
    });

    describe('NOT_PRIMARY', () => {
      it('with a newer view: adopts it, switches primary, keeps the op and resends it when the new link opens', () => {
        const r = linked();
        issued(r, ['put', 'k', 'v']);
        r.takeEffects();
        const v2 = makeView(2, B, null);
        r.reply(notPrimary(1, v2));
        expect(r.view).to.deep.equal(v2);
        expect(r.takeEffects()).to.deep.equal([{ kind: 'view', view: v2 }, { kind: 'primary', primary: B }]);
        expect(r.pendingSeqs()).to.deep.equal([1]);
        r.linkOpened();
        expect(sends(r.takeEffects())).to.deep.equal([{ type: 'req', client: 'c1', seq: 1, ack: 1, op: 'put', key: 'k', value: 'v' }]);
      });

      it('with a view that is not newer: keeps the op and asks for a retry with a growing attempt', () => {
        const r = linked();
        issued(r, ['get', 'k']);
        r.takeEffects();
        r.reply(notPrimary(1, makeView(1, A, null)));
        r.reply(notPrimary(1, makeView(0, null, null)));
        r.reply(notPrimary(1));
        expect(r.takeEffects()).to.deep.equal([
          { kind: 'retry', seq: 1, attempt: 0 },
          { kind: 'retry', seq: 1, attempt: 1 },
          { kind: 'retry', seq: 1, attempt: 2 },
        ]);
        expect(r.view.viewnum).to.equal(1);
        r.resend(1);
        expect(sentSeqs(r.takeEffects())).to.deep.equal([1]);
      });

      it('with a newer view naming the same primary: adopts the view and retries', () => {
        const r = linked();
        issued(r, ['get', 'k']);
        r.takeEffects();
        const v2 = makeView(2, A, C);
        r.reply(notPrimary(1, v2));
        expect(r.takeEffects()).to.deep.equal([{ kind: 'view', view: v2 }, { kind: 'retry', seq: 1, attempt: 0 }]);
        expect(r.linkOpen).to.equal(true);
      });

      it('a stale NOT_PRIMARY from the old primary after a switch does not switch back', () => {
        const r = linked();
        issued(r, ['get', 'k']);
        r.learnView(makeView(3, B, null));
        r.linkOpened();
        r.takeEffects();
        r.reply(notPrimary(1, makeView(1, A, null)));
        expect(r.view.primary).to.equal(B);
        expect(r.takeEffects()).to.deep.equal([{ kind: 'retry', seq: 1, attempt: 0 }]);
      });
    });
  });

  describe('#resend', () => {
    it('sends the same op again on the open link (an attempt timed out)', () => {
      const r = linked();
      issued(r, ['append', 'k', 'x']);
      const [first] = sends(r.takeEffects());
      r.resend(1);
      expect(sends(r.takeEffects())).to.deep.equal([first]);
    });

    it('does nothing while the link is down, or for a settled op', () => {
      const r = linked();
      issued(r, ['get', 'a'], ['get', 'b']);
      r.reply(ok(1, null));
      r.takeEffects();
      r.resend(1);
      r.linkClosed();
      r.resend(2);
      expect(r.takeEffects()).to.deep.equal([]);
    });
  });

  describe('#timedOut', () => {
    it('rejects TIMEOUT ("outcome unknown") and ignores a late reply', () => {
      const r = linked();
      issued(r, ['put', 'k', 'v']);
      r.takeEffects();
      r.timedOut(1, 250);
      const [e] = r.takeEffects() as (RequestEffect & { kind: 'reject' })[];
      expect(e.kind).to.equal('reject');
      expect(e.error.code).to.equal('TIMEOUT');
      expect(e.error.message).to.contain('250 ms').and.contain('outcome is unknown');
      r.reply(ok(1, null));
      r.timedOut(1, 250);
      expect(r.takeEffects()).to.deep.equal([]);
    });

    it('says when no primary is known', () => {
      const r = new Requests('c1');
      issued(r, ['get', 'k']);
      r.timedOut(1, 10);
      const [e] = r.takeEffects() as (RequestEffect & { kind: 'reject' })[];
      expect(e.error.message).to.contain('no primary is known');
    });
  });

  describe('#aborted', () => {
    it('rejects ABORTED, says a sent op may still take effect, and keeps the reason as cause', () => {
      const r = linked();
      issued(r, ['put', 'k', 'v']);
      r.takeEffects();
      const reason = new Error('user');
      r.aborted(1, reason);
      r.aborted(1, reason);
      const fx = r.takeEffects() as (RequestEffect & { kind: 'reject' })[];
      expect(fx).to.have.length(1);
      expect(fx[0].error.code).to.equal('ABORTED');
      expect(fx[0].error.message).to.contain('may still take effect');
      expect((fx[0].error as { cause?: unknown }).cause).to.equal(reason);
    });
  });

  describe('#unauthorized', () => {
    it('rejects every pending op and new ones with UNAUTHORIZED until another primary is named', () => {
      const r = linked();
      issued(r, ['get', 'a'], ['get', 'b']);
      r.takeEffects();
      r.unauthorized('refused (4401)');
      const fx = r.takeEffects() as (RequestEffect & { kind: 'reject' })[];
      expect(fx.map((e) => [e.seq, e.error.code])).to.deep.equal([[1, 'UNAUTHORIZED'], [2, 'UNAUTHORIZED']]);
      const refused = r.issue('get', 'c');
      expect((refused as UnderstudyError).code).to.equal('UNAUTHORIZED');
      r.learnView(makeView(2, B, null));
      expect(r.issue('get', 'c')).to.equal(3);
    });
  });

  describe('#close', () => {
    it('rejects every pending op with CLOSED, once, and ignores later inputs', () => {
      const r = linked();
      issued(r, ['put', 'a', '1'], ['get', 'a']);
      r.takeEffects();
      r.close();
      r.close();
      const fx = r.takeEffects() as (RequestEffect & { kind: 'reject' })[];
      expect(fx.map((e) => [e.seq, e.error.code])).to.deep.equal([[1, 'CLOSED'], [2, 'CLOSED']]);
      r.reply(ok(1, null));
      r.learnView(makeView(9, B, null));
      r.linkOpened();
      r.timedOut(2, 1);
      expect(r.takeEffects()).to.deep.equal([]);
      expect(r.view.viewnum).to.equal(1);
    });
  });

  describe('exactly one settle per op', () => {
    /** A small seeded PRNG (mulberry32), so a failure replays. */
    function prng(seed: number): () => number {
      return () => {
        seed = (seed + 0x6d2b79f5) | 0;
        let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
        t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
      };
    }

    for (const seed of [1, 2, 3, 42, 1234]) {
      it(`holds under a random mix of replies, drops, views, resends, timeouts, aborts (seed ${seed})`, () => {
        const rand = prng(seed);
        const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];
        const r = new Requests('c1');
        const settled = new Map<number, number>();
        let issuedCount = 0;
        let viewnum = 0;
        const check = (): void => {
          for (const e of r.takeEffects()) {
            if (e.kind === 'resolve' || e.kind === 'reject') settled.set(e.seq, (settled.get(e.seq) ?? 0) + 1);
            if (e.kind === 'send') expect(e.req.ack).to.be.at.most(e.req.seq);
          }
          const pending = r.pendingSeqs();
          expect(r.ack).to.equal(pending.length ? pending[0] : issuedCount + 1);
        };
        for (let step = 0; step < 1000; step++) {
          const anySeq = (): number => 1 + Math.floor(rand() * Math.max(1, issuedCount));
          switch (Math.floor(rand() * 10)) {
            case 0: case 1: { const s = r.issue('put', 'k', 'v'); if (typeof s === 'number') issuedCount = s; break; }
            case 2: r.reply(ok(anySeq(), null)); break;
            case 3: r.reply(notPrimary(anySeq(), rand() < 0.5 ? makeView(viewnum + 1, pick([A, B, C]), null) : undefined)); break;
            case 4: if (rand() < 0.3) r.linkClosed(); else r.linkOpened(); break;
            case 5: viewnum += 1; r.learnView(makeView(viewnum, pick([A, B, C, null]), null)); viewnum = r.view.viewnum; break;
            case 6: r.resend(anySeq()); break;
            case 7: r.timedOut(anySeq(), 5); break;
            case 8: r.aborted(anySeq()); break;
            case 9: r.reply({ type: 'res', seq: anySeq(), ok: false, code: 'BAD_REQUEST', message: 'x' }); break;
          }
          viewnum = r.view.viewnum;
          check();
        }
        r.close();
        check();
        expect(r.pendingSeqs()).to.deep.equal([]);
        expect(settled.size).to.equal(issuedCount);
        for (const [, n] of settled) expect(n).to.equal(1);
      });
    }
  });
});
