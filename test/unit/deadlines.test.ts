/**
 * client/core/deadlines.ts on a manual clock: connect()'s wait, every deadline (TIMEOUT),
 * attempt timer and NOT_PRIMARY retry of the client as a due time, with time as an input. The shell arms one
 * timer for `next()` and passes `expire(now)` to the tables.
 */
import { expect } from 'chai';
import { Deadlines } from '../../client/core/deadlines';
import { Requests } from '../../client/core/requests';
import { makeView } from '../../common/view';

/** Store timeoutMs 300, attemptTimeoutMs 100. */
const make = (): Deadlines => new Deadlines(300, 100);

describe('client/core/deadlines', () => {
  it('nothing waiting: next() is Infinity and expire() returns nothing', () => {
    const d = make();
    expect(d.next()).to.equal(Infinity);
    expect(d.expire(1e9)).to.deep.equal({ timedOut: [], timedOutAfterMs: [], resend: [], resendWatches: [], connectTimedOut: false });
    expect(d.isEmpty).to.equal(true);
  });

  it('connect() fails (UNAVAILABLE) when no view came within timeoutMs, once', () => {
    const d = make();
    expect(d.connecting(0)).to.equal(300);
    expect(d.next()).to.equal(300);
    expect(d.expire(299).connectTimedOut).to.equal(false);
    expect(d.expire(300).connectTimedOut).to.equal(true);
    expect(d.expire(600).connectTimedOut).to.equal(false);
    expect(d.isEmpty).to.equal(true);
  });

  it('connect() stops waiting once the first view arrived', () => {
    const d = make();
    d.connecting(0);
    d.connected();
    expect(d.next()).to.equal(Infinity);
    expect(d.expire(1000).connectTimedOut).to.equal(false);
  });

  it('an op times out exactly timeoutMs after it was issued, not a millisecond before (TIMEOUT, SPEC §7)', () => {
    const d = make();
    expect(d.deadline(1, 300, 1000)).to.equal(1300);
    expect(d.next()).to.equal(1300);
    expect(d.expire(1299.9).timedOut).to.deep.equal([]);
    const due = d.expire(1300);
    expect(due.timedOut).to.deep.equal([1]);
    expect(due.timedOutAfterMs).to.deep.equal([300]);
    expect(d.expire(5000).timedOut).to.deep.equal([]); // once
    expect(d.isEmpty).to.equal(true);
  });

  it('a per-call timeoutMs has its own queue and names its own duration', () => {
    const d = make();
    d.deadline(1, 300, 0);
    d.deadline(2, 50, 0);
    d.deadline(3, 50, 10);
    d.deadline(4, 1000, 0);
    expect(d.next()).to.equal(50);
    expect(d.expire(60)).to.deep.include({ timedOut: [2, 3], timedOutAfterMs: [50, 50] });
    expect(d.next()).to.equal(300);
    expect(d.expire(2000)).to.deep.include({ timedOut: [1, 4], timedOutAfterMs: [300, 1000] });
    expect(d.isEmpty).to.equal(true);
  });

  it('an attempt timer resends attemptTimeoutMs after each send; a re-arm moves it back', () => {
    const d = make();
    d.attempt(1, 0);
    d.attempt(2, 10);
    d.attempt(1, 50); // sent again (a new link): due at 150, after 2's
    expect(d.next()).to.equal(110);
    expect(d.expire(120).resend).to.deep.equal([2]);
    expect(d.next()).to.equal(150);
    expect(d.expire(150).resend).to.deep.equal([1]);
  });

  it('deadlines come out before resends, so a timed-out op is not sent again (applied in order, as the shell does)', () => {
    const d = make();
    const r = new Requests('c1');
    r.learnView(makeView(1, 'ws://a', null));
    r.linkOpened();
    const seq = r.issue('put', 'k', 'v') as number;
    r.takeEffects();
    d.deadline(seq, 300, 0);
    d.attempt(seq, 200);
    const due = d.expire(300);
    expect(due.timedOut).to.deep.equal([seq]);
    expect(due.resend).to.deep.equal([seq]);
    for (let i = 0; i < due.timedOut.length; i++) r.timedOut(due.timedOut[i], due.timedOutAfterMs[i]);
    for (const s of due.resend) r.resend(s);
    const fx = r.takeEffects();
    expect(fx.map((e) => e.kind)).to.deep.equal(['reject']);
    expect((fx[0] as { error: { code: string; message: string } }).error.message).to.contain('within 300 ms');
  });

  it('a NOT_PRIMARY retry replaces the attempt timer, and the next send replaces the retry', () => {
    const d = make();
    d.attempt(1, 0);
    expect(d.retry(1, 30, 5)).to.equal(35);
    expect(d.next()).to.equal(35);
    expect(d.expire(99).resend).to.deep.equal([1]); // the retry, and no attempt at 100
    d.retry(1, 30, 100);
    d.attempt(1, 110); // sent again before the retry was due
    expect(d.next()).to.equal(210);
    expect(d.expire(209).resend).to.deep.equal([]);
  });

  it('retries have jittered delays: all due ones come out whatever the order they were set in', () => {
    const d = make();
    d.retry(1, 80, 0);
    d.retry(2, 20, 0);
    d.retry(3, 500, 0);
    expect(d.next()).to.equal(20);
    expect(d.expire(100).resend.sort()).to.deep.equal([1, 2]);
    expect(d.next()).to.equal(500);
  });

  it('settled() forgets every time of an op, also of a per-call timeoutMs', () => {
    const d = make();
    d.deadline(1, 300, 0);
    d.attempt(1, 0);
    d.deadline(2, 40, 0);
    d.retry(2, 10, 0);
    d.settled(1, 300);
    d.settled(2, 40);
    expect(d.isEmpty).to.equal(true);
    expect(d.next()).to.equal(Infinity);
  });

  it('watch retries come out as watches to register again; a stopped watch is forgotten', () => {
    const d = make();
    d.retryWatch(7, 40, 0);
    d.retryWatch(8, 60, 0);
    d.watchStopped(8);
    expect(d.next()).to.equal(40);
    expect(d.expire(1000)).to.deep.equal({ timedOut: [], timedOutAfterMs: [], resend: [], resendWatches: [7], connectTimedOut: false });
  });

  it('clear() (close) forgets everything', () => {
    const d = make();
    d.connecting(0);
    d.deadline(1, 300, 0);
    d.deadline(2, 9, 0);
    d.attempt(1, 0);
    d.retry(3, 5, 0);
    d.retryWatch(1, 5, 0);
    d.clear();
    expect(d.isEmpty).to.equal(true);
    expect(d.expire(1e9)).to.deep.equal({ timedOut: [], timedOutAfterMs: [], resend: [], resendWatches: [], connectTimedOut: false });
  });
});
