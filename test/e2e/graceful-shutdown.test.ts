/**
 * Graceful shutdown with real processes (issue #5): SIGTERM makes a replica finish its
 * requests in flight, `leave` the view service (failover at once, not after deadPings),
 * close its links with 1012 and exit 0. The unavailability clients see is measured and
 * logged.
 */
import { expect } from 'chai';
import { killAll, waitForView, waitFor } from '../support/processes';
import { opsCluster, readyz, view, Load, PING_MS } from './support';

/** deadPings × pingInterval = 3 s: a failover faster than that came from `leave`. */
const DEAD_PINGS = 60;

describe('e2e: graceful shutdown (SIGTERM)', function () {
  this.timeout(60_000);
  const loads: Load[] = [];
  afterEach(async () => {
    await Promise.all(loads.splice(0).map((l) => l.close()));
    await killAll();
  });

  it('SIGTERM of the primary under client load: the backup takes over at once, no acknowledged operation fails, exit code 0', async () => {
    const c = await opsCluster(3, { deadPings: DEAD_PINGS });
    const load = new Load(c.vs.url, { clients: 4 });
    loads.push(load);
    await load.start();
    await load.more(200);
    const v = await view(c);
    const primary = c.byId(v.primary);
    const t0 = Date.now();
    primary.child.kill('SIGTERM');
    const next = await waitForView(c.vs, (x) => x.primary === v.backup && x.viewnum > v.viewnum, 10000);
    const failoverMs = Date.now() - t0;
    await primary.exited;
    const exitMs = Date.now() - t0;
    expect(primary.child.exitCode, primary.logs.slice(-5).join('\n')).to.equal(0);
    await load.more(200);
    const gap = load.longestGap(t0, Date.now());
    await load.stop();
    console.log(`      SIGTERM of the primary: view ${next.viewnum} after ${failoverMs} ms, longest gap between client completions ${gap} ms, exit 0 after ${exitMs} ms (deadPings × pingInterval = ${DEAD_PINGS * PING_MS} ms)`);
    expect(failoverMs, 'failover through leave, not deadPings').to.be.below(DEAD_PINGS * PING_MS);
    expect(gap).to.be.below(DEAD_PINGS * PING_MS);
    expect(exitMs).to.be.below(25_000);
    expect(load.failures, load.failures.join('\n')).to.deep.equal([]);
    expect(load.timeouts, 'no operation timed out').to.equal(0);
    expect(load.wrong, load.wrong.join('\n')).to.deep.equal([]);
    expect(await load.lostWrites()).to.deep.equal([]);
    expect(primary.logs.some((l) => /left the view service/.test(l))).to.equal(true);
  });

  it('SIGTERM of the backup: the primary gets a new backup at once and keeps serving; exit code 0', async () => {
    const c = await opsCluster(3, { deadPings: DEAD_PINGS });
    const load = new Load(c.vs.url, { clients: 2 });
    loads.push(load);
    await load.start();
    await load.more(100);
    const v = await view(c);
    const backup = c.byId(v.backup);
    const t0 = Date.now();
    backup.child.kill('SIGTERM');
    await waitForView(c.vs, (x) => x.primary === v.primary && x.backup !== v.backup && x.acked, 10000);
    const replacedMs = Date.now() - t0;
    await backup.exited;
    expect(backup.child.exitCode).to.equal(0);
    await load.more(100);
    await load.stop();
    console.log(`      SIGTERM of the backup: a new backup synced after ${replacedMs} ms`);
    expect(replacedMs).to.be.below(DEAD_PINGS * PING_MS);
    expect(load.failures).to.deep.equal([]);
    expect(load.wrong).to.deep.equal([]);
    expect(await load.lostWrites()).to.deep.equal([]);
  });

  it('/readyz turns 503 as soon as a replica starts shutting down', async () => {
    const c = await opsCluster(2, { deadPings: DEAD_PINGS });
    const v = await view(c);
    const primary = c.byId(v.primary);
    expect(await readyz(primary.http)).to.equal(200);
    primary.child.kill('SIGTERM');
    await waitFor('not ready or gone', async () => (await readyz(primary.http)) !== 200, 5000, 5);
    await primary.exited;
    expect(primary.child.exitCode).to.equal(0);
  });
});
