/**
 * Leadership of several view services on one etcd (SPEC §12), written on Lease + Txn by hand
 * (not etcd3's Election helper, which has elected two leaders: microsoft/etcd3#158, #176).
 *
 *   campaign  Txn[ createRevision(leader) == 0 ] → put leader = {id, url} on our lease
 *             won: our term is fenced by that put's revision C; read the view (linearizable)
 *             lost: read who leads, try again every retry interval (the key vanishes with
 *             the leader's lease, at most the lease TTL after the leader stopped renewing)
 *   commit    Txn[ createRevision(leader) == C && modRevision(view) == R ] → put view
 *             every view AND every acknowledgement goes through this; nothing is announced
 *             before it commits. A refused commit means someone else leads (or our lease
 *             expired and the key with it): we are deposed, never retry. A commit whose
 *             outcome is unknown (a timeout, the etcd member we talk to died) is sent again,
 *             the same Txn, for up to COMMIT_RETRY_MS: at most one of the copies can pass
 *             the compare, and if a copy is refused because an earlier one passed, the view
 *             key holds exactly our value (our term is in it) — that counts as committed.
 *   keepalive every TTL/3; a lease etcd says is gone, or no renewal for a whole TTL (etcd
 *             unreachable), deposes us too.
 *
 * Locks alone do not give mutual exclusion (a paused leader wakes up believing it leads):
 * safety comes from the fence in every write, so a deposed leader's writes all fail.
 */
import { parsePersistedView, type PersistedView } from '../../../common/recovery';
import type { Kv, KvEntry, KvLease, TxnResult } from './kv';

/** Who an instance is, as stored in the leader key. */
export interface LeaderInfo {
  readonly id: string;
  /** The instance's WebSocket URL: where replicas and clients should go (the leader hint). */
  readonly url: string;
}

export interface LeadershipOptions {
  readonly kv: Kv;
  /** Keys live under it: `${prefix}/leader`, `${prefix}/view`. */
  readonly prefix: string;
  readonly ttlSeconds: number;
  readonly me: LeaderInfo;
  /** How often a follower tries to take over. @default TTL / 8, at least 100 ms */
  readonly retryMs?: number;
}

export interface LeadershipHandlers {
  /** We lead from now on. `term.initial` is the view etcd holds (null: none yet). */
  elected(term: Term): void;
  /** We no longer lead: stop acting as leader at once. */
  deposed(reason: string): void;
  /** Who leads changed (null: nobody known). */
  leaderChanged(leader: LeaderInfo | null): void;
  /** A recoverable etcd error (logged by the caller, rate-limited). */
  error(err: Error, during: string): void;
}

/** How long a commit with an unknown outcome is tried again (one lease TTL at etcd's minimum). */
export const COMMIT_RETRY_MS = 2000;
/** Between two tries: an etcd member that died is refused at once; the cluster needs a moment. */
const COMMIT_RETRY_PAUSE_MS = 100;

export const leaderKey = (prefix: string): string => `${prefix}/leader`;
export const viewKey = (prefix: string): string => `${prefix}/view`;

/** One leader term: the only way to write the view, fenced by the term's leader-key revision. */
export class Term {
  private viewModRevision: number;
  private over = false;

  constructor(private readonly kv: Kv, private readonly prefix: string, readonly createRevision: number,
    readonly initial: PersistedView | null, initialModRevision: number, private readonly retryPauseMs = COMMIT_RETRY_PAUSE_MS) {
    this.viewModRevision = initialModRevision;
  }

  /** The term ended (deposed or stopped): every commit fails from now on. */
  end(): void {
    this.over = true;
  }

  get ended(): boolean {
    return this.over;
  }

  /**
   * Write `state` if we still lead and nobody wrote the view since our last write: true once
   * committed, false when refused; throws when the outcome stays unknown for COMMIT_RETRY_MS.
   */
  async commit(state: PersistedView): Promise<boolean> {
    const key = viewKey(this.prefix);
    // `term` (the fence) is stored beside the view: the key's history then shows which term
    // wrote each version (tests check that no term writes after a later one began).
    const value = JSON.stringify({ ...state, term: this.createRevision });
    const compares = [
      { key: leaderKey(this.prefix), target: 'createRevision' as const, equals: this.createRevision },
      { key, target: 'modRevision' as const, equals: this.viewModRevision },
    ];
    const until = Date.now() + COMMIT_RETRY_MS;
    let unknown: Error | null = null;
    while (!this.over) {
      let r: TxnResult;
      try {
        r = await this.kv.txn(compares, [{ key, value }], [key]);
      } catch (err) {
        unknown = err as Error;
        if (Date.now() >= until) break;
        if (this.retryPauseMs > 0) await new Promise((res) => setTimeout(res, this.retryPauseMs));
        continue;
      }
      const held = r.succeeded ? null : r.read.get(key);
      // Refused after a try of unknown outcome: that try may be what moved the key.
      const ours = unknown !== null && held !== undefined && held !== null && held.value === value && held.modRevision > this.viewModRevision;
      if (!r.succeeded && !ours) return false;
      this.viewModRevision = r.succeeded ? r.revision : (held as KvEntry).modRevision;
      return true;
    }
    if (unknown === null) return false; // the term ended before a try
    throw unknown;
  }
}

