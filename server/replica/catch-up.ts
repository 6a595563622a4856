/**
 * Catch-up by log suffix (part of the replica core; SPEC §9, docs/DURABILITY.md §9). Only a
 * durable replica (--data-dir) has one.
 *
 * A **lineage** names one orderer's history: a fresh id each time a replica starts ordering
 * as primary (a view that makes it primary, or a restart from disk as primary), with the
 * log index it started at. A replica's list `[[id, start], …]` (oldest first) says whose
 * history its ops are: ops start_k+1 … start_k+1 were ordered under id_k, the last entry's
 * up to its current index. A backup takes its primary's list with the state (a transfer,
 * or a suffix). Claim: a replica whose position is (L, j) holds exactly the first j ops of
 * L's history (the orderer of L applied them in that order and forwarded nothing else).
 *
 * The rule (`plan`, Raft's (term, index) match): a backup at (L, j) may get only the ops
 * after j from a primary whose list has L and whose history agrees with L's up to j, i.e.
 * j ≤ where L ends in the primary's list, and whose `recent` ops still reach back to j+1.
 * Otherwise a full transfer. A primary that restarts from disk starts a new lineage at the
 * index it recovered, so a backup that had ops the primary lost (the primary's log ended
 * earlier) is past where the old lineage ends in the primary's list: full transfer.
 *
 * `recent` is the tail of the ops this replica applied, in memory, bounded in bytes: the
 * fwd batches as logged (the primary's) or received (the backup's), and those recovered
 * from disk. It must be exactly the store's history: reset when a transfer replaces the
 * store.
 */
import type { FwdMsg, ReqMsg } from '../../common/messages';
import { approxBytes, reqBytes } from './pending-log';

/** [lineage id, the log index its orderer started at]. */
export type LineageEntry = [string, number];
/** A backup's answer to a probe: its lineage and last op index (lineage null: no history to offer). */
export interface Position { lineage: string | null; index: number }

/** Lineages a list keeps (older ones are forgotten: a backup that old gets a full transfer). @default 16 */
export const MAX_LINEAGES = 16;
/** Bytes of recent ops kept for suffixes (approxBytes). @default 64 MiB */
export const RECENT_BYTES = 64 * 1024 * 1024;

/** Lineage ids `${prefix}.1`, `.2`, … (tests; a real replica's are random: a restart must never repeat one). */
export const counterIds = (prefix: string): (() => string) => { let n = 0; return () => `${prefix}.${++n}`; };

interface Batch { index: number; ops: readonly ReqMsg[]; bytes: number }

export class CatchUp {
  private list: LineageEntry[] = [];
  private batches: Batch[] = [];
  private head = 0;
  /** recent holds the ops base+1 … last. */
  private base = 0;
  private last = 0;
  private bytes = 0;

  constructor(private readonly newId: () => string, private readonly maxBytes = RECENT_BYTES) {}

  /** My lineage list (oldest first), a copy. */
  get lineage(): LineageEntry[] { return this.list.map((e) => [e[0], e[1]]); }
  /** The lineage of my last op, null before any. */
  get current(): string | null { return this.list.length === 0 ? null : this.list[this.list.length - 1][0]; }
  /** The first op index recent still holds (base + 1), and the last. */
  get recentFrom(): number { return this.base + 1; }
  get recentTo(): number { return this.last; }

  /**
   * My position for a probe: the lineage that ordered my last op `index` (the last one that
   * started before it: a lineage begun at `index` ordered nothing yet), or null if none.
   */
  position(index: number): Position {
    for (let k = this.list.length - 1; k >= 0; k--) if (this.list[k][1] < index) return { lineage: this.list[k][0], index };
    return { lineage: this.current, index };
  }

  /** I start ordering at `index` (became primary): a new lineage. Returns the list to persist. */
  begin(index: number): LineageEntry[] {
    this.list.push([this.newId(), index]);
    if (this.list.length > MAX_LINEAGES) this.list.splice(0, this.list.length - MAX_LINEAGES);
    return this.lineage;
  }

  /** My history is now my primary's (a transfer installed, or a suffix begins): its list. */
  adopt(list: readonly LineageEntry[]): void {
    this.list = list.slice(-MAX_LINEAGES).map((e) => [e[0], e[1]]);
  }

  /** Where lineage `id` ends in my history (my `index` for the current one), or -1 if I do not know it. */
  endOf(id: string, index: number): number {
    for (let k = this.list.length - 1; k >= 0; k--) {
      if (this.list[k][0] === id) return k === this.list.length - 1 ? index : this.list[k + 1][1];
    }
    return -1;
  }

  /**
   * The rule: the op index after which a suffix serves a backup at `pos`, or null for a
   * full transfer (lineage unknown or null, histories part before `pos.index`, or the ops
   * after it no longer in memory). `index` is my last op.
   */
  plan(pos: Position, index: number): number | null {
    if (pos.lineage === null || pos.index > index) return null;
    if (pos.index > this.endOf(pos.lineage, index)) return null;
    if (pos.index < index && (pos.index < this.base || this.last < index)) return null;
    return pos.index;
  }

  /** Ops I applied (in order; a resend's overlap is skipped; a gap restarts recent after it). */
  add(m: FwdMsg): void {
    const end = m.index + m.ops.length - 1;
    if (end <= this.last) return;
    if (m.index > this.last + 1) this.reset(m.index - 1);
    let bytes = 0;
    for (let i = 0; i < m.ops.length; i++) bytes += approxBytes(m.ops[i]);
    this.batches.push({ index: m.index, ops: m.ops, bytes });
    this.bytes += bytes;
    this.last = end;
    while (this.bytes > this.maxBytes && this.head < this.batches.length - 1) {
      const b = this.batches[this.head++];
      this.bytes -= b.bytes;
      this.base = this.batches[this.head].index - 1;
    }
    if (this.head > 64 && this.head * 2 > this.batches.length) {
      this.batches = this.batches.slice(this.head);
      this.head = 0;
    }
  }

  /** The store was replaced (a transfer installed at `index`): recent starts after it. */
  reset(index: number): void {
    this.batches = [];
    this.head = 0;
    this.bytes = 0;
    this.base = this.last = index;
  }

  /** fwd frames of `viewnum` with the ops from+1 … to (all in recent: plan said so), at most `budget` bytes each. */
  frames(from: number, to: number, viewnum: number, budget: number): FwdMsg[] {
    const out: FwdMsg[] = [];
    let cur: FwdMsg | null = null;
    let bytes = 0;
    for (let k = this.head; k < this.batches.length; k++) {
      const b = this.batches[k];
      for (let i = Math.max(0, from + 1 - b.index); i < b.ops.length && b.index + i <= to; i++) {
        const n = reqBytes(b.ops[i]);
        if (cur === null || (cur.ops.length > 0 && bytes + n > budget)) {
          cur = { type: 'fwd', viewnum, index: b.index + i, ops: [] };
          out.push(cur);
          bytes = 0;
        }
        cur.ops.push(b.ops[i]);
        bytes += n;
      }
    }
    return out;
  }
}
