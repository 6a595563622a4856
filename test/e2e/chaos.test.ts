/**
 * A short version of `npm run chaos` (issue #3) in every test run: three seeds, 20 s each,
 * with the nemesis, then a linearizability check of the whole history and a recovery check.
 */
import { expect } from 'chai';
import { runChaos, formatReport } from '../chaos/run-chaos';

const SEEDS = (process.env.CHAOS_SEEDS ?? '1,2,3').split(',').map(Number);
const SECONDS = Number(process.env.CHAOS_SECONDS ?? 20);

describe('e2e: chaos (randomized faults + linearizability checker)', function () {
  this.timeout((SECONDS + 120) * 1000);
  for (const seed of SEEDS) {
    it(`seed ${seed}, ${SECONDS} s: the history is linearizable and the cluster recovers`, async () => {
      const lines: string[] = [];
      const report = await runChaos({ seed, seconds: SECONDS, clients: 4, keys: 3, log: (l) => lines.push(l) });
      console.log(formatReport(report).split('\n').map((l) => `      ${l}`).join('\n'));
      expect(report.check.verdict, `${report.check.explanation ?? ''}\nschedule:\n${lines.join('\n')}`).to.equal('ok');
      expect(report.recovered, lines.join('\n')).to.equal(true);
      expect(report.digestsEqual).to.equal(true);
      expect(report.ok).to.be.greaterThan(0);
    });
  }
});
