/** common/backoff.ts: a pure capped exponential backoff with injected jitter (STYLE §9). */
import { expect } from 'chai';
import { backoffDelay, DEFAULT_BACKOFF, BackoffPolicy } from '../../common/backoff';

const NO_JITTER: BackoffPolicy = { minMs: 50, maxMs: 2000, factor: 2, jitter: 0 };
const r = (x: number) => (): number => x;

describe('common/backoff', () => {
  describe('#backoffDelay', () => {
    it('grows by factor from minMs: 50, 100, 200, 400, … (no jitter)', () => {
      expect([0, 1, 2, 3, 4, 5].map((a) => backoffDelay(a, NO_JITTER, r(0.5)))).to.deep.equal([50, 100, 200, 400, 800, 1600]);
    });

    it('is capped at maxMs', () => {
      expect(backoffDelay(6, NO_JITTER)).to.equal(2000);
      expect(backoffDelay(1000, NO_JITTER)).to.equal(2000);
      expect(backoffDelay(Number.MAX_SAFE_INTEGER, NO_JITTER)).to.equal(2000);
    });

    it('treats negative and fractional attempts as the floor, at least 0', () => {
      expect(backoffDelay(-3, NO_JITTER)).to.equal(50);
      expect(backoffDelay(2.9, NO_JITTER)).to.equal(200);
    });

    it('jitter takes up to jitter × d off: random 0 → d, random 1 → d × (1 − jitter)', () => {
      const p: BackoffPolicy = { minMs: 100, maxMs: 10_000, factor: 2, jitter: 0.5 };
      expect(backoffDelay(2, p, r(0))).to.equal(400);
      expect(backoffDelay(2, p, r(1))).to.equal(200);
      expect(backoffDelay(2, p, r(0.25))).to.equal(350);
    });

    it('stays within [d × (1 − jitter), d] for any random value, also out-of-range ones', () => {
      const p = DEFAULT_BACKOFF;
      for (let attempt = 0; attempt < 12; attempt++) {
        const d = Math.min(p.maxMs, p.minMs * p.factor ** attempt);
        for (const x of [-1, 0, 0.1, 0.5, 0.9999, 1, 7]) {
          const got = backoffDelay(attempt, p, r(x));
          expect(got, `attempt ${attempt}, random ${x}`).to.be.within(Math.round(d * (1 - p.jitter)), d);
        }
      }
    });

    it('the cap applies before jitter: capped delays still spread', () => {
      const p: BackoffPolicy = { minMs: 50, maxMs: 1000, factor: 2, jitter: 0.5 };
      expect(backoffDelay(20, p, r(1))).to.equal(500);
      expect(backoffDelay(20, p, r(0))).to.equal(1000);
    });

    it('uses DEFAULT_BACKOFF (50 ms … 2 s, ×2, jitter 0.5) when no policy is given', () => {
      expect(DEFAULT_BACKOFF).to.deep.equal({ minMs: 50, maxMs: 2000, factor: 2, jitter: 0.5 });
      expect(Object.isFrozen(DEFAULT_BACKOFF)).to.equal(true);
      expect(backoffDelay(0, undefined, r(0))).to.equal(50);
      expect(backoffDelay(10, undefined, r(1))).to.equal(1000);
    });

    it('returns whole milliseconds', () => {
      const p: BackoffPolicy = { minMs: 33, maxMs: 5000, factor: 1.7, jitter: 0.3 };
      for (let a = 0; a < 10; a++) expect(Number.isInteger(backoffDelay(a, p, r(0.37)))).to.equal(true);
    });
  });
});
