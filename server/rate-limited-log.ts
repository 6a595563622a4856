/**
 * Rate-limited warnings (issue #5): every bad frame, refused connection or slow consumer is
 * logged, but a flood of them must not flood the logs (or the disk, or the log shipper's
 * bill). Per key — one key per kind of event, a small fixed set such as 'bad-message' —
 * at most `burst` lines are written per `intervalMs`; the rest are counted, and the next
 * line written for that key carries `suppressed: N`. The metrics count every event, so
 * nothing is lost for alerting.
 *
 *   warn('bad-message', …) ×1000 in one second, burst 10:
 *     10 lines, then silence; the first line of the next interval has "suppressed": 990
 *
 * Keys must come from code, never from the wire (a remote address as key would grow the
 * map without bound).
 */
import type { Logger } from '../common/logger';

export interface RateLimitedLogOptions {
  /** Lines per key per interval. @default 10 */
  readonly burst?: number;
  /** @default 10000 */
  readonly intervalMs?: number;
  /** The clock (STYLE §2: time is an input). @default Date.now */
  readonly now?: () => number;
}

interface Window { start: number; written: number; suppressed: number }

export class RateLimitedLog {
  private readonly burst: number;
  private readonly intervalMs: number;
  private readonly now: () => number;
  private readonly windows = new Map<string, Window>();

  constructor(private readonly log: Logger, o: RateLimitedLogOptions = {}) {
    this.burst = o.burst ?? 10;
    this.intervalMs = o.intervalMs ?? 10_000;
    this.now = o.now ?? Date.now;
  }

  /** Log at warn unless `key` is over its budget; returns whether a line was written. */
  warn(key: string, obj: Record<string, unknown>, msg: string): boolean {
    const now = this.now();
    let w = this.windows.get(key);
    if (w === undefined) {
      w = { start: now, written: 0, suppressed: 0 };
      this.windows.set(key, w);
    } else if (now - w.start >= this.intervalMs) {
      w.start = now;
      w.written = 0;
    }
    if (w.written >= this.burst) {
      w.suppressed++;
      return false;
    }
    w.written++;
    if (w.suppressed > 0) {
      this.log.warn({ ...obj, suppressed: w.suppressed }, `${msg} (${w.suppressed} similar lines suppressed)`);
      w.suppressed = 0;
    } else {
      this.log.warn(obj, msg);
    }
    return true;
  }

  /** Lines held back for `key` since its last written line. */
  suppressed(key: string): number {
    return this.windows.get(key)?.suppressed ?? 0;
  }
}
