/**
 * A short version of `npm run chaos` (issue #3) in every test run: three seeds, 20 s each,
 * with the nemesis, then a linearizability check of the whole history and a recovery check.
 * The last seed preloads 20k filler keys: every state transfer then streams about 2 MB
 * while the workload's keys change under it.
 */
import { expect } from 'chai';
import { runChaos, formatReport } from '../chaos/run-chaos';

const SEEDS = (process.env.CHAOS_SEEDS ?? '1,2,3').split(',').map(Number);
const SECONDS = Number(process.env.CHAOS_SECONDS ?? 20);

describe('e2e: chaos (randomized faults + linearizability checker)', function () {
  this.timeout((SECONDS + 120) * 1000);
  for (const [i, seed] of SEEDS.entries()) {
    const preload = i === SEEDS.length - 1 ? 20_000 : 0;
    it(`seed ${seed}, ${SECONDS} s${preload ? `, ${preload} filler keys` : ''}: the history is linearizable and the cluster recovers`, async () => {
      const lines: string[] = [];
      const report = await runChaos({ seed, seconds: SECONDS, clients: 4, keys: 3, preload, log: (l) => lines.push(l) });
      console.log(formatReport(report).split('\n').map((l) => `      ${l}`).join('\n'));
      expect(report.check.verdict, `${report.check.explanation ?? ''}\nschedule:\n${lines.join('\n')}`).to.equal('ok');
      expect(report.recovered, lines.join('\n')).to.equal(true);
      expect(report.digestsEqual).to.equal(true);
      expect(report.ok).to.be.greaterThan(0);
    });
  }
});
