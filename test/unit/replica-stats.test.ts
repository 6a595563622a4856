/**
 * The replica's stats for the dashboard (server/replica/replica-stats.ts, issue #15), on a
 * manual clock: at most one set a second, ops/s and p99 over the span since the last set,
 * the backup's lag, a transfer's progress with its estimated bytes and time left.
 */
import { expect } from 'chai';
import { StatsRules, STATS_INTERVAL_MS, type StatsSample } from '../../server/replica/ping-rules';
import { quantileMs } from '../../server/replica/replica-stats';
import { LATENCY_BOUNDS_MS } from '../../server/replica/replica-metrics';
import { ManualClock } from '../support/manual-clock';
import { decode, encode, isProtocolError } from '../../common/protocol';
import type { PingMsg } from '../../common/messages';

const BOUNDS = LATENCY_BOUNDS_MS;

function sample(ops: number, perBucket: Record<number, number> = {}): StatsSample {
  const buckets = new Float64Array(BOUNDS.length + 1);
  for (const [i, n] of Object.entries(perBucket)) buckets[Number(i)] = n;
  return { ops, buckets, lag: null, transfer: null };
}

describe('replica stats (issue #15)', () => {
  it('the first call takes a baseline only; then stats go with at most one ping per second', () => {
    const clock = new ManualClock();
    const rules = new StatsRules(BOUNDS);
    expect(rules.due(clock.now())).to.equal(true);
    expect(rules.take(clock.now(), sample(0))).to.equal(null);
    clock.advance(STATS_INTERVAL_MS - 1);
    expect(rules.due(clock.now())).to.equal(false);
    expect(rules.take(clock.now(), sample(500))).to.equal(null);
    clock.advance(1);
    expect(rules.due(clock.now())).to.equal(true);
    expect(rules.take(clock.now(), sample(500))).to.deep.include({ opsPerSec: 500 });
    expect(rules.due(clock.now())).to.equal(false);
  });

  it('ops/s and p99 cover only the span since the last stats', () => {
    const clock = new ManualClock();
    const rules = new StatsRules(BOUNDS);
    rules.take(clock.now(), sample(1000, { 0: 1000 })); // earlier traffic: all fast
    clock.advance(2000);
    // 200 ops in 2 s: 190 under 0.1 ms, 10 in (1 ms, 2.5 ms]
    const s = rules.take(clock.now(), sample(1200, { 0: 1190, 4: 10 }));
    expect(s?.opsPerSec).to.equal(100);
    // rank 198 of 200: 8 into the 10 of bucket (1, 2.5] → 1 + 1.5 × 8/10 = 2.2 ms
    expect(s?.p99Ms).to.equal(2.2);
    clock.advance(1000);
    expect(rules.take(clock.now(), sample(1200, { 0: 1190, 4: 10 }))).to.deep.equal({ opsPerSec: 0, p99Ms: null });
  });

  it('quantileMs: interpolates inside the bucket; above the last bound answers the last bound; empty is null', () => {
    const counts = new Float64Array(BOUNDS.length + 1);
    expect(quantileMs(counts, BOUNDS, 0.99)).to.equal(null);
    counts[0] = 100;
    expect(quantileMs(counts, BOUNDS, 0.99)).to.equal(0.099);
    counts[BOUNDS.length] = 100;
    expect(quantileMs(counts, BOUNDS, 0.99)).to.equal(BOUNDS[BOUNDS.length - 1]);
  });

  it('reports the backup\'s lag and a transfer\'s progress: keys and bytes of the totals, time left once a rate is known', () => {
    const clock = new ManualClock();
    const rules = new StatsRules(BOUNDS);
    rules.take(clock.now(), sample(0));
    clock.advance(1000);
    const s = sample(0);
    s.lag = { ops: 42, bytes: 4200 };
    s.transfer = { keys: 50_000, keysTotal: 200_000, bytes: 5_000_000, elapsedMs: 1000 };
    const out = rules.take(clock.now(), s);
    expect(out?.lag).to.deep.equal({ ops: 42, bytes: 4200 });
    expect(out?.transfer).to.deep.equal({ keys: 50_000, keysTotal: 200_000, bytes: 5_000_000, bytesTotal: 20_000_000, etaMs: null });
    clock.advance(1000);
    s.transfer = { keys: 100_000, keysTotal: 200_000, bytes: 10_000_000, elapsedMs: 2000 };
    expect(rules.take(clock.now(), s)?.transfer).to.deep.equal({ keys: 100_000, keysTotal: 200_000, bytes: 10_000_000, bytesTotal: 20_000_000, etaMs: 2000 });
  });

  it('the time left follows the transfer\'s rate since the last stats, not since it began (the first chunks go at once), and is unknown until then', () => {
    const clock = new ManualClock();
    const rules = new StatsRules(BOUNDS);
    rules.take(clock.now(), sample(0));
    const s = sample(0);
    clock.advance(1000);
    s.transfer = { keys: 20_000, keysTotal: 200_000, bytes: 2_000_000, elapsedMs: 100 }; // a burst into the buffers
    expect(rules.take(clock.now(), s)?.transfer?.etaMs).to.equal(null); // no rate yet: not 900 ms
    clock.advance(1000);
    s.transfer = { keys: 30_000, keysTotal: 200_000, bytes: 3_000_000, elapsedMs: 1100 }; // then 10 keys/ms
    expect(rules.take(clock.now(), s)?.transfer?.etaMs).to.equal(17_000);
    clock.advance(1000);
    s.transfer = null;
    expect(rules.take(clock.now(), s)?.transfer).to.equal(undefined);
    clock.advance(1000);
    s.transfer = { keys: 1000, keysTotal: 2000, bytes: 100, elapsedMs: 500 }; // a new transfer: since it began
    expect(rules.take(clock.now(), s)?.transfer?.etaMs).to.equal(null);
  });

  it('a transfer that has sent no key yet has no time left; keys pulled twice never pass the total', () => {
    const clock = new ManualClock();
    const rules = new StatsRules(BOUNDS);
    rules.take(clock.now(), sample(0));
    clock.advance(1000);
    const s = sample(0);
    s.transfer = { keys: 0, keysTotal: 10, bytes: 0, elapsedMs: 5 };
    expect(rules.take(clock.now(), s)?.transfer).to.deep.equal({ keys: 0, keysTotal: 10, bytes: 0, bytesTotal: 0, etaMs: null });
    clock.advance(1000);
    s.transfer = { keys: 12, keysTotal: 10, bytes: 1200, elapsedMs: 500 };
    expect(rules.take(clock.now(), s)?.transfer).to.deep.equal({ keys: 10, keysTotal: 10, bytes: 1200, bytesTotal: 1200, etaMs: 0 });
  });

  it('a ping\'s stats survive encode/decode; bad stats are refused; unknown fields are dropped', () => {
    const ping: PingMsg = {
      type: 'ping', id: 'ws://a', incarnation: 'i', viewnum: 3,
      stats: { opsPerSec: 10.5, p99Ms: null, lag: { ops: 1, bytes: 2 }, transfer: { keys: 1, keysTotal: 2, bytes: 3, bytesTotal: 6, etaMs: null } },
    };
    expect(decode(encode(ping))).to.deep.equal(ping);
    const withExtra = JSON.stringify({ ...ping, stats: { ...ping.stats, junk: 'x'.repeat(100) } });
    expect(decode(withExtra)).to.deep.equal(ping);
    for (const stats of [{ opsPerSec: -1, p99Ms: null }, { opsPerSec: 1 }, { opsPerSec: 1, p99Ms: null, lag: { ops: 'x', bytes: 1 } }, 5]) {
      const d = decode(JSON.stringify({ ...ping, stats }));
      expect(isProtocolError(d), JSON.stringify(stats)).to.equal(true);
    }
  });
});
