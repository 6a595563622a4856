/**
 * The checks of what clients send (SPEC §7, §8, §10): requests, their limits, watch patterns,
 * and the ProtocolError every check returns instead of throwing. decode.ts dispatches here.
 */
import type { ReqMsg, OpName, WatchMsg, AtomicOpWire } from '../messages';
import { DEFAULT_LIMITS, Limits, utf8Length, formatBytes } from '../limits';
import { leaseFault } from './lease-checks';

export class ProtocolError {
  readonly isProtocolError = true;
  constructor(
    readonly code: 'BAD_REQUEST' | 'TOO_LARGE',
    readonly message: string,
    /** The seq of a req that was otherwise unreadable, so the reply can name it. */
    readonly seq?: number,
    /** The id of a watch that was otherwise unreadable, so the error can name it. */
    readonly id?: number,
  ) {}
}

export function isProtocolError(x: unknown): x is ProtocolError {
  return x instanceof ProtocolError;
}

export type Obj = Record<string, unknown>;

export const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x);
export const isNat = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
export const isStr = (x: unknown): x is string => typeof x === 'string';
export const isId = (x: unknown): x is string => isStr(x) && x.length > 0 && x.length <= 512;
const OPS: ReadonlySet<string> = new Set(['get', 'put', 'append', 'delete', 'getEntry', 'list', 'atomic']);
/** Checks and writes of one atomic commit, at most (SPEC §10). */
export const MAX_ATOMIC_OPS = 1000;
/** Entries of one list page, at most (SPEC §10). */
export const MAX_LIST_LIMIT = 10_000;

export function bad(message: string, seq?: number): ProtocolError {
  return new ProtocolError('BAD_REQUEST', message, seq);
}

/** The UTF-8 size of a key when it could be over the limit (counted exactly only then). */
export function keyTooLarge(key: string, limits: Limits): number | null {
  if (key.length * 3 <= limits.maxKeyBytes) return null;
  const n = utf8Length(key);
  return n > limits.maxKeyBytes ? n : null;
}

/**
 * Validate a req object (also used for each op inside a fwd: `internal`, where the store's own
 * operations may use the client ids that start with "#", reserved to them; server/replica/expiry.ts).
 */
export function checkReq(m: Obj, limits: Limits = DEFAULT_LIMITS, internal = false): ReqMsg | ProtocolError {
  const seq = isNat(m.seq) ? m.seq : undefined;
  if (!isId(m.client)) return bad('req.client must be a non-empty string of at most 512 characters', seq);
  if (!internal && m.client.charCodeAt(0) === 0x23) return bad('req.client must not start with "#" (reserved for the store\'s own operations)', seq);
  if (seq === undefined) return bad('req.seq must be a non-negative integer');
  if (!isNat(m.ack)) return bad('req.ack must be a non-negative integer', seq);
  if (!isStr(m.op) || !OPS.has(m.op)) return bad('req.op must be one of get, put, append, delete, getEntry, list, atomic', seq);
  if (!isStr(m.key)) return bad('req.key must be a string', seq);
  // A string of n UTF-16 units is at most 3n UTF-8 bytes: count exactly only when it could matter.
  const keyBytes = m.key.length * 3 > limits.maxKeyBytes ? utf8Length(m.key) : m.key.length;
  if (keyBytes > limits.maxKeyBytes) {
    return new ProtocolError('TOO_LARGE', `key is ${formatBytes(keyBytes)}; the limit is maxKeyBytes = ${formatBytes(limits.maxKeyBytes)}`, seq);
  }
  const op = m.op as OpName;
  if (op === 'put' || op === 'append') {
    if (!isStr(m.value)) return bad(`req.value must be a string for ${op}`, seq);
    if (m.value.length > limits.maxValueBytes / 3) {
      const n = utf8Length(m.value);
      if (n > limits.maxValueBytes) {
        return new ProtocolError('TOO_LARGE', `value is ${formatBytes(n)}; the limit is maxValueBytes = ${formatBytes(limits.maxValueBytes)}`, seq);
      }
    }
  } else if (m.value !== undefined) {
    return bad(`req.value is not allowed for ${op}`, seq);
  }
  if (m.ifRevision !== undefined) {
    if (op !== 'put' && op !== 'delete') return bad(`req.ifRevision is not allowed for ${op}`, seq);
    if (!isNat(m.ifRevision)) return bad('req.ifRevision must be a non-negative integer (a revision; 0: the key must not exist)', seq);
  }
  const r: ReqMsg = { type: 'req', client: m.client, seq, ack: m.ack, op, key: m.key };
  if (op === 'put' || op === 'append') r.value = m.value as string;
  if (m.ifRevision !== undefined) r.ifRevision = m.ifRevision as number;
  const lease = m.ttlMs === undefined && m.ephemeral === undefined && m.sessionTtlMs === undefined ? null : leaseFault(m, r);
  if (lease !== null) return bad(lease, seq);
  return op === 'list' ? checkList(m, r, limits) : op === 'atomic' ? checkAtomic(m, r, limits) : r;
}

