/**
 * `GET /metrics` over real sockets (issue #5, SPEC §5): after some operations, a state
 * transfer and a failover, the replicas' series exist and move. The README lists every
 * metric named here.
 */
import { expect } from 'chai';
import WebSocket from 'ws';
import { inProcess } from '../support/in-process';
import { connect as connectStore } from '../../client/node';
import type { Store } from '../../client/store';
import { teardownAfterEach } from '../support/teardown';
import { waitFor } from '../support/wait';

const teardown = teardownAfterEach();

const { startVs, startRep } = inProcess(teardown);

/** The series of one scrape: `name{a="1",b="2"}` → value. */
async function scrape(port: number): Promise<Map<string, number>> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(res.status).to.equal(200);
  expect(res.headers.get('content-type')).to.match(/^text\/plain/);
  const out = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

function get(m: Map<string, number>, series: string): number {
  const v = m.get(series);
  expect(v, `series ${series} in /metrics`).to.not.equal(undefined);
  return v as number;
}

describe('metrics (issue #5, SPEC §5)', () => {
  it('replicas expose operations by op and result, latency, views, failovers, state transfer, queue depth and links — and they move', async () => {
    const vs = await startVs();
    const p = await startRep(vs);
    await waitFor('primary of view 1', () => p.machine.role === 'primary' && vs.machine.acked);
    const store: Store = await connectStore({ view: vs.url, timeoutMs: 5000 });
    teardown.push(() => store.close());
    await store.put('before-transfer', 'x'.repeat(1000));

    const b = await startRep(vs);
    await waitFor('view {p, b} acknowledged', () => vs.machine.view.backup === b.id && vs.machine.acked && b.machine.role === 'backup');
    const m0 = await scrape(p.port);

    for (let i = 0; i < 20; i++) await store.put(`k${i}`, `v${i}`);
    for (let i = 0; i < 5; i++) await store.get(`k${i}`);
    await store.append('k0', '!');
    await store.delete('k1');
    const raw = new WebSocket(p.id);
    teardown.push(() => raw.terminate());
    await new Promise((r) => raw.once('open', r));
    const refused = new Promise((r) => raw.once('message', r));
    raw.send('{"type":"req"');
    await refused;
    const m1 = await scrape(p.port);

    // every series is ours (default process metrics included)
    for (const key of m1.keys()) expect(key.startsWith('understudy_'), key).to.equal(true);

    // operations by type and result, and their latency from ordering to reply
    expect(get(m1, 'understudy_ops_total{op="put",result="ok"}') - get(m0, 'understudy_ops_total{op="put",result="ok"}')).to.equal(20);
    expect(get(m1, 'understudy_ops_total{op="get",result="ok"}') - get(m0, 'understudy_ops_total{op="get",result="ok"}')).to.equal(5);
    expect(get(m1, 'understudy_ops_total{op="append",result="ok"}') - get(m0, 'understudy_ops_total{op="append",result="ok"}')).to.equal(1);
    expect(get(m1, 'understudy_ops_total{op="delete",result="ok"}') - get(m0, 'understudy_ops_total{op="delete",result="ok"}')).to.equal(1);
    expect(get(m1, 'understudy_ops_total{op="put",result="TOO_LARGE"}')).to.equal(0);
    expect(get(m1, 'understudy_op_duration_seconds_count{op="put"}') - get(m0, 'understudy_op_duration_seconds_count{op="put"}')).to.equal(20);
    expect(get(m1, 'understudy_op_duration_seconds_sum{op="put"}')).to.be.greaterThan(0);
    expect(get(m1, 'understudy_op_duration_seconds_bucket{le="+Inf",op="put"}')).to.equal(get(m1, 'understudy_op_duration_seconds_count{op="put"}'));
    expect(get(m1, 'understudy_replica_requests_total{op="put"}')).to.be.at.least(21);
    expect(get(m1, 'understudy_bad_messages_total{route="client",code="BAD_REQUEST"}')).to.equal(1);

    // views, failovers (became primary), the state transfer to the new backup
    expect(get(m1, 'understudy_viewnum')).to.equal(vs.machine.view.viewnum);
    expect(get(m1, 'understudy_view_changes_total')).to.equal(2);
    expect(get(m1, 'understudy_failovers_total')).to.equal(1);
    expect(get(m1, 'understudy_replica_role{role="primary"}')).to.equal(1);
    expect(get(m1, 'understudy_state_transfers_total')).to.equal(1);
    expect(get(m1, 'understudy_state_transfer_keys')).to.equal(1);
    expect(get(m1, 'understudy_state_transfer_bytes')).to.be.greaterThan(1000);
    expect(get(m1, 'understudy_state_transfer_duration_seconds_count')).to.equal(1);

    // the forwarding queue and the links
    expect(get(m1, 'understudy_pending_requests')).to.equal(0);
    expect(get(m1, 'understudy_pending_bytes')).to.equal(0);
    expect(get(m1, 'understudy_client_connections')).to.equal(2);
    expect(get(m1, 'understudy_backup_link_up')).to.equal(1);
    expect(get(m1, 'understudy_view_service_link_up')).to.equal(1);
    expect(get(m1, 'understudy_revision')).to.equal(p.machine.store.revision);
    expect(get(m1, 'understudy_keys')).to.equal(20);
    const mb = await scrape(b.port);
    expect(get(mb, 'understudy_peer_connections')).to.equal(1);
    expect(get(mb, 'understudy_replica_role{role="backup"}')).to.equal(1);
    expect(get(mb, 'understudy_failovers_total')).to.equal(0);

    // a failover: the backup becomes primary, and counts it
    await p.close();
    await waitFor('backup promoted', () => b.machine.role === 'primary' && vs.machine.acked);
    expect(await store.get('k0')).to.equal('v0!');
    const mb2 = await scrape(b.port);
    expect(get(mb2, 'understudy_failovers_total')).to.equal(1);
    expect(get(mb2, 'understudy_view_changes_total') - get(mb, 'understudy_view_changes_total')).to.equal(1);
    expect(get(mb2, 'understudy_ops_total{op="get",result="ok"}')).to.be.at.least(1);
    expect(get(mb2, 'understudy_backup_link_up')).to.equal(0);
  });

  it('the view service exposes its view, liveness, links and refusals', async () => {
    const vs = await startVs();
    const p = await startRep(vs);
    await waitFor('primary of view 1', () => p.machine.role === 'primary' && vs.machine.acked);
    const sub = new WebSocket(vs.url);
    teardown.push(() => sub.terminate());
    await new Promise((r) => sub.once('open', r));
    const view = new Promise((r) => sub.once('message', r));
    sub.send('{"type":"subscribe"}');
    await view;
    const m = await scrape(vs.port);
    for (const key of m.keys()) expect(key.startsWith('understudy_'), key).to.equal(true);
    expect(get(m, 'understudy_viewnum')).to.equal(1);
    expect(get(m, 'understudy_view_acked')).to.equal(1);
    expect(get(m, 'understudy_replicas_alive')).to.equal(1);
    expect(get(m, 'understudy_connections')).to.equal(2);
    expect(get(m, 'understudy_subscribers')).to.equal(1);
    expect(get(m, 'understudy_view_changes_total')).to.equal(1);
    for (const name of ['understudy_bad_messages_total', 'understudy_slow_consumers_total', 'understudy_overloaded_total', 'understudy_unauthorized_total', 'understudy_idle_links_closed_total']) {
      expect(get(m, name), name).to.equal(0);
    }
  });
});
