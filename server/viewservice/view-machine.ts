/**
 * The view service's decisions, as a deterministic machine (STYLE §1, §2). SPEC §2:
 *
 *  1. Replicas ping every pingInterval with the latest viewnum they know (0 after a start).
 *     A replica is dead after deadPings intervals without a ping, at once when its link
 *     closes, or when it pings with a new incarnation, or with viewnum 0 after having been
 *     in the view (a restart lost its state).
 *  2. The first replica to ping in view 0 becomes primary of view 1.
 *  3. View i → i+1 only after the primary of view i acknowledged it (pinged with viewnum i);
 *     until then view i stays, whatever fails.
 *  4. The primary of view i+1 is the primary or the backup of view i; an idle replica never
 *     becomes primary. Primary dead and no backup: stuck until that same primary (same
 *     incarnation, state intact) returns; a restarted primary counts as dead.
 *  5. Primary dies: backup → primary, an idle replica (if any) → backup. Backup dies: an
 *     idle replica (or none) → backup. No backup and an idle replica: it becomes backup.
 *  6. A change happens inside the input that allows it (the first ping, the acknowledging
 *     ping, an idle replica's ping); deaths are found on tick() and on linkClosed().
 *  7. Consecutive views differ in primary or backup; viewnum never grows otherwise.
 *  8. A replica outside the view that was declared dead and pings again is a live idle one.
 *
 * How "dead" is tracked: servers are kept by id with their current incarnation. A view slot
 * is held by one *record* (one incarnation of one id, `holders` says which). The holder is
 * alive in its slot only while its record is still the id's current record and alive: a new
 * incarnation, or a viewnum-0 ping from the holder, replaces the record, so the slot's holder
 * is dead from then on even though the id is alive again (as a fresh idle server).
 *
 * Idle candidates are alive servers whose id is not the current view's primary or backup,
 * chosen in registration order (Map insertion order). A server that re-registers (new
 * incarnation, or a viewnum-0 restart) moves to the END of that order: a restarted process
 * queues behind servers that were already waiting.
 *
 * No timers, no I/O, no logging: time comes from the injected clock, and tick() is called by
 * the shell every pingInterval. Effects go to an outbox (takeNewView, takeEvents).
 */
import type { Clock } from '../../common/clock';
import { VIEW0, NO_HOLDERS, makeView } from '../../common/view';
import type { ReplicaId, View, ViewHolders } from '../../common/view';

export interface ViewMachineOptions {
  /** @default 100 (DEFAULTS.pingIntervalMs) */
  readonly pingIntervalMs: number;
  /** A server is dead after this many intervals without a ping. @default 5 */
  readonly deadPings: number;
  readonly clock: Clock;
  /**
   * A dead server outside the current view is forgotten after this long without a ping,
   * so records don't pile up as replicas come and go. If it pings again it registers anew
   * (a live idle server, SPEC §2.8). @default 120 × deadPings × pingIntervalMs (60 s)
   */
  readonly forgetAfterMs?: number;
}

/** One row of GET /view (SPEC §5), plus the incarnation for operators. */
export interface ServerStatus {
  readonly id: ReplicaId;
  readonly alive: boolean;
  /** Milliseconds since the last ping, by the machine's clock. */
  readonly lastPingMs: number;
  readonly incarnation: string;
}

export interface ViewStatus {
  readonly viewnum: number;
  readonly primary: ReplicaId | null;
  readonly backup: ReplicaId | null;
  readonly acked: boolean;
  readonly servers: ServerStatus[];
}

/** What happened to servers, for the shell to log (the core does not log, STYLE §11). */
export type ViewMachineEvent =
  | { readonly kind: 'joined'; readonly id: ReplicaId; readonly incarnation: string }
  | { readonly kind: 'revived'; readonly id: ReplicaId; readonly incarnation: string }
  | { readonly kind: 'dead'; readonly id: ReplicaId; readonly incarnation: string; readonly reason: DeathReason }
  | { readonly kind: 'forgotten'; readonly id: ReplicaId; readonly incarnation: string };

export type DeathReason = 'silent' | 'link-closed' | 'left' | 'new-incarnation' | 'restarted';

interface ServerRecord {
  readonly id: ReplicaId;
  readonly incarnation: string;
  /** Unique per record: tells a restarted process from the holder even with the same incarnation. */
  readonly serial: number;
  lastPing: number;
  alive: boolean;
}

type Slot = 'primary' | 'backup';

