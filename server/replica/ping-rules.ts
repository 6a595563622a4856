/**
 * When the replica pings the view service, with what viewnum, and whether the ping names a
 * stalled backup (SPEC §2.1, docs/PROTOCOL.md §1). Part of the replica core: time comes in
 * through `tick` (the shell's only timer, every pingInterval) and the `now` it is given.
 *
 *  - A ping goes out every pingInterval, at once when the viewnum to acknowledge changes,
 *    and at once when the link to the view service (re)opens; none while it is down, and
 *    none after `leave` (a ping would make the view service take the replica back).
 *  - At most one viewnum-0 ping is in flight: the view service takes a 0 from a replica it
 *    already put in a view as "restarted, state lost" (SPEC §2.1), so a second 0 sent before
 *    the answer to the first arrived (slow start, short pingInterval) would kill the view we
 *    were just given. The first answer always names a view ≥ 1. An answer, or a new link
 *    (answers on the old socket are lost), lets the next 0 go.
 *  - Backup-stall suspicion: as primary of a view whose transfer the backup acknowledged,
 *    with requests waiting or the link down, and no acknowledgement for SUSPECT_AFTER_PINGS
 *    ping intervals, the ping names the backup (`suspect`): a partition between primary and
 *    backup that the view service cannot see (both still ping it). Without this every
 *    operation would stall until it healed; with it the view service replaces the backup.
 *    A slow backup still acknowledges, so it is not suspected.
 *  - Stats for the dashboard (replica-stats.ts, issue #15): at most one ping a second
 *    carries `stats` (ops/s, p99, the backup's lag, a transfer's progress). The shell adds
 *    them, as they are read from its metrics; what they are and when is decided there.
 */
export { StatsRules, STATS_INTERVAL_MS, type StatsSample } from './replica-stats';

/** Ping intervals without any acknowledgement from a stalled backup before the primary reports it (1 s by default). */
export const SUSPECT_AFTER_PINGS = 10;

/** What the suspicion rule looks at, as the primary's forwarding stands. */
export interface ForwardProgress {
  /** The view's backup (null: none, or not primary). */
  backup: string | null;
  viewnum: number;
  /** The current view's transfer is acknowledged. */
  synced: boolean;
  ackedIndex: number;
  pending: number;
  linkUp: boolean;
}

export class PingRules {
  private vsUp = false;
  private due = false;
  private left = false;
  /** The viewnum of the last ping sent (−1: none yet). */
  private last = -1;
  private zeroInFlight = false;
  // Forwarding progress as last seen by suspect(): (viewnum, ackedIndex) and since when.
  private seen = false;
  private seenViewnum = 0;
  private seenAcked = 0;
  private since = 0;

  constructor(private readonly pingIntervalMs: number) {}

  /** Every pingInterval: a ping is due. */
  tick(): void { this.due = true; }
  /** The link to the view service opened: ping at once; answers on an old socket are lost. */
  linkUp(): void {
    this.vsUp = true;
    this.zeroInFlight = false;
    this.due = true;
  }
  linkDown(): void { this.vsUp = false; }
  /** The view service answered (or pushed a view). */
  answered(): void { this.zeroInFlight = false; }
  /** Graceful shutdown sent `leave`: never ping again. */
  leave(): void { this.left = true; }
  get leaving(): boolean { return this.left; }
  /** A viewnum-0 ping is unanswered. */
  get zeroPingInFlight(): boolean { return this.zeroInFlight; }

  /** The viewnum to ping with now, or −1 for no ping (see the top). */
  next(viewnum: number): number {
    if (!this.vsUp || this.left) return -1;
    if (!this.due && viewnum === this.last) return -1;
    this.due = false;
    if (viewnum === 0 && this.zeroInFlight) return -1;
    this.last = viewnum;
    if (viewnum === 0) this.zeroInFlight = true;
    return viewnum;
  }

  /** The backup to report as unable to apply forwards at `now` (−1: not known yet), or null (see the top). */
  suspect(f: ForwardProgress, now: number): string | null {
    if (f.backup === null || now < 0) { // not primary with a backup, or no tick yet (no time known)
      this.seen = false;
      return null;
    }
    const stalled = f.synced && (f.pending > 0 || !f.linkUp);
    if (!stalled || !this.seen || this.seenViewnum !== f.viewnum || this.seenAcked !== f.ackedIndex) {
      this.seen = true;
      this.seenViewnum = f.viewnum;
      this.seenAcked = f.ackedIndex;
      this.since = now;
      return null;
    }
    return now - this.since >= SUSPECT_AFTER_PINGS * this.pingIntervalMs ? f.backup : null;
  }

  /** How long the backup has been stalled at `now` (for the log line). */
  stalledMs(now: number): number { return now - this.since; }
}
