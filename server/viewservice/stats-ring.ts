/**
 * The last few minutes of each replica's stats (issue #15), as its pings brought them
 * (server/replica/replica-stats.ts: at most one a second), for `GET /stats` and the
 * dashboard's charts. Bounded: RING_SAMPLES samples per replica in fixed typed arrays (no
 * allocation per sample), at most MAX_REPLICAS replicas (the least recently heard is
 * forgotten first), and a replica silent for WINDOW_MS is left out and then forgotten.
 * Time is an input (the view service's clock), so the ring is tested on a manual clock.
 */
import type { ReplicaStats } from '../../common/messages';
import type { ReplicaId } from '../../common/view';

/** Samples kept per replica: 5 minutes at one a second. @default 300 */
export const RING_SAMPLES = 300;
/** Replicas kept at once. @default 32 */
export const MAX_REPLICAS = 32;
/** How far back `GET /stats` looks; a replica not heard from for this long is forgotten. @default 300000 */
export const WINDOW_MS = 5 * 60_000;

/** One replica's series, oldest first, as `GET /stats` answers them (p99Ms null: no operation then). */
export interface ReplicaSeries {
  id: ReplicaId;
  at: number[];
  opsPerSec: number[];
  p99Ms: (number | null)[];
  /** The backup's lag in operations as this replica (primary) saw it; null when it had no backup. */
  lagOps: (number | null)[];
  /** The last sample's lag and transfer (absent: none then). */
  lag?: ReplicaStats['lag'];
  transfer?: ReplicaStats['transfer'];
  /** The last sample's index on the replica's disk (absent: no --data-dir). */
  durableIndex?: number;
}

/** One replica's ring: column arrays, `head` the next slot to write. */
class Ring {
  private readonly at = new Float64Array(RING_SAMPLES);
  private readonly ops = new Float64Array(RING_SAMPLES);
  private readonly p99 = new Float64Array(RING_SAMPLES); // NaN: null
  private readonly lag = new Float64Array(RING_SAMPLES); // NaN: null
  private head = 0;
  private count = 0;
  last: ReplicaStats | null = null;
  lastAt = 0;

  add(at: number, s: ReplicaStats): void {
    const i = this.head;
    this.at[i] = at;
    this.ops[i] = s.opsPerSec;
    this.p99[i] = s.p99Ms ?? NaN;
    this.lag[i] = s.lag?.ops ?? NaN;
    this.head = (i + 1) % RING_SAMPLES;
    if (this.count < RING_SAMPLES) this.count++;
    this.last = s;
    this.lastAt = at;
  }

  /** The samples taken after `since`, oldest first. */
  series(id: ReplicaId, since: number): ReplicaSeries {
    const out: ReplicaSeries = { id, at: [], opsPerSec: [], p99Ms: [], lagOps: [] };
    for (let k = 0; k < this.count; k++) {
      const i = (this.head - this.count + k + RING_SAMPLES) % RING_SAMPLES;
      if (this.at[i] <= since) continue;
      out.at.push(this.at[i]);
      out.opsPerSec.push(this.ops[i]);
      out.p99Ms.push(Number.isNaN(this.p99[i]) ? null : this.p99[i]);
      out.lagOps.push(Number.isNaN(this.lag[i]) ? null : this.lag[i]);
    }
    if (this.last?.lag) out.lag = this.last.lag;
    if (this.last?.transfer) out.transfer = this.last.transfer;
    if (this.last?.durableIndex !== undefined) out.durableIndex = this.last.durableIndex;
    return out;
  }
}

export class StatsRings {
  private readonly rings = new Map<ReplicaId, Ring>();

  /** A ping from `id` carried stats, received at `now`. */
  record(id: ReplicaId, now: number, s: ReplicaStats): void {
    let ring = this.rings.get(id);
    if (ring === undefined) {
      if (this.rings.size >= MAX_REPLICAS) this.forgetOldest();
      ring = new Ring();
      this.rings.set(id, ring);
    }
    ring.add(now, s);
  }

  /** `GET /stats`: every replica heard from in the last WINDOW_MS, with its samples of that window. */
  toJSON(now: number): { now: number; windowMs: number; replicas: ReplicaSeries[] } {
    const replicas: ReplicaSeries[] = [];
    for (const [id, ring] of this.rings) {
      if (now - ring.lastAt > WINDOW_MS) this.rings.delete(id);
      else replicas.push(ring.series(id, now - WINDOW_MS));
    }
    replicas.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return { now, windowMs: WINDOW_MS, replicas };
  }

  get size(): number { return this.rings.size; }

  private forgetOldest(): void {
    let oldest: ReplicaId | null = null;
    let at = Infinity;
    for (const [id, ring] of this.rings) {
      if (ring.lastAt < at) { at = ring.lastAt; oldest = id; }
    }
    if (oldest !== null) this.rings.delete(oldest);
  }
}
