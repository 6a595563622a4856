/**
 * The client's watch table: a deterministic, clock-free machine (STYLE §1/§2), the watch
 * counterpart of client/core/requests.ts. It owns what must be exactly right for "never lost,
 * never duplicated, in revision order" across failovers (SPEC §7, PROTOCOL §2.1):
 *
 *  - per watch: its pattern and the last revision it is complete up to (`last`): the
 *    revision of the last event delivered, or of the last `synced`;
 *  - (re)registration: every watch is sent on every new primary link, with `from: last`,
 *    because watches live on one connection and die with it;
 *  - dedupe: an event with a revision ≤ last is dropped, so nothing is delivered twice;
 *  - resync: a resync batch (current values, all at one revision R) is held until its
 *    `synced` and then delivered at once, so a batch cut by a failover is never half
 *    delivered; for a prefix watch, a key it had delivered a value for that is absent from
 *    the batch was deleted meanwhile, and is delivered as null (resync too);
 *  - NOT_PRIMARY for a watch: re-register (after the view changes, or after a backoff).
 *
 *   add ──▶ send watch ─(link)─▶ event… ─▶ deliver (rev > last)    synced ─▶ last = rev
 *   link drop / new primary ─▶ unregistered ─▶ link open ─▶ send watch {from: last}
 *
 * It never sends, never sets a timer and never reads a clock: inputs are method calls,
 * effects are queued and drained by the shell (client/session.ts) through `takeEffects()`.
 */
import type { WatchMsg, UnwatchMsg, EventMsg, SyncedMsg, ErrorMsg } from '../../common/messages';
import type { View } from '../../common/view';
import { UnderstudyError } from '../../common/errors';
import { patternKey } from '../../common/protocol';
import { DEFAULT_LIMITS, Limits, utf8Length, formatBytes } from '../../common/limits';

/** What a watch callback receives. */
export interface WatchEvent {
  key: string;
  /** The whole new value; null: the key was deleted (or, in a resync, does not exist). */
  value: string | null;
  /** The store revision of the write (of the resync's snapshot for a resync). */
  revision: number;
  /**
   * Set when this is the key's current value from a resync: the server's history no
   * longer reached back to the watch's last revision (a long disconnection, or a fresh
   * primary), so the writes in between were skipped and only their outcome is delivered.
   */
  resync?: true;
}

/** Watches one store may hold (the server enforces the same per connection). @default 1000 */
export const MAX_WATCHES = 1000;

export type WatchEffect =
  /** Send on the open primary link. */
  | { kind: 'send'; msg: WatchMsg | UnwatchMsg }
  /** Call watch `id`'s callback. */
  | { kind: 'deliver'; id: number; event: WatchEvent }
  /**
   * The primary refused or dropped the watch with NOT_PRIMARY. The shell applies the one
   * NOT_PRIMARY rule (client/core/retry.ts, the same as for operations) to the request
   * table, which owns the view: if `view` moves the client to another primary, the new link
   * re-registers the watch; otherwise call `resend(id)` after `retryDelay(attempt)`.
   */
  | { kind: 'retry'; id: number; attempt: number; view?: View }
  /** The server refused the watch for good (e.g. TOO_LARGE): it is removed. */
  | { kind: 'failed'; id: number; error: UnderstudyError };

interface Entry {
  readonly id: number;
  readonly pattern: string;
  readonly prefix: boolean;
  /** Complete up to this revision; null: not yet synced and no fromRevision (start "now"). */
  last: number | null;
  /** Sent on the current link (and not refused since). */
  registered: boolean;
  /** Prefix watches: keys whose last delivered value was not null (to see deletions in a resync). */
  readonly present: Set<string> | null;
  /** A resync batch being received: held until its `synced`. */
  batch: { rev: number; events: EventMsg[] } | null;
  /** Events of an atomic commit marked `more`: held until its last one (SPEC §10: all or none). */
  commit: EventMsg[] | null;
  notPrimary: number;
}

/** What takeEffects() returns when nothing happened: no array per drain. */
const NO_EFFECTS: WatchEffect[] = Object.freeze([]) as unknown as WatchEffect[];

export class Watches {
  private nextId = 1;
  private readonly entries = new Map<number, Entry>();
  private open = false;
  private closed = false;
  private effects: WatchEffect[] = [];

  constructor(private readonly limits: Limits = DEFAULT_LIMITS, private readonly maxWatches = MAX_WATCHES) {}

  get size(): number {
    return this.entries.size;
  }

  /** The revision watch `id` is complete up to (null: not yet synced). */
  revisionOf(id: number): number | null {
    return this.entries.get(id)?.last ?? null;
  }

  takeEffects(): WatchEffect[] {
    const out = this.effects;
    if (out.length === 0) return NO_EFFECTS;
    this.effects = [];
    return out;
  }

  // ───────────────────────── inputs ─────────────────────────

