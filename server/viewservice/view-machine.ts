/**
 * The view service's decisions, as a deterministic machine (STYLE §1, §2). SPEC §2:
 *
 *  1. Replicas ping every pingInterval with the latest viewnum they know (0 after a start).
 *     A replica is dead after deadPings intervals without a ping, at once when its link
 *     closes, or when it pings with a new incarnation, or when a slot holder whose previous
 *     ping carried a view number pings viewnum 0 (a restart lost its state). A replica just
 *     named in a view it has not learned yet still pings 0, and is not dead for that.
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
 * Restarts of the view service itself (docs/VIEW-SERVICE-RESTART.md):
 *  - With a `storage`, every view (and its acknowledgement) is saved BEFORE it is committed, so
 *    nothing is announced that is not on disk. A machine built over a saved state resumes
 *    from it: the holders count as alive until deadPings from the start, like any server
 *    that just pinged; a holder that pings with a new incarnation lost its state (as ever).
 *  - Without a saved state the machine first RECOVERS: it forms no view while it collects the
 *    replicas' reports (the view each knows, with holders, role, initialised) for a window of
 *    deadPings × pingInterval, and until every holder of the highest reported view has
 *    reported (or proved it restarted). Then it adopts that view (acknowledged only if its
 *    primary acknowledged it, or its backup installed its transfer) and goes on by the rules
 *    above; if nobody knows any view it is a fresh cluster. A SPEC-only first ping (no
 *    report) means a fresh cluster at once, exactly as SPEC §2.2 says.
 *  - A report of a view above the current one (a stale data dir, a replica that came back
 *    late) means the machine is behind: it recovers again. New views are always numbered
 *    above every viewnum any replica reported, so a number is never reused.
 *
 * No timers, no I/O, no logging: time comes from the injected clock, and tick() is called by
 * the shell every pingInterval. Effects go to an outbox (takeNewView, takeEvents).
 */
import type { Clock } from '../../common/clock';
import { VIEW0, NO_HOLDERS, makeView } from '../../common/view';
import type { ReplicaId, View, ViewHolders } from '../../common/view';
import type { PersistedView, ReplicaReport, ViewStorage } from '../../common/recovery';
import type { DeathReason, RecoveryReason, ViewMachineEvent, ViewMachineOptions, ViewStatus } from './view-types';
import { planRecovery, recoveryWait, type Recovery, type RecoveryPlan } from './view-recovery';
import { ServerTable, type ServerRecord } from './server-table';

export { MAX_SERVERS } from './server-table';

export type { DeathReason, RecoveryReason, ServerStatus, ViewMachineEvent, ViewMachineOptions, ViewStatus } from './view-types';

type Slot = 'primary' | 'backup';

/** A suspected backup is not made backup again for this many deadPings periods (10 s by default). */
const SUSPECT_COOLDOWN_DEADS = 20;

/** Bound on the events outbox if the shell never drains it. */
const MAX_EVENTS = 1000;

export class ViewMachine {
  private readonly clock: Clock;
  private readonly deadAfterMs: number;
  private readonly forgetAfterMs: number;
  private readonly servers = new ServerTable((e) => this.event(e));
  private readonly isInView = (id: ReplicaId): boolean => this.inView(id);
  private readonly incarnationOf = (id: ReplicaId): string | undefined => this.servers.get(id)?.incarnation;
  private current: View = VIEW0;
  private currentHolders: ViewHolders = NO_HOLDERS;
  /** The record serial holding each slot of the current view. */
  private slotSerial: { primary: number | null; backup: number | null } = { primary: null, backup: null };
  private isAcked = false;
  private outbox: { view: View; holders: ViewHolders } | null = null;
  private events: ViewMachineEvent[] = [];
  private readonly storage: ViewStorage | null;
  private readonly recoveryWindowMs: number;
  /** The highest viewnum any replica reported knowing (or saved): new views are numbered above it. */
  private maxSeen = 0;
  private recovery: Recovery | null = null;
  private anyPing = false;

  constructor(o: ViewMachineOptions) {
    if (!(o.pingIntervalMs > 0) || !Number.isInteger(o.deadPings) || o.deadPings < 1) {
      throw new TypeError('ViewMachine: pingIntervalMs must be > 0 and deadPings a positive integer');
    }
    this.clock = o.clock;
    this.deadAfterMs = o.deadPings * o.pingIntervalMs;
    this.forgetAfterMs = o.forgetAfterMs ?? 120 * this.deadAfterMs;
    this.storage = o.storage ?? null;
    this.recoveryWindowMs = o.recoveryWindowMs ?? this.deadAfterMs;
    const saved = this.storage?.load() ?? null;
    if (saved !== null) this.resume(saved);
    else this.startRecovery('no-state', 0);
  }

