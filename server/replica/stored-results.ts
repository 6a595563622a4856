/**
 * The results the store records (the at-most-once table's entries, SPEC §1 exactly-once), the
 * helpers that build and bound them, and the decision part of an atomic commit (SPEC §10). DETERMINISTIC: imports only from common/.
 */
import type { StoredResult, OpResult, ReqMsg } from '../../common/messages';
import { utf8Length, formatBytes } from '../../common/limits';

/** Bounds of the at-most-once table. */
export interface StoreBounds {
  /** Clients remembered; beyond it the least recently used client is forgotten. @default 100000 */
  readonly maxClients: number;
  /** Results kept per client; beyond it the lowest seqs are forgotten (they become stale). @default 10000 */
  readonly maxResultsPerClient: number;
}

export const DEFAULT_STORE_BOUNDS: StoreBounds = Object.freeze({ maxClients: 100_000, maxResultsPerClient: 10_000 });

/** One client's part of the at-most-once table. */
export interface ClientTable {
  low: number;
  results: Map<number, StoredResult>;
  /** Highest seq recorded, and whether `results` was inserted in increasing seq order (then an ack sweep can stop early). */
  lastSeq: number;
  inOrder: boolean;
}

/**
 * Too many results for one client (it never raises `ack`): forget the lowest seqs down to
 * 90% of the bound and raise `low` past them, so a retry of a forgotten seq is refused as
 * stale instead of applied twice. Amortised: one sort per 10% of the bound.
 */
export function trimResults(t: ClientTable, maxResultsPerClient: number): void {
  const seqs = [...t.results.keys()].sort((a, b) => a - b);
  const drop = seqs.length - Math.floor(maxResultsPerClient * 0.9);
  for (let i = 0; i < drop; i++) t.results.delete(seqs[i]);
  t.low = Math.max(t.low, seqs[drop - 1] + 1);
}

/** Forget the least recently used clients beyond maxClients (deterministic: LRU by applied ops). True if `last` was forgotten. */
export function evictClients(clients: Map<string, ClientTable>, maxClients: number, last: string | null): boolean {
  let lost = false;
  while (clients.size > maxClients) {
    const oldest = clients.keys().next().value as string;
    clients.delete(oldest);
    if (oldest === last) lost = true;
  }
  return lost;
}

export function ok(value: OpResult, rev: number): StoredResult {
  return { ok: true, value, rev };
}

/** A stale ifRevision (SPEC §10): nothing written; the key's current revision goes back. */
export function conflict(key: string, expected: number, current: number, named = false): StoredResult {
  const message = `${JSON.stringify(key.length > 64 ? key.slice(0, 64) + '…' : key)} is at revision ${current}, not ${expected}; nothing was written`;
  return named ? { ok: false, code: 'CONFLICT', message, revision: current, key } : { ok: false, code: 'CONFLICT', message, revision: current };
}

/** Every key an atomic commit reads or writes (a live transfer pulls them ahead first). */
export function commitKeys(req: ReqMsg): string[] {
  return [...(req.checks ?? []).map((c) => c[0]), ...(req.ops ?? []).map((o) => o[1])];
}

/**
 * Decide an atomic commit without changing anything: a failed check (CONFLICT naming its key)
 * or a value over the limit (TOO_LARGE), else the final value of each key it writes (null:
 * deleted), in the order of the keys' first writes.
 */
export function planCommit(
  req: ReqMsg, store: { get(key: string): string | undefined; revisionOf(key: string): number }, maxValueBytes: number,
): StoredResult | Map<string, string | null> {
  for (const [k, rev] of req.checks ?? []) {
    const current = store.revisionOf(k);
    if (current !== rev) return conflict(k, rev, current, true);
  }
  const next = new Map<string, string | null>();
  for (const o of req.ops ?? []) {
    const before = next.has(o[1]) ? next.get(o[1]) : store.get(o[1]);
    const value = o[0] === 'delete' ? null : (o[0] === 'append' ? before ?? '' : '') + o[2];
    if (value !== null && value.length * 3 > maxValueBytes && utf8Length(value) > maxValueBytes) {
      return tooLarge(`the commit would make a value of ${formatBytes(utf8Length(value))}; the limit is maxValueBytes = ${formatBytes(maxValueBytes)}`);
    }
    next.set(o[1], value);
  }
  return next;
}

export function tooLarge(message: string): StoredResult {
  return { ok: false, code: 'TOO_LARGE', message };
}