/** An atomic commit's checks and writes (SPEC §10): at most 1000 together, keys and values within the limits. */
function checkAtomic(m: Obj, r: ReqMsg, limits: Limits): ReqMsg | ProtocolError {
  const checks = m.checks ?? [];
  if (!Array.isArray(checks) || !Array.isArray(m.ops)) return bad('req.ops must be an array of writes (and req.checks of [key, revision])', r.seq);
  if (checks.length + m.ops.length > MAX_ATOMIC_OPS) return bad(`an atomic commit holds at most ${MAX_ATOMIC_OPS} checks and writes (got ${checks.length + m.ops.length})`, r.seq);
  for (const c of checks) {
    if (!Array.isArray(c) || c.length !== 2 || !isStr(c[0]) || !isNat(c[1])) return bad('req.checks must be [key, revision] pairs (a non-negative integer revision)', r.seq);
    if (keyTooLarge(c[0], limits) !== null) return new ProtocolError('TOO_LARGE', `a checked key is over maxKeyBytes = ${formatBytes(limits.maxKeyBytes)}`, r.seq);
  }
  for (const o of m.ops) {
    const ok = Array.isArray(o) && isStr(o[1]) && ((o.length === 3 && (o[0] === 'put' || o[0] === 'append') && isStr(o[2])) || (o.length === 2 && o[0] === 'delete'));
    if (!ok) return bad('req.ops must be ["put"|"append", key, value] or ["delete", key] entries', r.seq);
    if (keyTooLarge(o[1], limits) !== null) return new ProtocolError('TOO_LARGE', `a key of the commit is over maxKeyBytes = ${formatBytes(limits.maxKeyBytes)}`, r.seq);
    if (o.length === 3 && o[2].length > limits.maxValueBytes / 3 && utf8Length(o[2]) > limits.maxValueBytes) {
      return new ProtocolError('TOO_LARGE', `a value of the commit is over maxValueBytes = ${formatBytes(limits.maxValueBytes)}`, r.seq);
    }
  }
  r.checks = checks as [string, number][];
  r.ops = m.ops as AtomicOpWire[];
  return r;
}

/** A list request's page fields (SPEC §10): limit 1..10000, after a key, keysOnly. */
function checkList(m: Obj, r: ReqMsg, limits: Limits): ReqMsg | ProtocolError {
  if (!Number.isSafeInteger(m.limit) || (m.limit as number) < 1 || (m.limit as number) > MAX_LIST_LIMIT) return bad(`req.limit must be an integer from 1 to ${MAX_LIST_LIMIT}`, r.seq);
  r.limit = m.limit as number;
  if (m.after !== undefined) {
    if (!isStr(m.after)) return bad('req.after must be a string (a key)', r.seq);
    if (keyTooLarge(m.after, limits) !== null) return new ProtocolError('TOO_LARGE', `req.after is over maxKeyBytes = ${formatBytes(limits.maxKeyBytes)}`, r.seq);
    r.after = m.after;
  }
  if (m.keysOnly !== undefined) {
    if (typeof m.keysOnly !== 'boolean') return bad('req.keysOnly must be a boolean', r.seq);
    r.keysOnly = m.keysOnly;
  }
  return r;
}

/** The key part of a watch pattern: the pattern without a trailing `*` (a prefix), or the whole key. */
export function patternKey(pattern: string): { key: string; prefix: boolean } {
  return pattern.endsWith('*') ? { key: pattern.slice(0, -1), prefix: true } : { key: pattern, prefix: false };
}

/** Validate a watch: id, pattern (its key part within maxKeyBytes), optional from. */
export function checkWatch(m: Obj, limits: Limits): WatchMsg | ProtocolError {
  if (!isNat(m.id)) return bad('watch.id must be a non-negative integer');
  const id = m.id;
  if (!isStr(m.pattern)) return new ProtocolError('BAD_REQUEST', 'watch.pattern must be a string: a key, or a prefix ending in "*"', undefined, id);
  if (m.from !== undefined && !isNat(m.from)) return new ProtocolError('BAD_REQUEST', 'watch.from must be a non-negative integer (a revision)', undefined, id);
  const { key } = patternKey(m.pattern);
  const keyBytes = key.length * 3 > limits.maxKeyBytes ? utf8Length(key) : key.length;
  if (keyBytes > limits.maxKeyBytes) {
    return new ProtocolError('TOO_LARGE', `watch pattern is ${formatBytes(keyBytes)} without its "*"; the limit is maxKeyBytes = ${formatBytes(limits.maxKeyBytes)}`, undefined, id);
  }
  return { type: 'watch', id, pattern: m.pattern, ...(m.from !== undefined ? { from: m.from as number } : {}) };
}