/** Bound on the events outbox if the shell never drains it. */
const MAX_EVENTS = 1000;

export class ViewMachine {
  private readonly clock: Clock;
  private readonly deadAfterMs: number;
  private readonly forgetAfterMs: number;
  private readonly servers = new Map<ReplicaId, ServerRecord>();
  private nextSerial = 1;
  private current: View = VIEW0;
  private currentHolders: ViewHolders = NO_HOLDERS;
  /** The record serial holding each slot of the current view. */
  private slotSerial: { primary: number | null; backup: number | null } = { primary: null, backup: null };
  private isAcked = false;
  private outbox: { view: View; holders: ViewHolders } | null = null;
  private events: ViewMachineEvent[] = [];

  constructor(o: ViewMachineOptions) {
    if (!(o.pingIntervalMs > 0) || !Number.isInteger(o.deadPings) || o.deadPings < 1) {
      throw new TypeError('ViewMachine: pingIntervalMs must be > 0 and deadPings a positive integer');
    }
    this.clock = o.clock;
    this.deadAfterMs = o.deadPings * o.pingIntervalMs;
    this.forgetAfterMs = o.forgetAfterMs ?? 120 * this.deadAfterMs;
  }

  /**
   * A replica pinged (SPEC §2.1). Records liveness, takes an acknowledgement, applies a
   * restart, and changes the view if that is now allowed (SPEC §2.6).
   * @returns the view to answer with (after any change this ping caused).
   */
  ping(id: ReplicaId, incarnation: string, viewnum: number): View {
    const now = this.clock.now();
    const rec = this.servers.get(id);
    if (rec === undefined) {
      this.register(id, incarnation, now);
    } else if (rec.incarnation !== incarnation) {
      // A new process under the same id: the old incarnation is dead (SPEC §2.1).
      if (rec.alive) this.event({ kind: 'dead', id, incarnation: rec.incarnation, reason: 'new-incarnation' });
      this.register(id, incarnation, now);
    } else if (viewnum === 0 && this.holdsSlot(rec)) {
      // The holder of a slot starting over: it lost its state, so the holder is dead; the
      // process is a fresh idle server from now on (SPEC §2.1, §2.4).
      this.event({ kind: 'dead', id, incarnation, reason: 'restarted' });
      this.register(id, incarnation, now);
    } else {
      rec.lastPing = now;
      if (!rec.alive) {
        // Back in its slot if it still holds one with its state (SPEC §2.4), else live idle (§2.8).
        rec.alive = true;
        this.event({ kind: 'revived', id, incarnation });
      }
    }
    if (viewnum === this.current.viewnum && this.current.viewnum > 0 && this.aliveIn('primary')
      && id === this.current.primary) {
      this.isAcked = true; // SPEC §2.3: the primary holder acknowledged the view
    }
    this.maybeChange();
    return this.current;
  }

  /** The replica's link closed: that incarnation is dead at once (SPEC §2.1). A stale incarnation's close does nothing. */
  linkClosed(id: ReplicaId, incarnation: string): void {
    this.kill(id, incarnation, 'link-closed');
  }

  /** A graceful leave (e.g. on SIGTERM): the same as a closed link. */
  leave(id: ReplicaId, incarnation: string): void {
    this.kill(id, incarnation, 'left');
  }

  /** Called by the shell every pingInterval: expire silent servers, then try to change view. */
  tick(): void {
    const now = this.clock.now();
    for (const rec of [...this.servers.values()]) {
      const silentMs = now - rec.lastPing;
      if (rec.alive && silentMs >= this.deadAfterMs) {
        rec.alive = false;
        this.event({ kind: 'dead', id: rec.id, incarnation: rec.incarnation, reason: 'silent' });
      } else if (!rec.alive && silentMs >= this.forgetAfterMs && !this.inView(rec.id)) {
        this.servers.delete(rec.id);
        this.event({ kind: 'forgotten', id: rec.id, incarnation: rec.incarnation });
      }
    }
    this.maybeChange();
  }

  /** The current view. */
  get view(): View {
    return this.current;
  }

  /** The incarnations of view.primary / view.backup as put into the view. */
  get holders(): ViewHolders {
    return this.currentHolders;
  }

  /** Whether the primary of the current view has acknowledged it (SPEC §2.3). */
  get acked(): boolean {
    return this.isAcked;
  }

