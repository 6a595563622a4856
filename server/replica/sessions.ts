/**
 * SPEC §10, ephemeral keys: which client sessions have a link to this replica, and since
 * when a session that owns keys has had none. Not replicated: links are this process's own
 * (a link to the primary counts as alive while it is open), and a new primary starts every
 * session's clock at its promotion (Expiry.time), so a client that follows the failover in
 * time keeps its keys. Which keys a session owns, and its ttl, ARE replicated (leases.ts).
 *
 * A link belongs to a session once it said `hello {client}` (the client library sends one on
 * every new primary link once it has made an ephemeral put). The time a session lost its last
 * link is the next time input after the close (a close carries no time: Ready.wakeAt asks for
 * one at once), so a session never ends early by the age of the last tick. CORE: no I/O.
 */
import type { ConnId } from './replica-io';
import type { Leases } from './leases';
import { DeadlineHeap } from './deadline-heap';

export class SessionLinks {
  /** conn → the client whose session it belongs to (its last hello). */
  private byConn = new Map<ConnId, string>();
  /** client → its open links here. */
  private open = new Map<string, number>();
  /** A session that owns keys and has no link → when its clock started. */
  private since = new Map<string, number>();
  private heap = new DeadlineHeap();
  /** Clients whose last link closed since the last time input. */
  private lost: string[] = [];

  /** A time input is wanted now (closed links to stamp). */
  get needsTime(): boolean { return this.lost.length !== 0; }
  /** The earliest session deadline (perhaps stale), or Infinity. */
  get nextDeadline(): number { return this.heap.peek(); }
  linked(client: string): boolean { return this.open.has(client); }
  /** When the clock of `client`'s session started (undefined: it has a link, or owns nothing). */
  sinceOf(client: string): number | undefined { return this.since.get(client); }

  /** `hello {client}` on a link: the session has a link again; its clock stops. */
  hello(conn: ConnId, client: string): void {
    const prev = this.byConn.get(conn);
    if (prev === client) return;
    if (prev !== undefined) this.unlink(prev);
    this.byConn.set(conn, client);
    this.open.set(client, (this.open.get(client) ?? 0) + 1);
    this.since.delete(client); // (its heap entry is now stale)
  }

  closed(conn: ConnId): void {
    const client = this.byConn.get(conn);
    if (client === undefined) return;
    this.byConn.delete(conn);
    this.unlink(client);
  }

  private unlink(client: string): void {
    const n = (this.open.get(client) ?? 1) - 1;
    if (n > 0) {
      this.open.set(client, n);
    } else {
      this.open.delete(client);
      this.lost.push(client);
    }
  }

  /** Start the clock of a session that owns keys and has no link, unless it runs already. */
  start(client: string, now: number, leases: Leases): void {
    const s = leases.session(client);
    if (s === undefined || this.open.has(client) || this.since.has(client)) return;
    this.since.set(client, now);
    this.heap.push(now + s.ttlMs, client);
  }

  /** Time passes: the sessions whose last link closed meanwhile start their clocks now. */
  stamp(now: number, leases: Leases): void {
    if (this.lost.length === 0) return;
    for (const c of this.lost) this.start(c, now, leases);
    this.lost = [];
    if (this.heap.size > 2 * this.since.size + 1024) this.compact(leases);
  }

  /** Promoted to primary: every session without a link here starts its clock now. */
  restart(now: number, leases: Leases): void {
    this.lost = [];
    this.since.clear();
    this.heap.clear();
    for (const [client] of leases.clients()) this.start(client, now, leases);
  }

  /** Not primary: nothing to time (a promotion restarts every clock). */
  forget(): void {
    this.lost = [];
  }

  /** Sessions whose ttl without a link has passed by `now`, into `out`. */
  due(now: number, leases: Leases, out: string[]): void {
    while (this.heap.size > 0 && this.heap.peek() <= now) {
      const at = this.heap.peek();
      const client = this.heap.peekName();
      this.heap.pop();
      const since = this.since.get(client);
      const s = leases.session(client);
      if (since === undefined || this.open.has(client)) continue; // a link again (stale entry)
      if (s === undefined) { this.since.delete(client); continue; } // its keys are gone already
      if (since + s.ttlMs > at) { this.heap.push(since + s.ttlMs, client); continue; } // its ttl grew
      this.since.delete(client);
      out.push(client);
    }
  }

  private compact(leases: Leases): void {
    const live = new Map<string, number>();
    for (const [c, t] of this.since) live.set(c, t + (leases.session(c)?.ttlMs ?? 0));
    this.heap.compact(live);
  }
}
