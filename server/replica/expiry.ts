/**
 * SPEC §10: the primary's decisions about `ttlMs` and ephemeral keys, a part of the replica
 * core (ReplicaMachine holds one). Time comes in only as an input — `tick(now)` and the
 * shell's wake-up `{kind: 'time', now}` at Ready.wakeAt — and every decision becomes an
 * ordinary operation ORDERED BY THE PRIMARY through the log (forwarded, acknowledged,
 * recorded in the at-most-once table and the watch history like a client's), never a
 * replica's own clock acting on its own state:
 *
 *  - a key whose ttl has passed: a `delete` by the reserved client TTL_CLIENT (one revision
 *    per key; watchers get null);
 *  - a session without a link for its sessionTtlMs: an `atomic` delete of all its keys by
 *    SESSION_CLIENT (one revision; up to 1000 keys per commit, so a session with more ends
 *    in several, in the same turn).
 *
 * Their seq is the log index they take, so it grows across failovers, and `ack` = seq keeps
 * one result in the table. Client ids starting with "#" are refused from clients
 * (common/protocol/checks.ts), so no client can disturb these. A backup decides nothing: it
 * applies the deletes when they are forwarded, and after a failover the new primary decides
 * from the replicated leases (leases.ts) and restarts every session's clock at its promotion.
 */
import type { ReqMsg } from '../../common/messages';
import { MAX_ATOMIC_OPS } from '../../common/protocol/checks';
import type { KvState } from './kv-state';
import { SessionLinks } from './sessions';
import type { ConnId, Role } from './replica-io';

/** The reserved client ids of the store's own deletes (a leading "#" is refused from clients). */
export const TTL_CLIENT = '#ttl';
export const SESSION_CLIENT = '#session';
/** The connection an internal operation's reply goes to: none (the shell finds no such link). */
export const INTERNAL_CONN: ConnId = -1;
/** Keys expired per time input at most; the rest go at the next, asked for at once (Ready.wakeAt 0). */
export const MAX_EXPIRIES_PER_STEP = 1000;

export interface ExpiryContext {
  readonly store: KvState;
  readonly role: Role;
  log(level: 'info' | 'warn' | 'debug', msg: string, data?: object): void;
}

export class Expiry {
  private readonly links = new SessionLinks();
  private primary = false;
  /** Became primary since the last time input: every session clock restarts at the next one. */
  private promoted = false;
  private readonly keys: string[] = [];
  private readonly ended: string[] = [];

  constructor(private readonly ctx: ExpiryContext, private readonly order: (req: ReqMsg) => void) {}

  /** The session links (status, tests). */
  get sessions(): SessionLinks { return this.links; }

  hello(conn: ConnId, client: string): void { this.links.hello(conn, client); }
  closed(conn: ConnId): void { this.links.closed(conn); }

  /** Note a change of role: a promotion restarts every session clock at the next time input. */
  private observe(): boolean {
    const primary = this.ctx.role === 'primary';
    if (primary !== this.primary) {
      this.primary = primary;
      this.promoted = primary;
    }
    return primary;
  }

  /**
   * After every step (ReplicaMachine.ready): when time must come in next — 0: at once (ttls
   * to arm, clocks to start), a deadline, or −1: not needed.
   */
  wakeAt(): number {
    const primary = this.observe();
    const leases = this.ctx.store.leases;
    if (this.promoted || leases.needsTime || this.links.needsTime) return 0;
    if (!primary) return -1;
    const next = Math.min(leases.nextDeadline, this.links.nextDeadline);
    return next === Infinity ? -1 : next;
  }

  /** Time passes: arm new ttls; as primary, start session clocks, and order what is due. */
  time(now: number): void {
    const store = this.ctx.store;
    const leases = store.leases;
    leases.arm(now);
    const fresh = leases.takeFresh();
    if (!this.observe()) return this.links.forget();
    if (this.promoted) {
      this.promoted = false;
      this.links.restart(now, leases);
    } else {
      for (const c of fresh) this.links.start(c, now, leases);
      this.links.stamp(now, leases);
    }
    const keys = this.keys;
    leases.due(now, MAX_EXPIRIES_PER_STEP, keys);
    for (const key of keys) this.order(internal(TTL_CLIENT, store.index + 1, 'delete', key));
    if (keys.length > 0) this.ctx.log('debug', `expired ${keys.length} key(s) (ttlMs)`, { first: keys[0] });
    keys.length = 0;
    const ended = this.ended;
    this.links.due(now, leases, ended);
    for (const client of ended) this.endSession(client);
    ended.length = 0;
  }

  /** Delete every key of the session, as atomic commits of up to MAX_ATOMIC_OPS keys. */
  private endSession(client: string): void {
    const s = this.ctx.store.leases.session(client);
    if (s === undefined) return;
    const all = [...s.keys];
    this.ctx.log('info', 'session ended: deleting its ephemeral keys', { client, keys: all.length, sessionTtlMs: s.ttlMs });
    for (let i = 0; i < all.length; i += MAX_ATOMIC_OPS) {
      const req = internal(SESSION_CLIENT, this.ctx.store.index + 1, 'atomic', '');
      req.ops = all.slice(i, i + MAX_ATOMIC_OPS).map((k): ['delete', string] => ['delete', k]);
      this.order(req);
    }
  }
}

function internal(client: string, seq: number, op: 'delete' | 'atomic', key: string): ReqMsg {
  return { type: 'req', client, seq, ack: seq, op, key };
}
