/**
 * What a replica reports about its load for the dashboard (issue #15): ops/s and p99 latency
 * over the last second, the backup's replication lag, a running state transfer's progress.
 * Part of the replica core's ping rules (ping-rules.ts decides when to ping; this decides
 * what a ping carries beside it): pure, time is an input, the numbers come from counters the
 * shell already keeps (replica-metrics.ts, the machine's pending queue), read only when due.
 *
 * Why beside the ping, and not the view service polling each replica's /metrics:
 *  - the ping link already exists, is authenticated with the cluster token, and reaches the
 *    view service from wherever the replica runs (a replica behind NAT or on a private
 *    network can ping out; the view service may not be able to dial in);
 *  - no second schedule, no extra connections, no scrape parsing; a replica that stops
 *    pinging stops reporting, the same moment the view service stops believing in it;
 *  - it is small (about 150 bytes) and at most once a second (STATS_INTERVAL_MS), so the
 *    pings — 10 a second by default — stay as they are the other nine times.
 * The browser fetches only from the view service (`GET /stats`, stats-ring.ts).
 */
import type { ReplicaStats } from '../../common/messages';

/** Stats go with at most one ping per this many ms. @default 1000 */
export const STATS_INTERVAL_MS = 1000;

/** The counters the rules read when stats are due (cumulative since the replica started). */
export interface StatsSample {
  /** Operations observed by the latency histogram (answered, refusals excepted). */
  ops: number;
  /** That histogram's counts per bucket (not cumulative), bucket i ≤ boundsMs[i], the last one above every bound. */
  buckets: Float64Array;
  /** As primary with a backup: ordered operations the backup has not acknowledged, and their approximate bytes. */
  lag: { ops: number; bytes: number } | null;
  /** A state transfer being sent: keys and bytes sent so far, keys in the snapshot, ms since it began. */
  transfer: { keys: number; keysTotal: number; bytes: number; elapsedMs: number } | null;
}

export class StatsRules {
  /** When the last stats (or the baseline) were taken; −1: never. */
  private last = -1;
  private lastOps = 0;
  private readonly lastBuckets: Float64Array;
  private readonly delta: Float64Array;
  /** The transfer's keys and elapsed ms at the last stats, for the recent rate. */
  private lastTransfer: { keys: number; elapsedMs: number } | null = null;

  /** `boundsMs`: the latency histogram's upper bounds, ascending, in ms. */
  constructor(private readonly boundsMs: readonly number[], private readonly intervalMs: number = STATS_INTERVAL_MS) {
    this.lastBuckets = new Float64Array(boundsMs.length + 1);
    this.delta = new Float64Array(boundsMs.length + 1);
  }

  /** Whether a ping sent at `now` should carry stats (the first call only takes a baseline). */
  due(now: number): boolean {
    return this.last < 0 || now - this.last >= this.intervalMs;
  }

  /** The stats for the span since the last ones, or null for the first call (the baseline) and when not due. */
  take(now: number, s: StatsSample): ReplicaStats | null {
    if (!this.due(now)) return null;
    const first = this.last < 0;
    const seconds = (now - this.last) / 1000;
    for (let i = 0; i < this.delta.length; i++) {
      this.delta[i] = Math.max(0, s.buckets[i] - this.lastBuckets[i]);
      this.lastBuckets[i] = s.buckets[i];
    }
    const ops = Math.max(0, s.ops - this.lastOps);
    this.lastOps = s.ops;
    this.last = now;
    if (first) return null;
    const stats: ReplicaStats = { opsPerSec: round(ops / seconds, 1), p99Ms: quantileMs(this.delta, this.boundsMs, 0.99) };
    if (s.lag !== null) stats.lag = { ops: s.lag.ops, bytes: s.lag.bytes };
    if (s.transfer !== null) stats.transfer = progress(s.transfer, this.lastTransfer);
    this.lastTransfer = s.transfer === null ? null : { keys: s.transfer.keys, elapsedMs: s.transfer.elapsedMs };
    return stats;
  }
}

/**
 * The q-quantile of a histogram in ms, interpolated linearly inside its bucket as
 * Prometheus's histogram_quantile does; above the last bound it answers the last bound.
 * Null when the histogram is empty.
 */
export function quantileMs(counts: Float64Array, boundsMs: readonly number[], q: number): number | null {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i];
  if (total === 0) return null;
  const rank = q * total;
  let below = 0;
  for (let i = 0; i < boundsMs.length; i++) {
    if (below + counts[i] >= rank) {
      const lower = i === 0 ? 0 : boundsMs[i - 1];
      return round(lower + (boundsMs[i] - lower) * ((rank - below) / counts[i]), 3);
    }
    below += counts[i];
  }
  return boundsMs[boundsMs.length - 1];
}

/**
 * Keys and bytes sent of the totals, and the time left. Only the key count is known ahead
 * (the snapshot's size); the total bytes are estimated from the bytes per key so far, and
 * the time left from the keys per ms since the last stats (`prev`), once the same transfer
 * advanced since (null before: the first chunks fill socket buffers at once, so the rate
 * since the start says nothing). Keys pulled ahead of a write may go twice, so the count is
 * capped at the total.
 */
function progress(t: NonNullable<StatsSample['transfer']>, prev: { keys: number; elapsedMs: number } | null): NonNullable<ReplicaStats['transfer']> {
  const keys = Math.min(t.keys, t.keysTotal);
  const bytesTotal = keys > 0 ? Math.max(t.bytes, Math.round((t.bytes / keys) * t.keysTotal)) : t.bytes;
  const recent = prev !== null && t.elapsedMs > prev.elapsedMs && t.keys > prev.keys;
  const etaMs = recent ? Math.round(((t.elapsedMs - prev.elapsedMs) / (t.keys - prev.keys)) * (t.keysTotal - keys)) : null;
  return { keys, keysTotal: t.keysTotal, bytes: t.bytes, bytesTotal, etaMs };
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