export class Leadership {
  private readonly kv: Kv;
  private readonly retryMs: number;
  private lease: KvLease | null = null;
  private renewedAt = 0;
  private term: Term | null = null;
  private leader: LeaderInfo | null = null;
  private stopped = false;
  private campaignTimer: ReturnType<typeof setTimeout> | null = null;
  private keepaliveTimer: ReturnType<typeof setInterval> | null = null;
  private busy = false;

  constructor(private readonly o: LeadershipOptions, private readonly h: LeadershipHandlers) {
    this.kv = o.kv;
    this.retryMs = o.retryMs ?? Math.max(100, Math.floor((o.ttlSeconds * 1000) / 8));
  }

  get leading(): boolean {
    return this.term !== null;
  }

  get currentLeader(): LeaderInfo | null {
    return this.leader;
  }

  start(): void {
    this.keepaliveTimer = setInterval(() => void this.renew(), Math.max(100, Math.floor((this.o.ttlSeconds * 1000) / 3)));
    this.keepaliveTimer.unref();
    this.schedule(0);
  }

  /** Stop campaigning; a leader revokes its lease, so another instance leads at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.campaignTimer) clearTimeout(this.campaignTimer);
    if (this.keepaliveTimer) clearInterval(this.keepaliveTimer);
    this.term?.end();
    this.term = null;
    const lease = this.lease;
    this.lease = null;
    if (lease !== null) await this.kv.revokeLease(lease).catch(() => undefined);
  }

  /** Give up the current term (a failed commit): revoke the lease so the fence is gone for good, then campaign again. */
  depose(reason: string): void {
    if (this.term === null) return;
    this.term.end();
    this.term = null;
    const lease = this.lease;
    this.lease = null;
    if (lease !== null) this.kv.revokeLease(lease).catch(() => undefined);
    this.setLeader(null);
    this.h.deposed(reason);
    this.schedule(this.retryMs);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.campaignTimer) clearTimeout(this.campaignTimer);
    this.campaignTimer = setTimeout(() => void this.campaign(), ms);
    this.campaignTimer.unref();
  }

  private async campaign(): Promise<void> {
    if (this.stopped || this.term !== null || this.busy) return;
    this.busy = true;
    try {
      if (this.lease === null) {
        this.lease = await this.kv.grantLease(this.o.ttlSeconds);
        this.renewedAt = Date.now();
      }
      const key = leaderKey(this.o.prefix);
      const r = await this.kv.txn([{ key, target: 'createRevision', equals: 0 }],
        [{ key, value: JSON.stringify(this.o.me), lease: this.lease.id }], [key]);
      if (this.stopped) return;
      if (r.succeeded) {
        await this.begin(r.revision);
        return;
      }
      const held = r.read.get(key);
      // Our own key from an attempt that failed after the put (e.g. the view read): still
      // ours, fenced by its create revision. Without this we would wait for our own lease.
      if (held !== undefined && held.lease === this.lease.id) {
        await this.begin(held.createRevision);
        return;
      }
      this.setLeader(held === undefined ? null : parseLeader(held.value));
    } catch (err) {
      this.h.error(err as Error, 'campaign');
    } finally {
      this.busy = false;
      if (this.term === null) this.schedule(this.retryMs);
    }
  }

  /** Won: read the view as etcd holds it now (a linearizable read, after our leader put). */
  private async begin(createRevision: number): Promise<void> {
    const r = await this.kv.range(viewKey(this.o.prefix));
    const initial = r.entry === null ? null : parsePersistedView(r.entry.value);
    this.term = new Term(this.kv, this.o.prefix, createRevision, initial, r.entry?.modRevision ?? 0);
    this.setLeader(this.o.me);
    this.h.elected(this.term);
  }

  private async renew(): Promise<void> {
    const lease = this.lease;
    if (lease === null || this.stopped) return;
    const sentAt = Date.now();
    try {
      const ttl = await this.kv.keepAlive(lease);
      if (this.lease !== lease) return;
      if (ttl > 0) {
        this.renewedAt = sentAt;
        return;
      }
      this.lease = null;
      if (this.term !== null) this.depose('lease expired');
    } catch (err) {
      this.h.error(err as Error, 'lease keepalive');
      // No renewal for a whole TTL: the lease may be gone in etcd, so we are not leader.
      if (this.lease === lease && Date.now() - this.renewedAt >= lease.ttlSeconds * 1000) {
        this.lease = null;
        if (this.term !== null) this.depose('etcd unreachable for the lease TTL');
      }
    }
  }

  private setLeader(l: LeaderInfo | null): void {
    if (l?.id === this.leader?.id && l?.url === this.leader?.url) return;
    this.leader = l;
    this.h.leaderChanged(l);
  }
}

function parseLeader(text: string): LeaderInfo | null {
  try {
    const o = JSON.parse(text) as Partial<LeaderInfo>;
    return typeof o.id === 'string' && typeof o.url === 'string' ? { id: o.id, url: o.url } : null;
  } catch {
    return null;
  }
}
