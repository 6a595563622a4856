/**
 * The short run of `npm run crash` inside npm test (SPEC §9 guarantee): whole-cluster kill -9
 * and restart from the data dirs; the history stays linearizable across the restarts and
 * primary and backup end with equal digests.
 */
import { expect } from 'chai';
import { runCrash, formatCrashReport } from '../crash/run-crash';

describe('e2e: whole-cluster crashes (npm run crash, short)', function () {
  this.timeout(180_000);

  it('3 cycles of kill -9 of every process under load (some at injected crash points), restarted from the data dirs: linearizable across the restarts, digests equal (SPEC §9)', async () => {
    const r = await runCrash({ cycles: 3, seed: 7 });
    expect(r.pass, formatCrashReport(r)).to.equal(true);
    expect(r.ok).to.be.above(0);
  });
});
