/**
 * client/core/watches.ts: the client's watch table (issue #4). Pure: inputs are method calls,
 * effects are asserted exactly. Never delivers twice, delivers in revision order,
 * re-registers on every link from the last revision, and holds a resync batch until its
 * `synced`.
 */
import { expect } from 'chai';
import { Watches, WatchEffect } from '../../client/core/watches';
import type { EventMsg } from '../../common/messages';
import { makeView } from '../../common/view';
import { UnderstudyError } from '../../common/errors';

const ev = (id: number, key: string, value: string | null, rev: number, resync = false): EventMsg =>
  (resync ? { type: 'event', id, key, value, rev, resync: true } : { type: 'event', id, key, value, rev });

/** The delivered events only, as "key=value@rev" (+ "~" for resync). */
function delivered(effects: WatchEffect[]): string[] {
  return effects.filter((e) => e.kind === 'deliver').map((e) => {
    const x = (e as Extract<WatchEffect, { kind: 'deliver' }>).event;
    return `${x.key}=${x.value}@${x.revision}${x.resync ? '~' : ''}`;
  });
}

describe('client/core/watches', () => {
  describe('#add and registration', () => {
    it('buffers a watch until the link opens, then registers it without from (start now)', () => {
      const w = new Watches();
      const id = w.add('k');
      expect(id).to.equal(1);
      expect(w.takeEffects()).to.deep.equal([]);
      w.linkOpened();
      expect(w.takeEffects()).to.deep.equal([{ kind: 'send', msg: { type: 'watch', id: 1, pattern: 'k' } }]);
    });

    it('registers at once on an open link, with fromRevision as from', () => {
      const w = new Watches();
      w.linkOpened();
      w.add('user:*', 40);
      expect(w.takeEffects()).to.deep.equal([{ kind: 'send', msg: { type: 'watch', id: 1, pattern: 'user:*', from: 40 } }]);
    });

    it('registers every watch again on every new link, from the last revision it is complete up to', () => {
      const w = new Watches();
      w.linkOpened();
      const a = w.add('a') as number;
      const b = w.add('b*', 3) as number;
      w.takeEffects();
      w.synced({ type: 'synced', id: a, rev: 10 });
      w.event(ev(b, 'b1', 'x', 12));
      w.linkClosed();
      w.linkOpened();
      expect(w.takeEffects()).to.deep.equal([
        { kind: 'deliver', id: b, event: { key: 'b1', value: 'x', revision: 12 } },
        { kind: 'send', msg: { type: 'watch', id: a, pattern: 'a', from: 10 } },
        { kind: 'send', msg: { type: 'watch', id: b, pattern: 'b*', from: 12 } },
      ]);
    });

    it('refuses bad input with the error to throw, registering nothing', () => {
      const w = new Watches({ maxKeyBytes: 4, maxValueBytes: 10, maxMessageBytes: 100 }, 2);
      expect((w.add('toolong') as UnderstudyError).code).to.equal('TOO_LARGE');
      expect(w.add('abcd*')).to.be.a('number'); // the "*" is not counted
      expect((w.add('k', -1) as UnderstudyError).code).to.equal('BAD_REQUEST');
      expect((w.add('k', 1.5) as UnderstudyError).message).to.contain('fromRevision must be a non-negative integer');
      expect((w.add(5 as unknown as string) as UnderstudyError).code).to.equal('BAD_REQUEST');
      w.add('b');
      expect((w.add('c') as UnderstudyError).message).to.contain('2 watches are open');
      w.close();
      expect((w.add('d') as UnderstudyError).code).to.equal('CLOSED');
    });
  });

  describe('delivery', () => {
    it('delivers in revision order and drops any event at or below the last revision (never twice)', () => {
      const w = new Watches();
      w.linkOpened();
      const id = w.add('k*', 5) as number;
      w.takeEffects();
      w.event(ev(id, 'k1', 'a', 6));
      w.event(ev(id, 'k2', 'b', 8));
      w.synced({ type: 'synced', id, rev: 8 });
      // a failover: the new primary replays from 8, but an overlap must not be delivered again
      w.linkClosed();
      w.linkOpened();
      w.event(ev(id, 'k2', 'b', 8));
      w.event(ev(id, 'k1', null, 9));
      w.event(ev(id, 'k1', null, 9));
      expect(delivered(w.takeEffects())).to.deep.equal(['k1=a@6', 'k2=b@8', 'k1=null@9']);
      expect(w.revisionOf(id)).to.equal(9);
    });

    it('a synced without any event moves the watch\'s revision forward', () => {
      const w = new Watches();
      w.linkOpened();
      const id = w.add('k') as number;
      expect(w.revisionOf(id)).to.equal(null);
      w.synced({ type: 'synced', id, rev: 77 });
      expect(w.revisionOf(id)).to.equal(77);
      w.event(ev(id, 'k', 'old', 77));
      expect(delivered(w.takeEffects())).to.deep.equal([]);
    });

    it('ignores events of a stopped watch, and sends unwatch when it was registered', () => {
      const w = new Watches();
      w.linkOpened();
      const id = w.add('k') as number;
      w.takeEffects();
      w.remove(id);
      w.event(ev(id, 'k', 'v', 1));
      expect(w.takeEffects()).to.deep.equal([{ kind: 'send', msg: { type: 'unwatch', id } }]);
      w.remove(id); // twice: nothing
      expect(w.takeEffects()).to.deep.equal([]);
    });
  });

  describe('resync', () => {
    it('holds a resync batch until synced, then delivers it marked resync, with the deleted keys of a prefix as null', () => {
      const w = new Watches();
      w.linkOpened();
      const id = w.add('u:*', 0) as number;
      w.takeEffects();
      w.event(ev(id, 'u:1', 'a', 1));
      w.event(ev(id, 'u:2', 'b', 2));
      w.event(ev(id, 'u:3', 'c', 3));
      w.takeEffects();
      // long gone: the new primary's history does not reach back to 3
      w.linkClosed();
      w.linkOpened();
      w.takeEffects();
      w.event(ev(id, 'u:1', 'a2', 900, true));
      w.event(ev(id, 'u:3', 'c', 900, true));
      expect(delivered(w.takeEffects())).to.deep.equal([]);
      w.synced({ type: 'synced', id, rev: 900 });
      expect(delivered(w.takeEffects())).to.deep.equal(['u:1=a2@900~', 'u:3=c@900~', 'u:2=null@900~']);
      expect(w.revisionOf(id)).to.equal(900);
      w.event(ev(id, 'u:4', 'd', 901));
      expect(delivered(w.takeEffects())).to.deep.equal(['u:4=d@901']);
    });

    it('drops a resync batch cut by a link drop whole, and resumes from the revision before it', () => {
      const w = new Watches();
      w.linkOpened();
      const id = w.add('k', 10) as number;
      w.takeEffects();
      w.event(ev(id, 'k', 'v', 50, true));
      w.linkClosed();
      w.linkOpened();
      expect(w.takeEffects()).to.deep.equal([{ kind: 'send', msg: { type: 'watch', id, pattern: 'k', from: 10 } }]);
      w.event(ev(id, 'k', 'v', 51, true));
      w.synced({ type: 'synced', id, rev: 51 });
      expect(delivered(w.takeEffects())).to.deep.equal(['k=v@51~']);
    });

    it('an exact-key resync of a missing key delivers null', () => {
      const w = new Watches();
      w.linkOpened();
      const id = w.add('k', 1) as number;
      w.takeEffects();
      w.event(ev(id, 'k', null, 9, true));
      w.synced({ type: 'synced', id, rev: 9 });
      expect(delivered(w.takeEffects())).to.deep.equal(['k=null@9~']);
    });
  });

  describe('#error', () => {
    it('NOT_PRIMARY asks for a retry (with the view), and resend registers again only on an open link', () => {
      const w = new Watches();
      w.linkOpened();
      const id = w.add('k', 4) as number;
      w.takeEffects();
      const view = makeView(5, 'ws://b', null);
      w.error({ type: 'error', code: 'NOT_PRIMARY', message: 'm', id, view });
      w.error({ type: 'error', code: 'NOT_PRIMARY', message: 'm', id });
      expect(w.takeEffects()).to.deep.equal([
        { kind: 'retry', id, attempt: 0, view },
        { kind: 'retry', id, attempt: 1 },
      ]);
      w.linkClosed();
      w.resend(id);
      expect(w.takeEffects()).to.deep.equal([]);
      w.linkOpened();
      w.resend(id); // already registered by linkOpened
      expect(w.takeEffects()).to.deep.equal([{ kind: 'send', msg: { type: 'watch', id, pattern: 'k', from: 4 } }]);
    });

    it('any other code fails the watch for good', () => {
      const w = new Watches();
      w.linkOpened();
      const id = w.add('k') as number;
      w.takeEffects();
      w.error({ type: 'error', code: 'TOO_LARGE', message: 'too many watches', id });
      const [e] = w.takeEffects();
      expect(e).to.deep.include({ kind: 'failed', id });
      expect((e as { error: UnderstudyError }).error.code).to.equal('TOO_LARGE');
      expect(w.size).to.equal(0);
      w.linkClosed();
      w.linkOpened();
      expect(w.takeEffects()).to.deep.equal([]);
    });
  });
});
