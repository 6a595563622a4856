/**
 * The write history of a replica: the last applied writes, in revision order, for watch
 * replays (issue #4, docs/PROTOCOL.md §2.1). DETERMINISTIC and bounded: the same writes in
 * the same order give the same history on the primary and the backup, so after a failover
 * the new primary can replay exactly the committed writes a watcher missed.
 *
 * Every write that changes the data increments the revision by one and appends one event
 * (an atomic commit, SPEC §10: one revision and an event per key it changed), so the history
 * always covers a contiguous range of revisions `(base, last]`: a replay from revision
 * `from` is possible iff `from >= base`. Older events are evicted first, beyond `maxEvents`
 * events or `maxBytes` of keys and values; evicting part of a commit makes `base` its
 * revision, so the rest of it is never replayed alone.
 *
 *   revisions:  … base │ base+1  base+2  …  last │
 *                      └──── events kept ────────┘
 */

import type { HistoryEntry } from '../../common/messages';
import { utf8Length } from '../../common/limits';

/** One applied write: the key, its whole new value (null: deleted), the store revision it made. */
export interface WriteEvent {
  readonly key: string;
  readonly value: string | null;
  readonly rev: number;
}

/** How much history a replica keeps. */
export interface HistoryBounds {
  /** Events kept. @default 10000 */
  readonly maxEvents: number;
  /** UTF-8 bytes of keys and values kept (plus a small fixed cost per event). @default 16777216 */
  readonly maxBytes: number;
}

export const DEFAULT_HISTORY_BOUNDS: HistoryBounds = Object.freeze({ maxEvents: 10_000, maxBytes: 16 * 1024 * 1024 });

/** Bookkeeping cost per event, so that many tiny events are bounded by maxBytes too. */
export const EVENT_OVERHEAD_BYTES = 32;

interface Slot { event: WriteEvent; bytes: number }

export class WriteHistory {
  /** slots[head] is the oldest kept event (revision base + 1). */
  private slots: Slot[] = [];
  private head = 0;
  private _base = 0;
  private _last = 0;
  private _bytes = 0;

  constructor(readonly bounds: HistoryBounds = DEFAULT_HISTORY_BOUNDS) {}

  /** The revision just before the oldest kept event: replays can start from any revision ≥ base. */
  get base(): number { return this._base; }
  /** The revision of the newest event (= base when empty). */
  get last(): number { return this._last; }
  get length(): number { return this.slots.length - this.head; }
  /** Bytes accounted (keys, values, per-event overhead). */
  get bytes(): number { return this._bytes; }

  /** Forget everything: the history now starts at `revision` (after a state transfer). */
  reset(revision: number): void {
    this.slots = [];
    this.head = 0;
    this._base = revision;
    this._last = revision;
    this._bytes = 0;
  }

  /**
   * Append the event of a write. Its revision must be `last + 1` (every write that changes
   * the data is one revision), or `last` for the next event of the same atomic commit;
   * anything else resets the history to start after it.
   * `valueBytes` is the UTF-8 length of the value, which the store already knows.
   */
  push(event: WriteEvent, keyBytes: number, valueBytes: number): void {
    if (event.rev !== this._last + 1 && !(event.rev === this._last && this.length > 0)) this.reset(event.rev - 1);
    this._last = event.rev;
    const bytes = keyBytes + valueBytes + EVENT_OVERHEAD_BYTES;
    this.slots.push({ event, bytes });
    this._bytes += bytes;
    while (this.length > this.bounds.maxEvents || (this._bytes > this.bounds.maxBytes && this.length > 1)) this.evictOldest();
  }

  /**
   * The transferred history replaces ours (which may hold writes a deposed primary never
   * committed). It is used only if it is what it claims: revisions in steps of 0 (events of
   * one atomic commit) or 1, ending at the snapshot's revision; otherwise the history starts
   * empty at that revision.
   */
  install(revision: number, events: HistoryEntry[]): void {
    const first = events.length > 0 ? events[0][0] : revision + 1;
    const steps = events.every((e, i) => i === 0 || e[0] - events[i - 1][0] === 0 || e[0] - events[i - 1][0] === 1);
    const consecutive = steps && (events.length === 0 || events[events.length - 1][0] === revision);
    this.reset(consecutive ? first - 1 : revision);
    if (!consecutive) return;
    for (const [rev, key, value] of events) this.push({ key, value, rev }, utf8Length(key), value === null ? 0 : utf8Length(value));
  }

  /** Whether every write after revision `from` is still here. */
  reaches(from: number): boolean {
    return from >= this._base;
  }

  /** The events with revision > from, oldest first (all kept ones if from < base). */
  *since(from: number): Generator<WriteEvent> {
    // binary search for the first event after `from` (several events may share a revision)
    let lo = this.head;
    let hi = this.slots.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.slots[mid].event.rev > from) hi = mid;
      else lo = mid + 1;
    }
    for (let i = lo; i < this.slots.length; i++) yield this.slots[i].event;
  }

  private evictOldest(): void {
    const gone = this.slots[this.head];
    this._bytes -= gone.bytes;
    this.head++;
    this._base = gone.event.rev;
    if (this.head === this.slots.length) {
      this.slots = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.slots.length) {
      this.slots = this.slots.slice(this.head);
      this.head = 0;
    }
  }
}
