/**
 * The primary's watches (issue #4, docs/PROTOCOL.md §2.1). DETERMINISTIC: no sockets, no
 * timers; the ReplicaMachine decides when things happen, this module only keeps the
 * registrations and computes what a registration must replay.
 *
 *   watch {id, pattern, from}  ──register──▶  inactive Watch + its replay batch, computed
 *                                             at the registration's place in the log
 *   registration committed     ──activate──▶  replay batch sent, then `synced`; from now on
 *                                             every committed write that matches is sent
 *   unwatch / connection gone  ──unregister / dropConn──▶ forgotten
 *
 * A watch lives on one client connection; a client re-registers after a reconnect or a
 * failover (with `from` = the last revision it delivered).
 */
import type { EventMsg, SyncedMsg, ErrorMsg } from '../../common/messages';
import { patternKey } from '../../common/protocol';
import type { KvState } from './kv-state';
import type { WriteEvent } from './write-history';

/** Watches one client connection may hold. @default 1000 */
export const DEFAULT_MAX_WATCHES_PER_CONN = 1000;

/** What a watch sends its client. */
export type WatchPush = EventMsg | SyncedMsg;

export interface Watch {
  readonly conn: number;
  readonly id: number;
  readonly pattern: string;
  /** The key, or the prefix (pattern without its trailing `*`). */
  readonly key: string;
  readonly prefix: boolean;
  /** Set once its registration is committed and its replay sent: live events flow. */
  active: boolean;
}

export function watchMatches(w: Watch, key: string): boolean {
  return w.prefix ? key.startsWith(w.key) : key === w.key;
}

export function eventMsg(w: Watch, e: WriteEvent): EventMsg {
  return { type: 'event', id: w.id, key: e.key, value: e.value, rev: e.rev };
}

/**
 * What a registration at this moment must send before live events, ending with `synced`
 * at the current revision R:
 *  - `from` absent, or ≥ R: nothing (the watch starts with the writes after R);
 *  - the history reaches back to `from`: every matching write with a revision in (from, R];
 *  - otherwise a resync: the current value of every matching key (a missing exact key as
 *    null), each with rev R and `resync: true`; the writes in between are skipped.
 */
export function replayBatch(store: KvState, w: Watch, from: number | undefined): WatchPush[] {
  const rev = store.revision;
  const out: WatchPush[] = [];
  if (from !== undefined && from < rev) {
    if (store.history.reaches(from)) {
      for (const e of store.history.since(from)) {
        if (!watchMatches(w, e.key)) continue;
        const prev = out[out.length - 1];
        if (prev !== undefined && prev.type === 'event' && prev.rev === e.rev) prev.more = true; // the same atomic commit (SPEC §10)
        out.push(eventMsg(w, e));
      }
    } else if (w.prefix) {
      for (const [key, value] of store.entriesWithPrefix(w.key)) out.push({ type: 'event', id: w.id, key, value, rev, resync: true });
    } else {
      out.push({ type: 'event', id: w.id, key: w.key, value: store.get(w.key) ?? null, rev, resync: true });
    }
  }
  out.push({ type: 'synced', id: w.id, rev });
  return out;
}

/**
 * An atomic commit's events for every active watch they match (SPEC §10): each but a watch's
 * last one of the commit carries `more`, so its client delivers all of them or none.
 */
export function commitPushes(reg: WatchRegistry, events: readonly WriteEvent[]): { conn: number; msg: EventMsg }[] {
  const out: { conn: number; msg: EventMsg }[] = [];
  const lastOf = new Map<Watch, EventMsg>();
  for (const e of events) {
    for (const w of reg.matching(e.key)) {
      const msg = eventMsg(w, e);
      const prev = lastOf.get(w);
      if (prev) prev.more = true;
      lastOf.set(w, msg);
      out.push({ conn: w.conn, msg });
    }
  }
  return out;
}

export class WatchRegistry {
  private readonly byConn = new Map<number, Map<number, Watch>>();
  /** Active watches on exact keys, by key. */
  private readonly exact = new Map<string, Set<Watch>>();
  /** Active prefix watches. */
  private readonly prefixes = new Set<Watch>();

  constructor(readonly maxPerConn: number = DEFAULT_MAX_WATCHES_PER_CONN) {}

  /** Registered watches (pending or active), on every connection. */
  get size(): number {
    let n = 0;
    for (const m of this.byConn.values()) n += m.size;
    return n;
  }

  /**
   * A new, inactive registration; it replaces any watch with the same id on that
   * connection. Refused (TOO_LARGE) beyond maxPerConn watches on one connection.
   */
  register(conn: number, id: number, pattern: string): Watch | ErrorMsg {
    const old = this.byConn.get(conn)?.get(id);
    if (old) this.forget(old);
    else if ((this.byConn.get(conn)?.size ?? 0) >= this.maxPerConn) {
      return { type: 'error', code: 'TOO_LARGE', id, message: `too many watches on one connection: the limit is ${this.maxPerConn}; stop (unwatch) some first` };
    }
    let mine = this.byConn.get(conn); // (forget may have removed an emptied map)
    if (!mine) this.byConn.set(conn, mine = new Map());
    const { key, prefix } = patternKey(pattern);
    const w: Watch = { conn, id, pattern, key, prefix, active: false };
    mine.set(id, w);
    return w;
  }

  /** The registration is committed: start live events, unless it was replaced or dropped meanwhile. */
  activate(w: Watch): boolean {
    if (this.byConn.get(w.conn)?.get(w.id) !== w) return false;
    w.active = true;
    if (w.prefix) this.prefixes.add(w);
    else {
      let set = this.exact.get(w.key);
      if (!set) this.exact.set(w.key, set = new Set());
      set.add(w);
    }
    return true;
  }

  unregister(conn: number, id: number): void {
    const w = this.byConn.get(conn)?.get(id);
    if (w) this.forget(w);
  }

  /** The client connection closed: its watches die with it. */
  dropConn(conn: number): void {
    const mine = this.byConn.get(conn);
    if (!mine) return;
    for (const w of [...mine.values()]) this.forget(w);
  }

  /** Forget every watch (no longer primary); returns them, to tell their clients. */
  clear(): Watch[] {
    const all: Watch[] = [];
    for (const mine of this.byConn.values()) all.push(...mine.values());
    this.byConn.clear();
    this.exact.clear();
    this.prefixes.clear();
    return all;
  }

  /** The active watches a write to `key` goes to. */
  *matching(key: string): Generator<Watch> {
    const set = this.exact.get(key);
    if (set) yield* set;
    for (const w of this.prefixes) if (key.startsWith(w.key)) yield w;
  }

  private forget(w: Watch): void {
    const mine = this.byConn.get(w.conn);
    if (mine?.get(w.id) === w) {
      mine.delete(w.id);
      if (mine.size === 0) this.byConn.delete(w.conn);
    }
    if (!w.active) return;
    w.active = false;
    if (w.prefix) this.prefixes.delete(w);
    else {
      const set = this.exact.get(w.key);
      set?.delete(w);
      if (set?.size === 0) this.exact.delete(w.key);
    }
  }
}
