/**
 * The view machine's records of the servers that pinged (SPEC §2.1, §2.8): one record per id,
 * for its current incarnation, in registration order (Map insertion order). Pure: time is
 * passed in, and what happens to a record is reported through `event` for the shell to log.
 */
import type { ReplicaId } from '../../common/view';
import type { ServerStatus, ViewMachineEvent } from './view-types';

export interface ServerRecord {
  readonly id: ReplicaId;
  readonly incarnation: string;
  /** Unique per record: tells a restarted process from the holder even with the same incarnation. */
  readonly serial: number;
  lastPing: number;
  /**
   * The viewnum of this record's latest ping. A replica's known view never goes back to 0
   * while it runs, so a 0 after a non-zero number means it restarted (SPEC §2.1).
   */
  lastViewnum: number;
  alive: boolean;
  /** When its primary last reported it unable to apply forwards (ViewMachine.suspect()). */
  suspectedAt?: number;
}

/** Most server records kept; beyond it the oldest dead ones outside the view are forgotten. */
export const MAX_SERVERS = 1024;

/** The slot serial of a holder that is known to be gone (it restarted): matches no record. */
const GONE = -1;

export class ServerTable {
  private readonly records = new Map<ReplicaId, ServerRecord>();
  private nextSerial = 1;

  constructor(private readonly event: (e: ViewMachineEvent) => void) {}

  get(id: ReplicaId): ServerRecord | undefined {
    return this.records.get(id);
  }

  /**
   * A fresh, alive, idle record at the end of the registration order (a restarted process
   * queues behind servers that were already waiting). `inView` protects the view's records
   * when the table is full.
   */
  register(id: ReplicaId, incarnation: string, now: number, inView: (id: ReplicaId) => boolean): ServerRecord {
    const rec = this.add(id, incarnation, now);
    this.event({ kind: 'joined', id, incarnation });
    if (this.records.size > MAX_SERVERS) this.forgetOldestDead(inView);
    return rec;
  }

  /** A record without a `joined` event (a holder resumed from a saved view). */
  add(id: ReplicaId, incarnation: string, now: number): ServerRecord {
    this.records.delete(id);
    const rec: ServerRecord = { id, incarnation, serial: this.nextSerial++, lastPing: now, lastViewnum: 0, alive: true };
    this.records.set(id, rec);
    return rec;
  }

  /**
   * Once per tick: a server silent for `deadAfterMs` is dead (SPEC §2.1); a dead one outside
   * the view silent for `forgetAfterMs` is forgotten (if it pings again it registers anew).
   */
  expire(now: number, deadAfterMs: number, forgetAfterMs: number, inView: (id: ReplicaId) => boolean): void {
    for (const rec of [...this.records.values()]) {
      const silentMs = now - rec.lastPing;
      if (rec.alive && silentMs >= deadAfterMs) {
        rec.alive = false;
        this.event({ kind: 'dead', id: rec.id, incarnation: rec.incarnation, reason: 'silent' });
      } else if (!rec.alive && silentMs >= forgetAfterMs && !inView(rec.id)) {
        this.records.delete(rec.id);
        this.event({ kind: 'forgotten', id: rec.id, incarnation: rec.incarnation });
      }
    }
  }

  /**
   * The earliest-registered alive server not in the view (SPEC §2.5). A backup its primary
   * could not reach waits out `cooldownMs` before it is made backup again: otherwise a lasting
   * partition between the two would bring it straight back, and the new view could never be
   * acknowledged (its transfer cannot arrive).
   */
  firstIdle(now: number, cooldownMs: number, inView: (id: ReplicaId) => boolean): ReplicaId | null {
    for (const rec of this.records.values()) {
      if (!rec.alive || inView(rec.id)) continue;
      if (rec.suspectedAt !== undefined && now - rec.suspectedAt < cooldownMs) continue;
      return rec.id;
    }
    return null;
  }

  /**
   * The serial to hold a slot for `id` with `incarnation`: its record's, or GONE when the id
   * now pings with another incarnation (it restarted: nobody alive holds the slot).
   */
  serialOf(id: ReplicaId | null, incarnation: string | null): number | null {
    if (id === null) return null;
    const rec = this.records.get(id);
    return rec !== undefined && rec.incarnation === incarnation ? rec.serial : GONE;
  }

  /** The rows of GET /view (SPEC §5). */
  status(now: number): ServerStatus[] {
    const rows: ServerStatus[] = [];
    for (const rec of this.records.values()) {
      rows.push({ id: rec.id, alive: rec.alive, lastPingMs: Math.max(0, now - rec.lastPing), incarnation: rec.incarnation });
    }
    return rows;
  }

  /**
   * Bound the records: pings under ever new ids (a misconfigured fleet, or a fuzzer holding
   * the cluster token) would otherwise pile up dead records until forgetAfterMs. The oldest
   * dead records outside the view go first; live ones and the view's are kept.
   */
  private forgetOldestDead(inView: (id: ReplicaId) => boolean): void {
    for (const rec of this.records.values()) {
      if (this.records.size <= MAX_SERVERS) return;
      if (rec.alive || inView(rec.id)) continue;
      this.records.delete(rec.id);
      this.event({ kind: 'forgotten', id: rec.id, incarnation: rec.incarnation });
    }
  }
}
