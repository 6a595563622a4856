/**
 * A partition between the primary and its backup that the view service cannot see (both
 * still ping it): the primary reports the backup, the view service replaces it (SPEC §2.5),
 * and writes go on during the partition instead of stalling until it heals.
 */
import { expect } from 'chai';
import { connect } from '../../client/node';
import { startFaultProxy } from '../support/fault-proxy';
import { spawnView, spawnReplica, freePort, waitForView } from '../support/processes';
import { PING_MS, DEAD_PINGS, waitForEqualDigests, cleanupAfterEach } from './helpers';

describe('e2e: partition between primary and backup', function () {
  this.timeout(60_000);
  const { stores, proxies } = cleanupAfterEach();

  for (const fault of ['cut', 'blackhole'] as const) {
    it(`${fault} between primary and backup: the primary reports the backup, an idle replica replaces it, writes go on`, async () => {
      const vs = await spawnView({ pingInterval: PING_MS, deadPings: DEAD_PINGS });
      const replicas = [await spawnReplica({ view: vs.url, pingInterval: PING_MS })];
      const a = replicas[0];
      await waitForView(vs, (v) => v.primary === a.id && v.acked);
      const portB = await freePort();
      const proxyB = await startFaultProxy({ target: `ws://127.0.0.1:${portB}`, name: 'A→B' });
      proxies.push(proxyB);
      const b = await spawnReplica({ view: vs.url, port: portB, url: proxyB.url, pingInterval: PING_MS });
      await waitForView(vs, (v) => v.primary === a.id && v.backup === b.id && v.acked);
      const c = await spawnReplica({ view: vs.url, pingInterval: PING_MS });
      const s = await connect({ view: vs.url, timeoutMs: 8000 });
      stores.push(s);
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
      const { primary, backup } = await waitForEqualDigests({ vs, replicas: [a, b, c], byId: (id) => [a, b, c].find((r) => r.id === id)!, startReplica: async () => { throw new Error('unused'); } });
      expect(primary.sha256).to.equal(backup.sha256);
      expect(proxyB.faults().cut || proxyB.faults().blackhole.length > 0, 'the partition lasted through the test').to.equal(true);
    });
  }
});
