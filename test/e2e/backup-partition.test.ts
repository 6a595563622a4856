/**
 * A partition between the primary and its backup that the view service cannot see (both
 * still ping it): the primary reports the backup, the view service replaces it (SPEC §2.5),
 * and writes go on during the partition instead of stalling until it heals.
 */
import { expect } from 'chai';
import { waitForView } from '../support/processes';
import { startCluster, waitForEqualDigests } from '../support/cluster';
import { teardownAfterEach } from '../support/teardown';

describe('e2e: partition between primary and backup', function () {
  this.timeout(60_000);
  const teardown = teardownAfterEach();

  for (const fault of ['cut', 'blackhole'] as const) {
    it(`${fault} between primary and backup: the primary reports the backup, an idle replica replaces it, writes go on`, async () => {
      const cluster = await startCluster(1, { teardown });
      const { vs } = cluster;
      const a = cluster.replicas[0];
      await waitForView(vs, (v) => v.primary === a.id && v.acked);
      const b = await cluster.startReplica({ proxied: 'A→B' });
      const proxyB = b.proxy!;
      await waitForView(vs, (v) => v.primary === a.id && v.backup === b.id && v.acked);
      const c = await cluster.startReplica();
      const s = await cluster.client({ timeoutMs: 8000 });
      await s.put('k', 'before');

      if (fault === 'cut') proxyB.cut();
      else proxyB.blackhole('toTarget');
      const t0 = Date.now();
      await s.put('k', 'during');
      const stalled = Date.now() - t0;
      const v = await waitForView(vs, (x) => x.primary === a.id && x.backup === c.id && x.acked);
      console.log(`      first write after the ${fault} completed in ${stalled} ms (view ${v.viewnum}: backup ${c.id})`);
      for (let i = 0; i < 20; i++) await s.append('log', `${i};`);
      expect(await s.get('k')).to.equal('during');
      const { primary, backup } = await waitForEqualDigests(cluster);
      expect(primary.sha256).to.equal(backup.sha256);
      expect(proxyB.faults().cut || proxyB.faults().blackhole.length > 0, 'the partition lasted through the test').to.equal(true);
    });
  }
});
