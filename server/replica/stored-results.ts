/**
 * The results the store records (the at-most-once table's entries, SPEC §1 exactly-once) and
 * the helpers that build and bound them. DETERMINISTIC: imports only from common/.
 */
import type { StoredResult, OpResult } from '../../common/messages';

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

export function ok(value: OpResult, rev: number): StoredResult {
  return { ok: true, value, rev };
}

/** A stale ifRevision (SPEC §10): nothing written; the key's current revision goes back. */
export function conflict(key: string, expected: number, current: number): StoredResult {
  return { ok: false, code: 'CONFLICT', message: `${JSON.stringify(key.length > 64 ? key.slice(0, 64) + '…' : key)} is at revision ${current}, not ${expected}; nothing was written`, revision: current };
}

export function tooLarge(message: string): StoredResult {
  return { ok: false, code: 'TOO_LARGE', message };
}
