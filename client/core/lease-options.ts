/**
 * SPEC §10, the client's side of `ttlMs` and ephemeral keys: the checks of a put's options
 * before anything is sent, and the request fields they become. Pure.
 */
import type { OpName, ReqMsg } from '../../common/messages';
import { UnderstudyError } from '../../common/errors';
import { MAX_TTL_MS } from '../../common/protocol/lease-checks';

/** The SPEC §10 options of a write, as the caller gave them. */
export interface LeaseOptions { ttlMs?: unknown; ephemeral?: unknown }

export const isTtlMs = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 1 && x <= MAX_TTL_MS;

/** The error for a bad `ttlMs` or `ephemeral` (put only; ttlMs an integer 1..30 days), or null. */
export function checkLeaseOptions(op: OpName, o: LeaseOptions): UnderstudyError | null {
  if (o.ttlMs === undefined && (o.ephemeral === undefined || o.ephemeral === false)) return null;
  if (op !== 'put') return new UnderstudyError('BAD_REQUEST', `${op}: ttlMs and ephemeral are for put only; nothing was sent`);
  if (o.ttlMs !== undefined && !isTtlMs(o.ttlMs)) {
    return new UnderstudyError('BAD_REQUEST', `put: ttlMs must be an integer from 1 to ${MAX_TTL_MS} (30 days) milliseconds (got ${String(o.ttlMs)}); nothing was sent`);
  }
  if (o.ephemeral !== undefined && typeof o.ephemeral !== 'boolean') return new UnderstudyError('BAD_REQUEST', `put: ephemeral must be a boolean (got ${String(o.ephemeral)}); nothing was sent`);
  return null;
}

/** The request fields of checked write options: ifRevision, ttlMs, ephemeral with this client's sessionTtlMs. */
export function leaseFields(o: { ifRevision?: number; ttlMs?: number; ephemeral?: boolean }, sessionTtlMs: number): Pick<ReqMsg, 'ifRevision' | 'ttlMs' | 'ephemeral' | 'sessionTtlMs'> {
  const f: Pick<ReqMsg, 'ifRevision' | 'ttlMs' | 'ephemeral' | 'sessionTtlMs'> = {};
  if (o.ifRevision !== undefined) f.ifRevision = o.ifRevision;
  if (o.ttlMs !== undefined) f.ttlMs = o.ttlMs;
  if (o.ephemeral === true) {
    f.ephemeral = true;
    f.sessionTtlMs = sessionTtlMs;
  }
  return f;
}
