/**
 * SPEC §10: which keys expire (`ttlMs`) and which belong to a client's session (`ephemeral`),
 * kept inside the KvState beside the data, so that it is replicated exactly like the data:
 * the backup applies the same puts and deletes (KvState.apply calls `applied`), the state
 * transfer and the durable snapshot carry it (`chunks` / `receive`), and log replay rebuilds it.
 *
 * Only the primary DECIDES an expiry (server/replica/expiry.ts): it orders an ordinary delete
 * through the log, which every replica applies at the same log position. The deadlines here
 * are what a primary needs to decide, on whichever replica becomes primary.
 *
 * Time, and the clock difference between replicas. A deadline is kept on this replica's own
 * clock: a put with `ttlMs` is armed at the next time input (`arm(now)`: the shell's wake-up,
 * asked for at once by Ready.wakeAt) as now + ttlMs, on the primary and on the backup alike,
 * each when it applies the put; a transfer sends the ttl LEFT (`chunks`), armed the same way
 * by the receiver. Why relative and not an absolute deadline: replicas may disagree on the
 * wall clock (no NTP guarantee between two hosts), and an absolute deadline read by a backup
 * whose clock runs ahead would expire keys early after a failover. Relative, the backup
 * applies (and arms) after the primary, so its deadline is the primary's plus the forwarding
 * delay: after a failover a key expires that much LATER, never earlier, whatever the clocks
 * say. The price: a replica restarted from its data dir arms what it replays from the
 * recovery on (a key lives up to its ttl longer across a full restart, never shorter).
 *
 * Rules: a put without ttlMs clears a key's ttl; a plain put (not ephemeral) makes an
 * ephemeral key plain; a delete clears both; an append keeps both (like Redis APPEND keeps
 * EXPIRE); a put or delete inside an atomic commit clears both (it has no lease options).
 * DETERMINISTIC apart from the deadlines; imports only common/ and core modules.
 */
import type { ReqMsg, LeaseEntry } from '../../common/messages';
import { DEFAULT_SESSION_TTL_MS } from '../../common/protocol/lease-checks';
import { DeadlineHeap } from './deadline-heap';
import { jsonStringBytes, type SnapshotChunk } from './snapshot';

/** A session that owns ephemeral keys: its ttl (from its latest ephemeral put) and keys. */
export interface SessionKeys { ttlMs: number; keys: Set<string> }

export class Leases {
  /** key → deadline on this replica's clock (an armed ttl). */
  private deadlines = new Map<string, number>();
  private heap = new DeadlineHeap();
  /** key → ttl in ms, applied since the last time input: armed at the next one. */
  private unarmed = new Map<string, number>();
  /** key → the client id whose session it belongs to. */
  private owners = new Map<string, string>();
  private sessions = new Map<string, SessionKeys>();
  /** Sessions that got their first key since takeFresh(): a primary starts their clock if they have no link. */
  private fresh: string[] = [];
  /** The last time input (−1: none yet). */
  private now = -1;

  /** Keys with a ttl or an owner (0: a plain put pays one check). */
  get size(): number { return this.deadlines.size + this.unarmed.size + this.owners.size; }
  /** A time input is wanted now: puts to arm, or new sessions to look at. */
  get needsTime(): boolean { return this.unarmed.size !== 0 || this.fresh.length !== 0; }
  /** The earliest deadline (perhaps of a stale entry: a wake-up too many, never one too few), or Infinity. */
  get nextDeadline(): number { return this.heap.peek(); }
  /** The session of `client`, if it owns keys. */
  session(client: string): SessionKeys | undefined { return this.sessions.get(client); }
  /** Every client that owns ephemeral keys. */
  clients(): IterableIterator<[string, SessionKeys]> { return this.sessions.entries(); }
  /** The deadline of `key` on this clock (undefined: none, or not armed yet). */
  deadlineOf(key: string): number | undefined { return this.deadlines.get(key); }
  ownerOf(key: string): string | undefined { return this.owners.get(key); }

