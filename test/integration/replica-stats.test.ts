/**
 * `GET /stats` of the view service (issue #15): the stats replicas send beside their pings
 * (server/replica/replica-stats.ts), kept per replica (stats-ring.ts). Port 0, 127.0.0.1.
 */
import { expect } from 'chai';
import { teardownAfterEach } from '../support/teardown';
import { inProcess } from '../support/in-process';
import { waitFor } from '../support/wait';
import { openWs, nextMessage } from '../support/ws-helpers';
import { connect } from '../../client/node';
import type { ViewService } from '../../server/viewservice';
import type { ReplicaSeries } from '../../server/viewservice/stats-ring';

const teardown = teardownAfterEach();
const { startVs, startRep } = inProcess(teardown);

interface StatsJson { now: number; windowMs: number; replicas: ReplicaSeries[] }

async function stats(vs: ViewService): Promise<StatsJson> {
  const res = await fetch(`http://127.0.0.1:${vs.port}/stats`);
  expect(res.status).to.equal(200);
  expect(res.headers.get('content-type')).to.match(/application\/json/);
  return (await res.json()) as StatsJson;
}

describe('GET /stats: the replicas\' load for the dashboard (issue #15)', function () {
  this.timeout(20_000);

  it('keeps the stats each ping carries, per replica; a ping with malformed stats is refused and not kept', async () => {
    const vs = await startVs();
    const a = await openWs(vs.url, teardown);
    const ping = (viewnum: number, statsField: unknown) => a.send(JSON.stringify({ type: 'ping', id: 'ws://a', incarnation: 'a#1', viewnum, stats: statsField }));
    let answer = nextMessage(a, (m) => m.type === 'view');
    ping(0, { opsPerSec: 12.5, p99Ms: 0.8, lag: { ops: 3, bytes: 300 } });
    await answer;
    answer = nextMessage(a, (m) => m.type === 'error');
    ping(1, { opsPerSec: 'fast', p99Ms: 1 });
    expect((await answer).message).to.match(/ping\.stats/);
    answer = nextMessage(a, (m) => m.type === 'view');
    ping(1, { opsPerSec: 20, p99Ms: null, transfer: { keys: 5, keysTotal: 10, bytes: 50, bytesTotal: 100, etaMs: 1000 } });
    await answer;
    const s = await stats(vs);
    expect(s.windowMs).to.equal(300_000);
    expect(s.replicas).to.have.length(1);
    const [r] = s.replicas;
    expect(r).to.deep.include({ id: 'ws://a', opsPerSec: [12.5, 20], p99Ms: [0.8, null], lagOps: [3, null] });
    expect(r.transfer).to.deep.equal({ keys: 5, keysTotal: 10, bytes: 50, bytesTotal: 100, etaMs: 1000 });
    expect(r.lag).to.equal(undefined);
    expect(r.at[1]).to.be.at.least(r.at[0]);
    expect(s.now).to.be.at.least(r.at[1]);
  });

  it('real replicas under load: the primary reports ops/s, p99 and its backup\'s lag once a second; the backup reports no lag', async () => {
    const vs = await startVs();
    const p = await startRep(vs);
    await waitFor('the first view', () => vs.machine.view.primary === p.id);
    const b = await startRep(vs);
    await waitFor('view 2 acknowledged', () => vs.machine.view.backup === b.id && vs.machine.acked);
    const store = await connect({ view: vs.url, timeoutMs: 10_000 });
    teardown.push(() => store.close());
    let stop = false;
    const load = (async () => { for (let i = 0; !stop; i++) await store.put(`k${i % 100}`, `v${i}`); })();
    teardown.push(async () => { stop = true; await load; });
    const withLoad = (r: ReplicaSeries | undefined) => r !== undefined && r.opsPerSec.some((x) => x > 50);
    const s = await waitFor('stats with load from the primary', async () => { const j = await stats(vs); return withLoad(j.replicas.find((r) => r.id === p.id)) ? j : null; }, 8000, 100);
    stop = true;
    await load;
    const primary = s.replicas.find((r) => r.id === p.id) as ReplicaSeries;
    const backup = s.replicas.find((r) => r.id === b.id) as ReplicaSeries;
    const i = primary.opsPerSec.findIndex((x) => x > 50);
    expect(primary.p99Ms[i]).to.be.a('number').and.be.greaterThan(0);
    expect(primary.lagOps[i]).to.be.a('number');
    // At most one set a second by the replica's clock; the view service stamps arrival, which
    // a busy event loop can delay, so the gaps are checked loosely and the count exactly.
    const n = primary.at.length;
    for (let k = 1; k < n; k++) expect(primary.at[k] - primary.at[k - 1]).to.be.greaterThan(500);
    expect(n).to.be.at.most(Math.floor((primary.at[n - 1] - primary.at[0]) / 1000) + 2);
    expect(backup.lagOps.every((x) => x === null)).to.equal(true);
    expect(backup.opsPerSec.every((x) => x === 0)).to.equal(true);
  });
});