  /**
   * A new watch of a key or of every key starting with the text before a trailing `*`.
   * With `fromRevision`, every write after that revision is delivered first (or a resync).
   * Returns its id, or the error to throw (nothing is registered then).
   */
  add(pattern: string, fromRevision?: number): number | UnderstudyError {
    if (this.closed) return new UnderstudyError('CLOSED', 'the store is closed; connect() again to watch');
    if (typeof pattern !== 'string') return new UnderstudyError('BAD_REQUEST', `watch: the pattern must be a string: a key, or a prefix ending in "*" (got ${typeof pattern})`);
    const { key, prefix } = patternKey(pattern);
    const keyBytes = utf8Length(key);
    if (keyBytes > this.limits.maxKeyBytes) {
      return new UnderstudyError('TOO_LARGE', `watch: the ${prefix ? 'prefix' : 'key'} is ${formatBytes(keyBytes)} (UTF-8); the limit is maxKeyBytes = ${formatBytes(this.limits.maxKeyBytes)}`);
    }
    if (fromRevision !== undefined && !(Number.isSafeInteger(fromRevision) && fromRevision >= 0)) {
      return new UnderstudyError('BAD_REQUEST', `watch: fromRevision must be a non-negative integer (got ${String(fromRevision)})`);
    }
    if (this.entries.size >= this.maxWatches) {
      return new UnderstudyError('TOO_LARGE', `watch: ${this.maxWatches} watches are open on this store, the limit; stop some, or watch a common prefix`);
    }
    const e: Entry = {
      id: this.nextId++, pattern, prefix, last: fromRevision ?? null, registered: false,
      present: prefix ? new Set() : null, batch: null, commit: null, notPrimary: 0,
    };
    this.entries.set(e.id, e);
    if (this.open) this.register(e);
    return e.id;
  }

  /** stop(): forget the watch; nothing more is delivered for it. */
  remove(id: number): void {
    const e = this.entries.get(id);
    if (!e) return;
    this.entries.delete(id);
    if (this.open && e.registered) this.effects.push({ kind: 'send', msg: { type: 'unwatch', id } });
  }

  /** A link to the primary opened: register every watch on it (resuming from its last revision). */
  linkOpened(): void {
    if (this.closed) return;
    this.open = true;
    for (const e of this.entries.values()) this.register(e);
  }

  /** The primary link dropped or is being replaced: every registration is gone with it. */
  linkClosed(): void {
    this.open = false;
    for (const e of this.entries.values()) {
      e.registered = false;
      e.batch = null; // a cut resync batch is dropped whole; the next registration starts over
      e.commit = null; // so is a cut atomic commit: the replay from `last` sends all of it again
    }
  }

  /** An `event` from the primary. */
  event(m: EventMsg): void {
    const e = this.entries.get(m.id);
    if (!e || (e.last !== null && m.rev <= e.last)) return; // stopped, or already delivered
    if (m.resync) {
      if (e.batch?.rev !== m.rev) e.batch = { rev: m.rev, events: [] };
      e.batch.events.push(m);
      return;
    }
    e.notPrimary = 0;
    if (m.more) {
      (e.commit ??= []).push(m);
      return;
    }
    if (e.commit !== null) {
      for (const x of e.commit) if (x.rev === m.rev) this.deliver(e, x.key, x.value, x.rev, false);
      e.commit = null;
    }
    this.deliver(e, m.key, m.value, m.rev, false);
    e.last = m.rev;
  }

  /** `synced`: the replay (or resync) is complete up to `rev`; live events follow. */
  synced(m: SyncedMsg): void {
    const e = this.entries.get(m.id);
    if (!e) return;
    e.notPrimary = 0;
    const batch = e.batch;
    e.batch = null;
    if (batch && (e.last === null || batch.rev > e.last)) {
      const seen = new Set<string>();
      for (const x of batch.events) {
        seen.add(x.key);
        this.deliver(e, x.key, x.value, batch.rev, true);
      }
      if (e.present) {
        for (const key of [...e.present]) if (!seen.has(key)) this.deliver(e, key, null, batch.rev, true);
      }
    }
    e.last = Math.max(e.last ?? 0, m.rev, batch?.rev ?? 0);
  }

  /** An `error` naming a watch id. */
  error(m: ErrorMsg & { id: number }): void {
    const e = this.entries.get(m.id);
    if (!e) return;
    e.registered = false;
    e.batch = null;
    if (m.code === 'NOT_PRIMARY') {
      this.effects.push({ kind: 'retry', id: e.id, attempt: e.notPrimary++, ...(m.view ? { view: m.view } : {}) });
      return;
    }
    this.entries.delete(e.id);
    this.effects.push({ kind: 'failed', id: e.id, error: new UnderstudyError(m.code, `watch ${JSON.stringify(e.pattern)} was refused: ${m.message}`) });
  }

  /** The NOT_PRIMARY backoff of watch `id` passed: register it again if the link is open. */
  resend(id: number): void {
    const e = this.entries.get(id);
    if (e && this.open && !e.registered) this.register(e);
  }

  /** close(): forget every watch; later adds fail CLOSED. */
  close(): void {
    this.closed = true;
    this.open = false;
    this.entries.clear();
  }

  // ───────────────────────── internals ─────────────────────────

  private register(e: Entry): void {
    e.registered = true;
    e.batch = null;
    const msg: WatchMsg = { type: 'watch', id: e.id, pattern: e.pattern };
    if (e.last !== null) msg.from = e.last;
    this.effects.push({ kind: 'send', msg });
  }

  private deliver(e: Entry, key: string, value: string | null, revision: number, resync: boolean): void {
    if (e.present) {
      if (value === null) e.present.delete(key);
      else e.present.add(key);
    }
    const event: WatchEvent = resync ? { key, value, revision, resync: true } : { key, value, revision };
    this.effects.push({ kind: 'deliver', id: e.id, event });
  }
}
