/**
 * The tests' private etcd (test/support/etcd.ts): Debian's etcd started on free loopback
 * ports with a temporary data dir, killed by pid; a 3-member cluster serves with one member
 * down and stops serving without quorum.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import { startEtcd, healthy, stopAllEtcd, type EtcdCluster } from '../support/etcd';
import { waitFor } from '../support/processes';

describe('test support: a private etcd on loopback (issue #14)', function () {
  this.timeout(60_000);
  let cluster: EtcdCluster | null = null;

  afterEach(async () => {
    await cluster?.stop();
    cluster = null;
    await stopAllEtcd();
  });

  it('starts one member on a free loopback port with a temporary data dir, and kill removes it', async () => {
    cluster = await startEtcd();
    const [m] = cluster.members;
    expect(m.clientUrl).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(cluster.endpoints).to.equal(m.clientUrl);
    expect(await healthy(m.clientUrl)).to.equal(true);
    expect(fs.existsSync(m.dataDir)).to.equal(true);
    await m.kill();
    expect(m.pid()).to.equal(null);
    expect(await healthy(m.clientUrl)).to.equal(false);
    const dir = m.dataDir;
    await cluster.stop();
    cluster = null;
    expect(fs.existsSync(dir)).to.equal(false);
  });

  it('a 3-member cluster serves with one member killed, not with two, and heals on restart', async () => {
    cluster = await startEtcd({ size: 3 });
    const [a, b, c] = cluster.members;
    expect(new Set(cluster.members.map((m) => m.clientUrl)).size).to.equal(3);
    await a.kill();
    await waitFor('quorum with 2 of 3', () => healthy(b.clientUrl), 10_000, 100);
    await b.kill();
    await waitFor('no quorum with 1 of 3', async () => !(await healthy(c.clientUrl)), 15_000, 100);
    await Promise.all([a.restart(false), b.restart(false)]);
    await waitFor('quorum again', async () => (await healthy(a.clientUrl)) && (await healthy(c.clientUrl)), 20_000, 100);
  });
});
