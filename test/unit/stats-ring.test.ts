/**
 * The view service's ring of replica stats (server/viewservice/stats-ring.ts, issue #15), on a
 * manual clock: bounded per replica and in replicas, the last WINDOW_MS only, oldest first.
 */
import { expect } from 'chai';
import { StatsRings, RING_SAMPLES, MAX_REPLICAS, WINDOW_MS } from '../../server/viewservice/stats-ring';
import { ManualClock } from '../support/manual-clock';

describe('view service stats ring (issue #15)', () => {
  it('keeps the last RING_SAMPLES samples of a replica, oldest first, with the last lag and transfer', () => {
    const clock = new ManualClock();
    const rings = new StatsRings();
    for (let i = 0; i < RING_SAMPLES + 50; i++) {
      clock.advance(500);
      rings.record('ws://a', clock.now(), { opsPerSec: i, p99Ms: i % 2 === 0 ? null : i / 10, ...(i % 3 === 0 ? { lag: { ops: i, bytes: 2 * i } } : {}) });
    }
    const [a] = rings.toJSON(clock.now()).replicas;
    expect(a.id).to.equal('ws://a');
    expect(a.at).to.have.length(RING_SAMPLES);
    expect(a.opsPerSec[0]).to.equal(50);
    expect(a.opsPerSec[RING_SAMPLES - 1]).to.equal(RING_SAMPLES + 49);
    expect(a.at[1] - a.at[0]).to.equal(500);
    expect(a.p99Ms.slice(0, 2)).to.deep.equal([null, 5.1]);
    expect(a.lagOps.slice(0, 3)).to.deep.equal([null, 51, null]);
    expect(a.lag).to.equal(undefined); // the last sample (349) had none
    expect(a.transfer).to.equal(undefined);
  });

  it('answers only the samples of the last WINDOW_MS and forgets a replica silent for longer', () => {
    const clock = new ManualClock();
    const rings = new StatsRings();
    rings.record('ws://old', clock.now(), { opsPerSec: 1, p99Ms: 1 });
    clock.advance(WINDOW_MS / 2);
    rings.record('ws://b', clock.now(), { opsPerSec: 2, p99Ms: 1, transfer: { keys: 1, keysTotal: 4, bytes: 10, bytesTotal: 40, etaMs: 300 } });
    clock.advance(WINDOW_MS / 2);
    rings.record('ws://b', clock.now(), { opsPerSec: 3, p99Ms: 1, transfer: { keys: 2, keysTotal: 4, bytes: 20, bytesTotal: 40, etaMs: 200 } });
    let json = rings.toJSON(clock.now());
    expect(json.windowMs).to.equal(WINDOW_MS);
    expect(json.replicas.map((r) => r.id)).to.deep.equal(['ws://b', 'ws://old']);
    clock.advance(1);
    json = rings.toJSON(clock.now());
    expect(json.replicas.map((r) => r.id)).to.deep.equal(['ws://b']);
    expect(json.replicas[0].opsPerSec).to.deep.equal([2, 3]);
    expect(json.replicas[0].transfer).to.deep.equal({ keys: 2, keysTotal: 4, bytes: 20, bytesTotal: 40, etaMs: 200 });
    clock.advance(WINDOW_MS / 2);
    expect(rings.toJSON(clock.now()).replicas[0].opsPerSec).to.deep.equal([3]);
    expect(rings.size).to.equal(1);
  });

  it('keeps at most MAX_REPLICAS replicas: the least recently heard goes first', () => {
    const clock = new ManualClock();
    const rings = new StatsRings();
    for (let i = 0; i <= MAX_REPLICAS; i++) {
      clock.advance(10);
      rings.record(`ws://r${String(i).padStart(2, '0')}`, clock.now(), { opsPerSec: i, p99Ms: null });
      if (i === 0) rings.record('ws://r00', clock.now() + 5 * MAX_REPLICAS, { opsPerSec: 0, p99Ms: null }); // r00 heard again late
    }
    const ids = rings.toJSON(clock.now()).replicas.map((r) => r.id);
    expect(ids).to.have.length(MAX_REPLICAS);
    expect(ids).to.include('ws://r00');
    expect(ids).not.to.include('ws://r01');
  });
});
