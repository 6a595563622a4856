/**
 * Client-side checks of an operation's arguments before anything is sent (SPEC §8): a refused
 * op never leaves the process. Pure. The replica checks again; these messages are the
 * friendlier ones.
 */
import type { OpName, ReqMsg } from '../../common/messages';
import { UnderstudyError } from '../../common/errors';
import { Limits, utf8Length, formatBytes } from '../../common/limits';
import { encode } from '../../common/protocol';

export { checkLeaseOptions, leaseFields } from './lease-options';

/** A duration option must be a positive, finite number of milliseconds. */
export function checkMs(name: string, ms: unknown): UnderstudyError | null {
  if (typeof ms === 'number' && ms > 0 && Number.isFinite(ms)) return null;
  return new UnderstudyError('BAD_REQUEST', `${name} must be a positive number of milliseconds (got ${String(ms)})`);
}

/** The error to reject `op(key, value)` with, or null when it may be sent. */
export function validateOp(op: OpName, key: unknown, value: unknown, limits: Limits, clientId: string): UnderstudyError | null {
  if (typeof key !== 'string') return new UnderstudyError('BAD_REQUEST', `${op}: key must be a string (got ${typeof key})`);
  // A string of n UTF-16 units is at most 3n UTF-8 bytes: count exactly only when it could
  // matter (a 10 KiB value cost a scan of it per operation).
  const keyBytes = key.length * 3 > limits.maxKeyBytes ? utf8Length(key) : 0;
  if (keyBytes > limits.maxKeyBytes) {
    return new UnderstudyError('TOO_LARGE', `${op}: key is ${keyBytes} bytes (UTF-8); the limit is maxKeyBytes = ${limits.maxKeyBytes} bytes: use a shorter key; nothing was sent`);
  }
  if (op !== 'put' && op !== 'append') return null;
  if (typeof value !== 'string') {
    return new UnderstudyError('BAD_REQUEST', `${op}: value must be a string (got ${value === null ? 'null' : typeof value}); serialise it first, e.g. with JSON.stringify`);
  }
  const valueBytes = value.length * 3 > limits.maxValueBytes ? utf8Length(value) : 0;
  if (valueBytes > limits.maxValueBytes) {
    return new UnderstudyError('TOO_LARGE', `${op}: value is ${formatBytes(valueBytes)} (${valueBytes} bytes, UTF-8); the limit is maxValueBytes = ${formatBytes(limits.maxValueBytes)}: split it across keys; nothing was sent`);
  }
  // JSON escaping can make a frame bigger than key + value; count exactly only when it could matter.
  if ((key.length + value.length) * 6 + 1024 > limits.maxMessageBytes) {
    const frame: ReqMsg = { type: 'req', client: clientId, seq: Number.MAX_SAFE_INTEGER, ack: Number.MAX_SAFE_INTEGER, op, key, value };
    const frameBytes = utf8Length(encode(frame));
    if (frameBytes > limits.maxMessageBytes) {
      return new UnderstudyError('TOO_LARGE', `${op}: the request would be ${formatBytes(frameBytes)} once JSON-encoded (escaped characters count); the limit is maxMessageBytes = ${formatBytes(limits.maxMessageBytes)}: send a smaller value; nothing was sent`);
    }
  }
  return null;
}

/** The error for a bad `ifRevision` (SPEC §10: put and delete only, a non-negative integer), or null. */
export function checkWriteOptions(op: OpName, opts: { ifRevision?: unknown }): UnderstudyError | null {
  const r = opts.ifRevision;
  if (r === undefined) return null;
  if (op !== 'put' && op !== 'delete') return new UnderstudyError('BAD_REQUEST', `${op}: ifRevision is for put and delete only; nothing was sent`);
  if (typeof r === 'number' && Number.isSafeInteger(r) && r >= 0) return null;
  return new UnderstudyError('BAD_REQUEST', `${op}: ifRevision must be a non-negative integer (a revision; 0: the key must not exist), got ${String(r)}; nothing was sent`);
}

/** Options of `list` (SPEC §10). */
export interface ListOptions {
  /** Entries per page, 1..10000. @default 1000 */
  limit?: number;
  /** Start after this key (the last key of the previous page). */
  after?: string;
  /** Keys and revisions only, no values. */
  keysOnly?: boolean;
}

/** The error for bad list options (limit outside 1..10000, after not a string), or null. */
export function checkListOptions(o: ListOptions): UnderstudyError | null {
  if (o.limit !== undefined && !(Number.isSafeInteger(o.limit) && o.limit >= 1 && o.limit <= 10_000)) {
    return new UnderstudyError('BAD_REQUEST', `list: limit must be an integer from 1 to 10000 (got ${String(o.limit)}); nothing was sent`);
  }
  if (o.after !== undefined && typeof o.after !== 'string') return new UnderstudyError('BAD_REQUEST', 'list: after must be a string (a key); nothing was sent');
  return null;
}