  /**
   * A replica pinged (SPEC §2.1). Records liveness, takes an acknowledgement, applies a
   * restart, and changes the view if that is now allowed (SPEC §2.6).
   * @returns the view to answer with (after any change this ping caused).
   */
  ping(id: ReplicaId, incarnation: string, viewnum: number, report?: ReplicaReport): View {
    const now = this.clock.now();
    const first = !this.anyPing;
    this.anyPing = true;
    const rec = this.servers.get(id);
    if (rec === undefined) {
      this.servers.register(id, incarnation, now, this.isInView);
    } else if (rec.incarnation !== incarnation) {
      // A new process under the same id: the old incarnation is dead (SPEC §2.1).
      if (rec.alive) this.event({ kind: 'dead', id, incarnation: rec.incarnation, reason: 'new-incarnation' });
      this.servers.register(id, incarnation, now, this.isInView);
    } else if (this.restartedHolder(rec, viewnum, report)) {
      // The holder of a slot starting over: it lost its state, so the holder is dead; the
      // process is a fresh idle server from now on (SPEC §2.1, §2.4).
      this.event({ kind: 'dead', id, incarnation, reason: 'restarted' });
      this.servers.register(id, incarnation, now, this.isInView);
    } else {
      rec.lastPing = now;
      if (!rec.alive) {
        // Back in its slot if it still holds one with its state (SPEC §2.4), else live idle (§2.8).
        rec.alive = true;
        this.event({ kind: 'revived', id, incarnation });
      }
    }
    (this.servers.get(id) as ServerRecord).lastViewnum = viewnum;
    if (report !== undefined) this.noteReport(id, incarnation, viewnum, report);
    if (this.recovery !== null) {
      // A SPEC §6 replica (no report) pinging first: a fresh cluster, as SPEC §2.2 says.
      if (report === undefined && first && this.recovery.reason === 'no-state') this.finishRecovery({ kind: 'fresh' });
      else this.tryFinishRecovery();
      if (this.recovery !== null) return this.current;
    }
    if (!this.isAcked && viewnum === this.current.viewnum && this.current.viewnum > 0 && this.aliveIn('primary')
      && id === this.current.primary) {
      // SPEC §2.3: the primary holder acknowledged the view. Saved first: a view service
      // restarted from disk may then move on without waiting for a new acknowledgement.
      this.save(this.current, this.currentHolders, true);
      this.isAcked = true;
    }
    this.maybeChange();
    return this.current;
  }

  /** The replica's link closed: that incarnation is dead at once (SPEC §2.1). A stale incarnation's close does nothing. */
  linkClosed(id: ReplicaId, incarnation: string): void {
    this.kill(id, incarnation, 'link-closed');
  }

  /**
   * The primary reports that its backup has not applied what it forwarded for a while (the
   * link is down, or acknowledgements stopped, e.g. a partition between the two that the view
   * service cannot see). The backup counts as dead, so the usual rules replace it (SPEC §2.5)
   * instead of every operation stalling until the partition heals. Believed only from the
   * primary holder of the current, acknowledged view about that view's backup: nothing else
   * can make a replica dead this way, and no rule of SPEC §2 is bypassed (the change still
   * follows the acknowledgement).
   */
  suspect(id: ReplicaId, incarnation: string, backup: ReplicaId): void {
    if (this.recovery !== null || !this.isAcked) return;
    if (id !== this.current.primary || this.currentHolders.primary !== incarnation || !this.aliveIn('primary')) return;
    if (backup !== this.current.backup || this.currentHolders.backup === null) return;
    const rec = this.servers.get(backup);
    if (rec === undefined || rec.incarnation !== this.currentHolders.backup || !rec.alive) return;
    rec.suspectedAt = this.clock.now();
    this.kill(backup, rec.incarnation, 'suspected');
  }

  /** A graceful leave (e.g. on SIGTERM): the same as a closed link. */
  leave(id: ReplicaId, incarnation: string): void {
    this.kill(id, incarnation, 'left');
  }

