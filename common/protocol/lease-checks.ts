/**
 * SPEC §10: the checks of a put's `ttlMs`, `ephemeral` and `sessionTtlMs`, and of the leases
 * a state transfer carries. Pure; checks.ts and decode.ts call these (they return what is
 * wrong, or null, so this file needs nothing from them).
 */
import type { ReqMsg, LeaseEntry } from '../messages';

/** The longest `ttlMs` and `sessionTtlMs`: 30 days. A longer one is BAD_REQUEST, nothing written. */
export const MAX_TTL_MS = 30 * 24 * 60 * 60 * 1000;
/** A session's ttl when an ephemeral put names none (the client's `sessionTtlMs` default). */
export const DEFAULT_SESSION_TTL_MS = 10_000;

const isMs = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 1 && x <= MAX_TTL_MS;

/** Check a req's lease fields and copy them onto `r`; the message of what is wrong, or null. */
export function leaseFault(m: Record<string, unknown>, r: ReqMsg): string | null {
  if (r.op !== 'put') return `req.ttlMs, req.ephemeral and req.sessionTtlMs are for put only (got ${r.op})`;
  if (m.ttlMs !== undefined) {
    if (!isMs(m.ttlMs)) return `req.ttlMs must be an integer from 1 to ${MAX_TTL_MS} (30 days) milliseconds (got ${String(m.ttlMs)})`;
    r.ttlMs = m.ttlMs;
  }
  if (m.ephemeral !== undefined && m.ephemeral !== true) return 'req.ephemeral must be true when present';
  if (m.sessionTtlMs !== undefined) {
    if (m.ephemeral !== true) return 'req.sessionTtlMs goes with ephemeral: true';
    if (!isMs(m.sessionTtlMs)) return `req.sessionTtlMs must be an integer from 1 to ${MAX_TTL_MS} milliseconds (got ${String(m.sessionTtlMs)})`;
    r.sessionTtlMs = m.sessionTtlMs;
  }
  if (m.ephemeral === true) r.ephemeral = true;
  return null;
}

/** xfer-data's `leases`: [key, ms left | null] or [key, ms left | null, owner, sessionTtlMs]. */
export function validLeases(x: unknown): x is LeaseEntry[] {
  if (!Array.isArray(x)) return false;
  for (const e of x) {
    if (!Array.isArray(e) || typeof e[0] !== 'string' || !(e[1] === null || (Number.isSafeInteger(e[1]) && e[1] >= 0))) return false;
    if (e.length === 4 ? !(typeof e[2] === 'string' && e[2].length > 0 && isMs(e[3])) : e.length !== 2) return false;
  }
  return true;
}