  /** A write was applied (called by KvState.apply for a successful write). */
  applied(req: ReqMsg): void {
    if (req.op === 'put') {
      this.drop(req.key);
      if (req.ttlMs !== undefined) this.unarmed.set(req.key, req.ttlMs);
      if (req.ephemeral === true) this.own(req.key, req.client, req.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS);
    } else if (req.op === 'delete') {
      this.drop(req.key);
    } else if (req.op === 'atomic') {
      for (const o of req.ops ?? []) if (o[0] !== 'append') this.drop(o[1]);
    }
  }

  /** Time passes: the ttls applied since the last time input get their deadline. */
  arm(now: number): void {
    this.now = now;
    for (const [key, ttl] of this.unarmed) {
      this.deadlines.set(key, now + ttl);
      this.heap.push(now + ttl, key);
    }
    this.unarmed.clear();
    if (this.heap.size > 2 * this.deadlines.size + 1024) this.heap.compact(this.deadlines);
  }

  /** Sessions that got their first key since the last call. */
  takeFresh(): string[] {
    if (this.fresh.length === 0) return this.fresh;
    const f = this.fresh;
    this.fresh = [];
    return f;
  }

  /** Up to `max` keys whose deadline is ≤ now, into `out` (their ttl is gone: the caller orders their delete). */
  due(now: number, max: number, out: string[]): void {
    while (out.length < max && this.heap.size > 0 && this.heap.peek() <= now) {
      const at = this.heap.peek();
      const key = this.heap.peekName();
      this.heap.pop();
      if (this.deadlines.get(key) !== at) continue; // put again, or deleted, since
      this.deadlines.delete(key);
      out.push(key);
    }
  }

  private own(key: string, client: string, ttlMs: number): void {
    this.owners.set(key, client);
    let s = this.sessions.get(client);
    if (s === undefined) {
      this.sessions.set(client, s = { ttlMs, keys: new Set() });
      this.fresh.push(client);
    }
    s.ttlMs = ttlMs;
    s.keys.add(key);
  }

  private drop(key: string): void {
    if (this.size === 0) return;
    this.deadlines.delete(key); // its heap entry is now stale
    this.unarmed.delete(key);
    const client = this.owners.get(key);
    if (client === undefined) return;
    this.owners.delete(key);
    const s = this.sessions.get(client) as SessionKeys;
    s.keys.delete(key);
    if (s.keys.size === 0) this.sessions.delete(client);
  }

  /** Forget everything (a transfer is being installed). */
  clear(): void {
    this.deadlines.clear();
    this.heap.clear();
    this.unarmed.clear();
    this.owners.clear();
    this.sessions.clear();
    this.fresh = [];
  }

  /** The leases as transfer chunks (`leases` entries, the ttl LEFT: see the top), ~maxBytes of JSON each. */
  chunks(maxBytes: number): SnapshotChunk[] {
    const out: SnapshotChunk[] = [];
    let entries: LeaseEntry[] = [];
    let bytes = 0;
    const add = (key: string): void => {
      const d = this.deadlines.get(key);
      const ms = d !== undefined ? Math.max(0, d - this.now) : this.unarmed.get(key) ?? null;
      const owner = this.owners.get(key);
      entries.push(owner === undefined ? [key, ms] : [key, ms, owner, (this.sessions.get(owner) as SessionKeys).ttlMs]);
      bytes += jsonStringBytes(key) + (owner === undefined ? 0 : jsonStringBytes(owner)) + 48;
      if (bytes < maxBytes) return;
      out.push({ data: [], dedup: [], leases: entries });
      entries = [];
      bytes = 0;
    };
    for (const k of this.deadlines.keys()) add(k);
    for (const k of this.unarmed.keys()) add(k);
    for (const k of this.owners.keys()) if (!this.deadlines.has(k) && !this.unarmed.has(k)) add(k);
    if (entries.length > 0) out.push({ data: [], dedup: [], leases: entries });
    return out;
  }

  /** A transfer's lease entries: each sets the key's lease whole (the ttl left is armed at the next time input). */
  receive(entries: readonly LeaseEntry[]): void {
    for (const e of entries) {
      this.drop(e[0]);
      if (e[1] !== null) this.unarmed.set(e[0], e[1]);
      if (e.length === 4) this.own(e[0], e[2], e[3]);
    }
  }
}
