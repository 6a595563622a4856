/**
 * Small statistics for the bench: percentiles of latency samples, and the median and
 * spread of per-round figures. No dependencies; used by the load generator and the runner.
 */

/** The p-th percentile (0..100) of `sorted` (ascending), nearest-rank. NaN when empty. */
export function percentileSorted(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  if (p <= 0) return sorted[0];
  if (p >= 100) return sorted[n - 1];
  const rank = Math.ceil((p / 100) * n) - 1;
  return sorted[Math.min(n - 1, Math.max(0, rank))];
}

/** Sorts a copy (Float64Array: numeric sort) and returns the requested percentiles. */
export function percentiles(samples: ArrayLike<number>, ps: number[]): number[] {
  const a = Float64Array.from(samples as ArrayLike<number>);
  a.sort();
  return ps.map((p) => percentileSorted(a, p));
}

export function median(xs: number[]): number {
  const a = xs.filter((x) => Number.isFinite(x)).sort((x, y) => x - y);
  const n = a.length;
  if (n === 0) return NaN;
  return n % 2 === 1 ? a[(n - 1) / 2] : (a[n / 2 - 1] + a[n / 2]) / 2;
}

/** Median of rounds and how far they spread: min, max, and (max - min) / median. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  /** (max - min) / median, e.g. 0.08 = the rounds spread over 8 % of the median. */
  relSpread: number;
  n: number;
}

export function spread(xs: number[]): Spread {
  const a = xs.filter((x) => Number.isFinite(x));
  if (a.length === 0) return { median: NaN, min: NaN, max: NaN, relSpread: NaN, n: 0 };
  const med = median(a);
  const min = Math.min(...a);
  const max = Math.max(...a);
  return { median: med, min, max, relSpread: med !== 0 ? (max - min) / Math.abs(med) : NaN, n: a.length };
}

/** A growable Float64 sample buffer: no per-sample allocation in the hot loop. */
export class Samples {
  private buf: Float64Array;
  length = 0;

  constructor(initial = 1 << 16) {
    this.buf = new Float64Array(initial);
  }

  push(x: number): void {
    if (this.length === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.length++] = x;
  }

  clear(): void {
    this.length = 0;
  }

  /** Sorted copy of the samples. */
  sorted(): Float64Array {
    const a = this.buf.slice(0, this.length);
    a.sort();
    return a;
  }

  /** The raw samples (a view: do not keep it across push). */
  view(): Float64Array {
    return this.buf.subarray(0, this.length);
  }
}

/** Longest gap between consecutive values of ascending timestamps, and where it started. */
export function longestGap(sortedTimes: ArrayLike<number>, from = -Infinity, to = Infinity): { gapMs: number; at: number } {
  let best = 0;
  let at = NaN;
  let prev = NaN;
  for (let i = 0; i < sortedTimes.length; i++) {
    const t = sortedTimes[i];
    if (t < from || t > to) continue;
    if (!Number.isNaN(prev) && t - prev > best) {
      best = t - prev;
      at = prev;
    }
    prev = t;
  }
  return { gapMs: best, at };
}

/** Human formatting: 155234 → "155k", 1234 → "1.23k", 0.1234 → "0.123". */
export function fmtCount(x: number): string {
  if (!Number.isFinite(x)) return '–';
  const a = Math.abs(x);
  if (a >= 1e6) return `${(x / 1e6).toFixed(a >= 1e7 ? 1 : 2)}M`;
  if (a >= 1e4) return `${(x / 1e3).toFixed(a >= 1e5 ? 0 : 1)}k`;
  if (a >= 1e3) return `${(x / 1e3).toFixed(2)}k`;
  return String(Math.round(x));
}

/** Milliseconds shown in the unit that reads best: "87 µs", "1.4 ms", "2.31 s". */
export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return '–';
  if (ms < 1) return `${Math.round(ms * 1000)} µs`;
  if (ms < 10) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${ms.toFixed(1)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

export function fmtBytes(n: number): string {
  if (!Number.isFinite(n)) return '–';
  if (n >= 1024 * 1024 * 1024) return `${(n / 1024 / 1024 / 1024).toFixed(2)} GiB`;
  if (n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

export function fmtRatio(r: number): string {
  if (!Number.isFinite(r)) return '–';
  return `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}×`;
}
