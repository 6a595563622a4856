/**
 * A short version of `npm run chaos -- --etcd` (issue #14, SPEC §12), NOT in npm test (a
 * .soak.ts file): 60 s runs still end stuck now and then (README, "with --etcd"), so it is
 * not reliable enough yet. `TS_NODE_TRANSPILE_ONLY=true npx mocha test/e2e/chaos-etcd.soak.ts`. One
 * seed, 20 s, three view services on a 3-member etcd, the replica and link nemesis plus the
 * etcd nemesis (leader kills and pauses, follower kills, etcd-member kills). The history is
 * linearizable, the cluster recovers, and the view key's history in etcd keeps SPEC §2.
 */
import { expect } from 'chai';
import { runChaos, formatReport } from '../chaos/run-chaos';

const SEED = Number(process.env.CHAOS_ETCD_SEED ?? 1);
const SECONDS = Number(process.env.CHAOS_SECONDS ?? 20);

describe('e2e: chaos with several view services on etcd (SPEC §12)', function () {
  this.timeout((SECONDS + 150) * 1000);
  it(`seed ${SEED}, ${SECONDS} s, view-service and etcd-member kills: the history is linearizable, the cluster recovers, and the view key's history keeps SPEC §2`, async () => {
    const lines: string[] = [];
    const report = await runChaos({ seed: SEED, seconds: SECONDS, clients: 4, keys: 3, etcd: true, log: (l) => lines.push(l) });
    console.log(formatReport(report).split('\n').map((l) => `      ${l}`).join('\n'));
    const schedule = `schedule:\n${lines.join('\n')}`;
    expect(report.check.verdict, `${report.check.explanation ?? ''}\n${schedule}`).to.equal('ok');
    expect(report.etcd?.historyError, schedule).to.equal(undefined);
    expect(report.etcd?.historyEntries, 'the view key has a history').to.be.greaterThan(1);
    const e = report.etcd!;
    expect(e.leaderKills + e.followerKills + e.leaderPauses + e.memberKills, 'the etcd nemesis struck').to.be.greaterThan(0);
    expect(report.recovered, schedule).to.equal(true);
    expect(report.digestsEqual).to.equal(true);
    expect(report.ok).to.be.greaterThan(0);
  });
});
