/**
 * Cold standby with real processes (SPEC §9: "`--standby cold` makes a replica, while it is
 * backup, log forwarded operations to disk without applying them; it applies the log when it
 * is promoted").
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { waitForView, getJson, type Digest } from '../support/processes';
import { startCluster } from '../support/cluster';
import { teardownAfterEach } from '../support/teardown';

describe('e2e: cold standby (SPEC §9)', function () {
  this.timeout(90_000);
  const teardown = teardownAfterEach();

  it('a cold standby applies nothing while backup; promoted after kill -9 of the primary, it serves every acknowledged write (SPEC §9)', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'understudy-cold-'));
    teardown.push(() => fs.rmSync(root, { recursive: true, force: true }));
    const c = await startCluster(0, { teardown, pingMs: 100, deadPings: 10 });
    const a = await c.startReplica({ env: { UNDERSTUDY_DATA_DIR: path.join(root, 'a') } });
    await waitForView(c.vs, (v) => v.primary === a.id && v.acked);
    const b = await c.startReplica({ env: { UNDERSTUDY_DATA_DIR: path.join(root, 'b'), UNDERSTUDY_STANDBY: 'cold' } });
    await waitForView(c.vs, (v) => v.backup === b.id && v.acked, 30_000);
    const s = await c.client({ timeoutMs: 20_000 });
    for (let i = 0; i < 200; i++) await s.put(`k${i}`, `v${i}`); // each acknowledged: on both disks
    expect((await getJson<Digest>(`${a.http}/digest`)).keys).to.equal(200);
    expect((await getJson<Digest>(`${b.http}/digest`)).keys, 'the cold standby has applied nothing').to.equal(0);
    await a.kill('SIGKILL');
    await waitForView(c.vs, (v) => v.primary === b.id, 30_000);
    for (let i = 0; i < 200; i += 17) expect(await s.get(`k${i}`)).to.equal(`v${i}`);
    expect((await getJson<Digest>(`${b.http}/digest`)).keys).to.equal(200);
    expect(b.logs.some((l) => l.includes('cold standby: applied the logged operations'))).to.equal(true);
  });
});
