/**
 * client/core/retry.ts: the one NOT_PRIMARY rule (SPEC §1/§7), applied to an operation (inside
 * Requests.reply) and to a watch (by the shell, to the Watches 'retry' effect) alike. Pure:
 * the tables, the rule and the deadlines are driven by hand on a manual clock, the way
 * client/session.ts drives them.
 */
import { expect } from 'chai';
import { retryAfterNotPrimary, retryDelay } from '../../client/core/retry';
import { Requests, RequestEffect } from '../../client/core/requests';
import { Watches, WatchEffect } from '../../client/core/watches';
import { Deadlines } from '../../client/core/deadlines';
import { DEFAULT_BACKOFF } from '../../common/backoff';
import { makeView, View } from '../../common/view';
import type { ResMsg } from '../../common/messages';

const A = 'ws://a';
const B = 'ws://b';
const V1 = makeView(1, A, null);

/** A request table on view 1 (primary A) with its link open, effects drained. */
function onA(): Requests {
  const r = new Requests('c1');
  r.learnView(V1);
  r.linkOpened();
  r.takeEffects();
  return r;
}

const notPrimary = (seq: number, view?: View): ResMsg =>
  ({ type: 'res', seq, ok: false, code: 'NOT_PRIMARY', message: 'not the primary', ...(view ? { view } : {}) });

/** The cases of the rule: the view a refusal carries → retry here, and the primary after it. */
const CASES: [string, View | undefined, boolean, string | null][] = [
  ['no view', undefined, true, A],
  ['a view that is not newer', makeView(1, B, null), true, A],
  ['an older view naming another primary', makeView(0, B, null), true, A],
  ['a newer view naming the same primary', makeView(2, A, B), true, A],
  ['a newer view naming another primary', makeView(2, B, null), false, B],
  ['a newer view naming no primary', makeView(2, null, null), false, null],
];

describe('client/core/retry: one NOT_PRIMARY rule for operations and watches (SPEC §7)', () => {
  describe('retryAfterNotPrimary', () => {
    for (const [what, view, retry, primary] of CASES) {
      it(`${what}: ${retry ? 'retry on this primary after a backoff' : 'move to the new primary, whose link resends'}`, () => {
        const r = onA();
        expect(retryAfterNotPrimary(r, view)).to.equal(retry);
        expect(r.view.primary).to.equal(primary);
        const kinds = r.takeEffects().map((e) => e.kind);
        expect(kinds).to.deep.equal(view && view.viewnum > 1 ? (primary === A ? ['view'] : ['view', 'primary']) : []);
      });
    }
  });

  describe('the same decision for a request and for a watch', () => {
    for (const [what, view, retry] of CASES) {
      it(`${what}: the request ${retry ? 'and the watch both retry' : 'and the watch both wait for the new link'}`, () => {
        // The request: Requests.reply applies the rule itself.
        const r = onA();
        const seq = r.issue('put', 'k', 'v') as number;
        r.takeEffects();
        r.reply(notPrimary(seq, view));
        const requestRetries = r.takeEffects().filter((e) => e.kind === 'retry');
        expect(requestRetries).to.deep.equal(retry ? [{ kind: 'retry', seq, attempt: 0 }] : []);

        // The watch: Watches asks for a retry; the shell applies the same rule to the view owner.
        const owner = onA();
        const w = new Watches();
        w.linkOpened();
        const id = w.add('k') as number;
        w.takeEffects();
        w.error({ type: 'error', id, code: 'NOT_PRIMARY', message: 'not the primary', ...(view ? { view } : {}) });
        const [effect] = w.takeEffects() as (WatchEffect & { kind: 'retry' })[];
        expect(effect).to.deep.include({ kind: 'retry', id, attempt: 0 });
        expect(retryAfterNotPrimary(owner, effect.view)).to.equal(retry);
        expect(owner.view).to.deep.equal(r.view);
      });
    }
  });

  it('a retried request is sent again after the backoff with the same (clientId, seq) (SPEC §1)', () => {
    const r = onA();
    const d = new Deadlines(5000, 1000);
    const seq = r.issue('append', 'k', 'x') as number;
    const [first] = r.takeEffects() as (RequestEffect & { kind: 'send' })[];
    d.attempt(seq, 0);
    r.reply(notPrimary(seq));
    const [retry] = r.takeEffects() as (RequestEffect & { kind: 'retry' })[];
    const delay = retryDelay(retry.attempt, DEFAULT_BACKOFF, () => 0);
    expect(delay).to.equal(DEFAULT_BACKOFF.minMs);
    d.retry(seq, delay, 10);
    expect(d.next()).to.equal(10 + delay); // the retry replaced the attempt timer at 1000
    for (const s of d.expire(10 + delay).resend) r.resend(s);
    expect(r.takeEffects()).to.deep.equal([{ kind: 'send', req: first.req }]);
  });

  it('a retried watch registers again after the backoff, from its last revision', () => {
    const w = new Watches();
    const d = new Deadlines(5000, 1000);
    w.linkOpened();
    const id = w.add('k', 4) as number;
    w.event({ type: 'event', id, key: 'k', value: 'v', rev: 9 });
    w.takeEffects();
    w.error({ type: 'error', id, code: 'NOT_PRIMARY', message: 'not the primary' });
    const [retry] = w.takeEffects() as (WatchEffect & { kind: 'retry' })[];
    d.retryWatch(id, retryDelay(retry.attempt, DEFAULT_BACKOFF, () => 0), 0);
    for (const x of d.expire(DEFAULT_BACKOFF.minMs).resendWatches) w.resend(x);
    expect(w.takeEffects()).to.deep.equal([{ kind: 'send', msg: { type: 'watch', id, pattern: 'k', from: 9 } }]);
  });

  it('the backoff grows with each refusal, for both: retryDelay follows common/backoff.ts', () => {
    const noJitter = (): number => 0;
    expect([0, 1, 2, 3, 10].map((n) => retryDelay(n, DEFAULT_BACKOFF, noJitter))).to.deep.equal([50, 100, 200, 400, 2000]);
    const r = onA();
    const seq = r.issue('get', 'k') as number;
    const w = new Watches();
    w.linkOpened();
    const id = w.add('k') as number;
    r.takeEffects();
    w.takeEffects();
    for (let i = 0; i < 3; i++) {
      r.reply(notPrimary(seq));
      w.error({ type: 'error', id, code: 'NOT_PRIMARY', message: 'no' });
    }
    const attempts = (fx: (RequestEffect | WatchEffect)[]): number[] => fx.map((e) => (e as { attempt: number }).attempt);
    expect(attempts(r.takeEffects())).to.deep.equal([0, 1, 2]);
    expect(attempts(w.takeEffects())).to.deep.equal([0, 1, 2]);
  });
});