  /** Called by the shell every pingInterval: expire silent servers, then try to change view. */
  tick(): void {
    this.servers.expire(this.clock.now(), this.deadAfterMs, this.forgetAfterMs, this.isInView);
    if (this.recovery !== null) this.tryFinishRecovery();
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

  /** Learning the view from the replicas' reports: no view is formed meanwhile. */
  get recovering(): boolean {
    return this.recovery !== null;
  }

  /** Why recovery has not ended yet, or null when not recovering (for /readyz and logs). */
  recoveryWait(): string | null {
    return this.recovery === null ? null : recoveryWait(this.recovery, this.clock.now(), this.incarnationOf);
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
    const servers = this.servers.status(this.clock.now());
    const v = this.current;
    return { viewnum: v.viewnum, primary: v.primary, backup: v.backup, acked: this.isAcked, servers };
  }

  // ───────────────────────── internals ─────────────────────────

  private kill(id: ReplicaId, incarnation: string, reason: DeathReason): void {
    const rec = this.servers.get(id);
    if (rec === undefined || rec.incarnation !== incarnation || !rec.alive) return;
    rec.alive = false;
    this.event({ kind: 'dead', id, incarnation, reason });
    this.maybeChange();
  }

  /**
   * SPEC §2.1: a slot holder's viewnum-0 ping means a restart only if its previous ping
   * carried a view number. A replica named in a view formed on the timer has not learned it
   * yet, and its next ping still says 0 (MIT 6.824 Test1, "Idle third server becomes backup"
   * then "Restarted primary treated as dead"): not a restart.
   * SPEC says "has already pinged the number of the view that named it"; we also count a
   * holder that knew an older view (backup of view 2 named primary of view 3 on the timer)
   * and now says 0: its state is gone all the same, and in the slot it would acknowledge the
   * new view with an empty store.
   * Only for SPEC §6 pings: a replica that reports (ours) restarts with a new incarnation, so
   * its viewnum-0 ping from the same incarnation was sent before the view reached it (the
   * answers during a recovery are view 0, so such pings can be in flight when view 1 forms).
   */
  private restartedHolder(rec: ServerRecord, viewnum: number, report: ReplicaReport | undefined): boolean {
    return viewnum === 0 && rec.lastViewnum > 0 && report === undefined && this.holdsSlot(rec);
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
    return this.servers.firstIdle(this.clock.now(), SUSPECT_COOLDOWN_DEADS * this.deadAfterMs, this.isInView);
  }

  /** SPEC §2.2–§2.5, §2.7: move to the next view if the rules allow it and it differs. */
  private maybeChange(): void {
    if (this.recovery !== null) return; // no view is formed before the current one is known
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
    // Above every number a replica reported knowing: never reuse a view number.
    const next = makeView(Math.max(v.viewnum, this.maxSeen) + 1, primary, backup);
    const holders = Object.freeze({ primary: p.incarnation, backup: b === null ? null : b.incarnation });
    this.save(next, holders, false); // before anything changes: a failed save changes nothing
    this.current = next;
    this.currentHolders = holders;
    this.slotSerial = { primary: p.serial, backup: b === null ? null : b.serial };
    this.isAcked = false;
    this.outbox = { view: this.current, holders: this.currentHolders };
  }

  private save(view: View, holders: ViewHolders, acked: boolean): void {
    if (this.storage === null) return;
    const state: PersistedView = { version: 1, view, holders, acked, maxViewnum: Math.max(this.maxSeen, view.viewnum) };
    this.storage.save(state);
  }

  // ───────────────────────── restarts ─────────────────────────

  /** Constructed over a saved state: the holders are alive until deadPings from now, like servers that just pinged. */
  private resume(s: PersistedView): void {
    const now = this.clock.now();
    this.current = makeView(s.view.viewnum, s.view.primary, s.view.backup);
    this.currentHolders = Object.freeze({ primary: s.holders.primary, backup: s.holders.backup });
    this.isAcked = s.acked;
    this.maxSeen = Math.max(s.maxViewnum, s.view.viewnum);
    for (const slot of ['primary', 'backup'] as const) {
      const id = this.current[slot];
      const incarnation = this.currentHolders[slot];
      if (id === null || incarnation === null) continue;
      this.slotSerial[slot] = this.servers.add(id, incarnation, now).serial;
    }
    this.event({ kind: 'resumed', view: this.current, acked: this.isAcked });
  }

  private startRecovery(reason: RecoveryReason, viewnum: number): void {
    this.recovery = { reason, until: this.clock.now() + this.recoveryWindowMs, reports: new Map() };
    this.event({ kind: 'recovering', reason, viewnum });
  }

  private noteReport(id: ReplicaId, incarnation: string, viewnum: number, report: ReplicaReport): void {
    const known = report.view.viewnum;
    if (known > this.maxSeen) this.maxSeen = known;
    // A replica knows a view above ours, with holders: our state is behind (lost, or a stale
    // data dir). Views it knows were acted on; ours may be unknown to it: learn again.
    if (this.recovery === null && report.holders !== null && known > this.current.viewnum) this.startRecovery('behind', known);
    this.recovery?.reports.set(id, { incarnation, viewnum, report });
  }

  private tryFinishRecovery(): void {
    const r = this.recovery as Recovery;
    if (this.clock.now() < r.until) return;
    const plan = this.recoveryPlan();
    if (plan.kind !== 'wait') this.finishRecovery(plan);
  }

  private recoveryPlan(): RecoveryPlan {
    return planRecovery(this.recovery as Recovery, this.incarnationOf);
  }

  private finishRecovery(plan: Exclude<RecoveryPlan, { kind: 'wait' }>): void {
    const reports = (this.recovery as Recovery).reports.size;
    if (plan.kind === 'adopt') {
      const { view, holders, acked } = plan;
      const v = makeView(view.viewnum, view.primary, view.backup);
      const h = Object.freeze({ primary: holders.primary, backup: holders.backup });
      this.save(v, h, acked);
      this.current = v;
      this.currentHolders = h;
      this.isAcked = acked;
      // A holder whose id now pings with another incarnation restarted: its slot is held by nobody alive.
      this.slotSerial = { primary: this.servers.serialOf(v.primary, h.primary), backup: this.servers.serialOf(v.backup, h.backup) };
      this.outbox = { view: v, holders: h };
    }
    this.recovery = null;
    this.event({ kind: 'recovered', view: this.current, acked: this.isAcked, reports });
  }

  private event(e: ViewMachineEvent): void {
    if (this.events.length >= MAX_EVENTS) this.events.shift();
    this.events.push(e);
  }
}