  /** Outbox (SPEC §2.9): the newest view produced since the last take, or null. */
  takeNewView(): { view: View; holders: ViewHolders } | null {
    const out = this.outbox;
    this.outbox = null;
    return out;
  }

  /** Outbox of joins, deaths and revivals since the last take, oldest first (for logging). */
  takeEvents(): ViewMachineEvent[] {
    const out = this.events;
    this.events = [];
    return out;
  }

  /** For GET /view (SPEC §5). Reading it never counts as a ping. */
  status(): ViewStatus {
    const now = this.clock.now();
    const servers: ServerStatus[] = [];
    for (const rec of this.servers.values()) {
      servers.push({ id: rec.id, alive: rec.alive, lastPingMs: Math.max(0, now - rec.lastPing), incarnation: rec.incarnation });
    }
    const v = this.current;
    return { viewnum: v.viewnum, primary: v.primary, backup: v.backup, acked: this.isAcked, servers };
  }

  // ───────────────────────── internals ─────────────────────────

  /** A fresh, alive, idle record at the end of the registration order. */
  private register(id: ReplicaId, incarnation: string, now: number): void {
    this.servers.delete(id);
    this.servers.set(id, { id, incarnation, serial: this.nextSerial++, lastPing: now, alive: true });
    this.event({ kind: 'joined', id, incarnation });
  }

  private kill(id: ReplicaId, incarnation: string, reason: DeathReason): void {
    const rec = this.servers.get(id);
    if (rec === undefined || rec.incarnation !== incarnation || !rec.alive) return;
    rec.alive = false;
    this.event({ kind: 'dead', id, incarnation, reason });
    this.maybeChange();
  }

  private holdsSlot(rec: ServerRecord): boolean {
    return this.holds('primary', rec) || this.holds('backup', rec);
  }

  private holds(slot: Slot, rec: ServerRecord): boolean {
    return this.current[slot] === rec.id && this.slotSerial[slot] === rec.serial;
  }

  /** "Alive in its slot": the id's current record is the holder and is alive. */
  private aliveIn(slot: Slot): boolean {
    const id = this.current[slot];
    if (id === null) return false;
    const rec = this.servers.get(id);
    return rec !== undefined && rec.alive && rec.incarnation === this.currentHolders[slot] && this.holds(slot, rec);
  }

  private inView(id: ReplicaId): boolean {
    return id === this.current.primary || id === this.current.backup;
  }

  /** The earliest-registered alive server that is not named in the current view. */
  private firstIdle(): ReplicaId | null {
    for (const rec of this.servers.values()) {
      if (rec.alive && !this.inView(rec.id)) return rec.id;
    }
    return null;
  }

  /** SPEC §2.2–§2.5, §2.7: move to the next view if the rules allow it and it differs. */
  private maybeChange(): void {
    const v = this.current;
    if (v.viewnum === 0) {
      const first = this.firstIdle();
      if (first !== null) this.install(first, null); // SPEC §2.2
      return;
    }
    if (!this.isAcked) return; // SPEC §2.3
    if (!this.aliveIn('primary')) {
      // SPEC §2.4/§2.5: only the backup may take over; without a live one we stay stuck.
      if (v.backup !== null && this.aliveIn('backup')) this.install(v.backup, this.firstIdle());
      return;
    }
    if (v.backup !== null && this.aliveIn('backup')) return;
    const idle = this.firstIdle();
    // A dead backup is replaced by an idle server or by nobody; an empty slot only by an
    // idle server (SPEC §2.7: never a view equal to the current one).
    if (v.backup !== null || idle !== null) this.install(v.primary as ReplicaId, idle);
  }

  private install(primary: ReplicaId, backup: ReplicaId | null): void {
    const v = this.current;
    if (primary === v.primary && backup === v.backup) return; // SPEC §2.7 (defensive)
    const p = this.servers.get(primary) as ServerRecord;
    const b = backup === null ? null : (this.servers.get(backup) as ServerRecord);
    this.current = makeView(v.viewnum + 1, primary, backup);
    this.currentHolders = Object.freeze({ primary: p.incarnation, backup: b === null ? null : b.incarnation });
    this.slotSerial = { primary: p.serial, backup: b === null ? null : b.serial };
    this.isAcked = false;
    this.outbox = { view: this.current, holders: this.currentHolders };
  }

  private event(e: ViewMachineEvent): void {
    if (this.events.length >= MAX_EVENTS) this.events.shift();
    this.events.push(e);
  }
}
