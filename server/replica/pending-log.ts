/**
 * The primary's log of ordered, unanswered entries (part of the replica core): what each
 * holds, and how a run of them becomes one fwd frame (PrimaryRole.flush: forwarded to the
 * backup and, durable, logged; docs/DURABILITY.md §8).
 */
import type { ReqMsg, ResMsg, FwdMsg } from '../../common/messages';
import { utf8Length } from '../../common/limits';
import { jsonStringBytes } from './kv-state';
import type { WriteEvent } from './write-history';
import type { Watch, WatchPush } from './watch-registry';
import type { ConnId } from './replica-io';

/**
 * A log entry ordered by the primary, waiting for the backup: a client request (`res` is
 * its reply; `event` the write it made, if any) or a watch registration (`watch`).
 */
export interface Pending {
  index: number;
  conn: ConnId;
  req: ReqMsg;
  /** The client's frame of `req`, forwarded as is. */
  raw?: string;
  res: ResMsg | null;
  /** The write it made, or an atomic commit's writes (SPEC §10: published together). */
  event?: WriteEvent | readonly WriteEvent[] | null;
  watch?: { w: Watch; batch: WatchPush[] };
}

/** One frame's worth of pending entries from a position: the fwd, the clients' frames of its ops, and the next position. */
export interface FwdBatch { msg: FwdMsg; raws: (string | undefined)[]; end: number }

/** The entries from pending[i] on that fit `budget` bytes (at least one), as one fwd of `viewnum`. */
export function fwdBatch(pending: readonly Pending[], i: number, budget: number, viewnum: number): FwdBatch {
  const ops: ReqMsg[] = [];
  const raws: (string | undefined)[] = [];
  const index = pending[i].index;
  let bytes = 0;
  for (; i < pending.length; i++) {
    const p = pending[i];
    const n = p.raw === undefined ? reqBytes(p.req) : 16 + utf8Length(p.raw);
    if (ops.length > 0 && bytes + n > budget) break;
    ops.push(p.req);
    raws.push(p.raw);
    bytes += n;
  }
  return { msg: { type: 'fwd', viewnum, index, ops }, raws, end: i };
}

/** What a waiting request holds, roughly: O(1), unlike reqBytes (which walks the strings). */
export function approxBytes(r: ReqMsg): number {
  return 128 + r.client.length + r.key.length + (r.value === undefined ? 0 : r.value.length);
}

/** Upper bound of a req's JSON size in a fwd frame, without encoding it. */
export function reqBytes(r: ReqMsg): number {
  return 128 + jsonStringBytes(r.client) + jsonStringBytes(r.key) + (r.value === undefined ? 0 : jsonStringBytes(r.value));
}
