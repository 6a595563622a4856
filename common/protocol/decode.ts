/**
 * The one place wire text becomes a typed message (STYLE §5). `decode` is total: it never
 * throws, and returns either a message or a ProtocolError saying what is wrong, with the
 * code to answer with (BAD_REQUEST or TOO_LARGE). Sizes follow SPEC §8.
 */
import type {
  Message, ReqMsg, ResOk, ResErr, OpName, OpResult, PingMsg, ReplicaStats, DedupEntry, StoredResult, HistoryEntry, WatchMsg, DataEntry, ListEntryWire, AtomicOpWire,
} from '../messages';
import type { View, ViewHolders } from '../view';
import type { ReplyErrorCode } from '../errors';
import { DEFAULT_LIMITS, Limits, utf8Length, formatBytes } from '../limits';
import { type DecodeOptions, FIXED_MAX_CHARS, decodeFixed, fewBrackets } from './fast';

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

type Obj = Record<string, unknown>;

const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !Array.isArray(x);
export const isNat = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
const isStr = (x: unknown): x is string => typeof x === 'string';
const isId = (x: unknown): x is string => isStr(x) && x.length > 0 && x.length <= 512;
const OPS: ReadonlySet<string> = new Set(['get', 'put', 'append', 'delete', 'getEntry', 'list', 'atomic']);
/** Checks and writes of one atomic commit, at most (SPEC §10). */
export const MAX_ATOMIC_OPS = 1000;
/** Entries of one list page, at most (SPEC §10). */
export const MAX_LIST_LIMIT = 10_000;

function bad(message: string, seq?: number): ProtocolError {
  return new ProtocolError('BAD_REQUEST', message, seq);
}

/** A view object: {viewnum ≥ 0 integer, primary: string|null, backup: string|null}. */
export function validView(x: unknown): x is View {
  return isObj(x) && isNat(x.viewnum)
    && (x.primary === null || isId(x.primary))
    && (x.backup === null || isId(x.backup));
}

function validHolders(x: unknown): x is ViewHolders {
  return isObj(x) && (x.primary === null || isId(x.primary)) && (x.backup === null || isId(x.backup));
}

/**
 * Fresh copies of validated views and holders: a decoded message carries exactly the
 * protocol's fields, never extra ones a sender slipped in (which a replica would otherwise
 * keep in its state and echo back in replies).
 */
const isAmount = (x: unknown): x is number => typeof x === 'number' && x >= 0 && x <= Number.MAX_SAFE_INTEGER;
const amounts = (o: unknown, names: readonly string[]): boolean => isObj(o) && names.every((n) => isAmount(o[n]));

/** A ping's `stats` (ReplicaStats): every number finite and non-negative. */
function validStats(x: unknown): boolean {
  if (!isObj(x) || !isAmount(x.opsPerSec) || (x.p99Ms !== null && !isAmount(x.p99Ms))) return false;
  if (x.lag !== undefined && !amounts(x.lag, ['ops', 'bytes'])) return false;
  if (x.transfer === undefined) return true;
  return amounts(x.transfer, ['keys', 'keysTotal', 'bytes', 'bytesTotal']) && ((x.transfer as Obj).etaMs === null || isAmount((x.transfer as Obj).etaMs));
}

/** Only the known fields, so a large unknown field is not kept in the view service's ring. */
function copyStats(s: ReplicaStats): ReplicaStats {
  const out: ReplicaStats = { opsPerSec: s.opsPerSec, p99Ms: s.p99Ms };
  if (s.lag) out.lag = { ops: s.lag.ops, bytes: s.lag.bytes };
  if (s.transfer) {
    const t = s.transfer;
    out.transfer = { keys: t.keys, keysTotal: t.keysTotal, bytes: t.bytes, bytesTotal: t.bytesTotal, etaMs: t.etaMs };
  }
  return out;
}

function copyView(v: View): View {
  return { viewnum: v.viewnum, primary: v.primary, backup: v.backup };
}

function copyHolders(h: ViewHolders): ViewHolders {
  return { primary: h.primary, backup: h.backup };
}

/** The UTF-8 size of a key when it could be over the limit (counted exactly only then). */
function keyTooLarge(key: string, limits: Limits): number | null {
  if (key.length * 3 <= limits.maxKeyBytes) return null;
  const n = utf8Length(key);
  return n > limits.maxKeyBytes ? n : null;
}

/** Validate a req object (also used for each op inside a fwd). */
export function checkReq(m: Obj, limits: Limits = DEFAULT_LIMITS): ReqMsg | ProtocolError {
  const seq = isNat(m.seq) ? m.seq : undefined;
  if (!isId(m.client)) return bad('req.client must be a non-empty string of at most 512 characters', seq);
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
function checkWatch(m: Obj, limits: Limits): WatchMsg | ProtocolError {
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

function validHistory(x: unknown): x is HistoryEntry[] {
  if (!Array.isArray(x)) return false;
  for (const e of x) {
    if (!Array.isArray(e) || e.length !== 3 || !isNat(e[0]) || !isStr(e[1]) || !(e[2] === null || isStr(e[2]))) return false;
  }
  return true;
}

function validListEntries(x: unknown): x is ListEntryWire[] {
  if (!Array.isArray(x)) return false;
  for (const e of x) {
    if (!Array.isArray(e) || !(e.length === 2 || (e.length === 3 && isStr(e[2]))) || !isStr(e[0]) || !isNat(e[1])) return false;
  }
  return true;
}

function validResult(x: unknown): boolean {
  return x === null || isStr(x) || typeof x === 'boolean' || isNat(x);
}

function validStored(x: unknown): x is StoredResult {
  if (!isObj(x)) return false;
  if (x.ok === true) return validResult(x.value) && isNat(x.rev) && (x.krev === undefined || isNat(x.krev));
  return x.ok === false && isStr(x.code) && isStr(x.message) && (x.revision === undefined || isNat(x.revision)) && (x.key === undefined || isStr(x.key));
}

function validDedup(x: unknown): x is DedupEntry[] {
  if (!Array.isArray(x)) return false;
  for (const e of x) {
    if (!Array.isArray(e) || e.length !== 3 || !isId(e[0]) || !isNat(e[1]) || !Array.isArray(e[2])) return false;
    for (const r of e[2]) {
      if (!Array.isArray(r) || r.length !== 2 || !isNat(r[0]) || !validStored(r[1])) return false;
    }
  }
  return true;
}

/**
 * Deepest nesting of arrays and objects a message may have. Ours need 6 (an xfer-data
 * result: message → dedup → entry → results → pair → result). Deeper is refused before
 * parsing: JSON.parse of 2 MiB of `[` takes about a second, time a replica would not ping.
 * @default 32
 */
export const MAX_DEPTH = 32;

/**
 * Whether `text` nests arrays and objects deeper than `max`, without parsing it: one pass
 * that counts brackets outside strings and jumps over each string with indexOf, so a large
 * value costs next to nothing. Malformed text answers false (JSON.parse refuses it).
 */
export function nestingTooDeep(text: string, max: number = MAX_DEPTH): boolean {
  if (fewBrackets(text, max)) return false;
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) { // '"': jump to the closing quote (one preceded by an even number of '\')
      let j = i;
      for (;;) {
        j = text.indexOf('"', j + 1);
        if (j < 0) return false;
        let k = j - 1;
        while (text.charCodeAt(k) === 0x5c) k--;
        if ((j - 1 - k) % 2 === 0) break;
      }
      i = j;
    } else if (c === 0x5b || c === 0x7b) { // '[' '{'
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) { // ']' '}'
      depth--;
    }
  }
  return false;
}

/**
 * Decode one text frame. `limits.maxMessageBytes` is checked on the text length first
 * (a cheap upper bound of work), and the transport's maxPayload enforces it on bytes.
 * Nesting deeper than MAX_DEPTH is refused before parsing, unless `options.trusted`.
 *
 * One long function on purpose (the one exception to STYLE's ~60 lines): it is the table of
 * every message type, one `case` of a few checks each, read side by side with SPEC §6/§8 and
 * docs/PROTOCOL.md. Split into a function per type it would be the same lines plus twenty
 * signatures, and the per-operation frames (req, res, fwd, fwdack) would pay a call each.
 */
export function decode(text: string, limits: Limits = DEFAULT_LIMITS, options?: DecodeOptions): Message | ProtocolError {
  if (text.length > limits.maxMessageBytes) {
    return new ProtocolError('TOO_LARGE', `message is ${formatBytes(text.length)}; the limit is maxMessageBytes = ${formatBytes(limits.maxMessageBytes)}`);
  }
  if (text.length <= FIXED_MAX_CHARS) {
    const fixed = decodeFixed(text);
    if (fixed !== null) return fixed;
  }
  if (options?.trusted !== true && nestingTooDeep(text)) return bad(`message nests arrays or objects deeper than ${MAX_DEPTH} levels`);
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    return bad('message is not valid JSON');
  }
  if (!isObj(m)) return bad('message must be a JSON object');
  if (!isStr(m.type)) return bad('message.type must be a string');
  if (m.token !== undefined && !isStr(m.token)) return bad('token must be a string');
  switch (m.type) {
    case 'ping': {
      if (!isId(m.id)) return bad('ping.id must be a non-empty string (the replica URL)');
      if (!isId(m.incarnation)) return bad('ping.incarnation must be a non-empty string');
      if (!isNat(m.viewnum)) return bad('ping.viewnum must be a non-negative integer');
      if (m.suspect !== undefined && !isId(m.suspect)) return bad('ping.suspect must be a replica id');
      if (m.stats !== undefined && !validStats(m.stats)) return bad('ping.stats must be {opsPerSec, p99Ms, lag?, transfer?} of non-negative numbers');
      const ping: PingMsg = { type: 'ping', id: m.id, incarnation: m.incarnation, viewnum: m.viewnum, ...(isStr(m.token) ? { token: m.token } : {}), ...(isStr(m.suspect) ? { suspect: m.suspect } : {}) };
      if (m.stats !== undefined) ping.stats = copyStats(m.stats as ReplicaStats);
      if (m.view === undefined && m.holders === undefined && m.role === undefined && m.initialised === undefined) return ping;
      // The report (docs/VIEW-SERVICE-RESTART.md): all four fields or none.
      if (!validView(m.view)) return bad('ping.view must be {viewnum, primary, backup}');
      if (m.holders !== null && !validHolders(m.holders)) return bad('ping.holders must be {primary, backup} or null');
      if (m.role !== 'primary' && m.role !== 'backup' && m.role !== 'idle') return bad('ping.role must be "primary", "backup" or "idle"');
      if (typeof m.initialised !== 'boolean') return bad('ping.initialised must be a boolean');
      const holders = m.holders === null ? null : { primary: m.holders.primary, backup: m.holders.backup };
      return { ...ping, view: { viewnum: m.view.viewnum, primary: m.view.primary, backup: m.view.backup }, holders, role: m.role, initialised: m.initialised };
    }
    case 'leave':
      if (!isId(m.id)) return bad('leave.id must be a non-empty string (the replica URL)');
      if (!isId(m.incarnation)) return bad('leave.incarnation must be a non-empty string');
      return { type: 'leave', id: m.id, incarnation: m.incarnation, ...(isStr(m.token) ? { token: m.token } : {}) };
    case 'subscribe':
      return { type: 'subscribe', ...(isStr(m.token) ? { token: m.token } : {}) };
    case 'view':
      if (!validView(m.view)) return bad('view.view must be {viewnum, primary, backup}');
      if (m.holders !== undefined && !validHolders(m.holders)) return bad('view.holders must be {primary, backup}');
      if (m.leader !== undefined && !isId(m.leader)) return bad('view.leader must be a non-empty string (a view-service URL)');
      return { type: 'view', view: copyView(m.view), ...(m.holders ? { holders: copyHolders(m.holders as ViewHolders) } : {}), ...(m.leader !== undefined ? { leader: m.leader as string } : {}) };
    case 'error':
      if (!isStr(m.code) || !isStr(m.message)) return bad('error needs code and message strings');
      if (m.id !== undefined && !isNat(m.id)) return bad('error.id must be a non-negative integer (a watch id)');
      if (m.view !== undefined && !validView(m.view)) return bad('error.view must be {viewnum, primary, backup}');
      return {
        type: 'error', code: m.code as ReplyErrorCode, message: m.message,
        ...(m.id !== undefined ? { id: m.id as number } : {}), ...(m.view !== undefined ? { view: copyView(m.view as View) } : {}),
      };
    case 'req':
      return checkReq(m, limits);
    case 'res':
      if (!isNat(m.seq)) return bad('res.seq must be a non-negative integer');
      // Built field by field rather than spread: the same object, without a copy per reply.
      if (m.ok === true) {
        if (!validResult(m.value)) return bad('res.value has a wrong type');
        if (m.rev !== undefined && !isNat(m.rev)) return bad('res.rev must be a non-negative integer');
        if (m.krev !== undefined && !isNat(m.krev)) return bad('res.krev must be a non-negative integer');
        const ok: ResOk = { type: 'res', seq: m.seq, ok: true, value: m.value as OpResult };
        if (m.rev !== undefined) ok.rev = m.rev as number;
        if (m.krev !== undefined) ok.krev = m.krev as number;
        if (m.entries !== undefined) {
          if (!validListEntries(m.entries) || typeof m.more !== 'boolean') return bad('res.entries must be [key, rev] or [key, rev, value] entries, with more');
          ok.entries = m.entries;
          ok.more = m.more;
        }
        return ok;
      }
      if (m.ok === false && isStr(m.code) && isStr(m.message) && (m.view === undefined || validView(m.view)) && (m.revision === undefined || isNat(m.revision))) {
        const err: ResErr = { type: 'res', seq: m.seq, ok: false, code: m.code as ReplyErrorCode, message: m.message };
        if (m.view !== undefined) err.view = copyView(m.view as View);
        if (m.revision !== undefined) err.revision = m.revision as number;
        if (isStr(m.key)) err.key = m.key;
        return err;
      }
      return bad('res must be {ok:true,value} or {ok:false,code,message}');
    case 'hello':
      return { type: 'hello', ...(isStr(m.token) ? { token: m.token } : {}) };
    case 'auth':
      if (!isStr(m.token)) return bad('auth.token must be a string (a JWT)');
      return { type: 'auth', token: m.token };
    case 'watch':
      return checkWatch(m, limits);
    case 'unwatch':
      if (!isNat(m.id)) return bad('unwatch.id must be a non-negative integer');
      return { type: 'unwatch', id: m.id };
    case 'event':
      if (!isNat(m.id) || !isStr(m.key) || !(m.value === null || isStr(m.value)) || !isNat(m.rev)) {
        return bad('event needs id, key, value (string or null) and rev');
      }
      if (m.resync !== undefined && m.resync !== true) return bad('event.resync must be true when present');
      if (m.more !== undefined && m.more !== true) return bad('event.more must be true when present');
      return { type: 'event', id: m.id, key: m.key, value: m.value, rev: m.rev, ...(m.resync ? { resync: true as const } : {}), ...(m.more ? { more: true as const } : {}) };
    case 'synced':
      if (!isNat(m.id) || !isNat(m.rev)) return bad('synced needs id and rev');
      return { type: 'synced', id: m.id, rev: m.rev };
    case 'peer':
      if (!isId(m.id) || !isId(m.incarnation)) return bad('peer needs id and incarnation strings');
      return { type: 'peer', id: m.id, incarnation: m.incarnation, ...(isStr(m.token) ? { token: m.token } : {}) };
    case 'xfer-begin':
      if (!validView(m.view) || !validHolders(m.holders) || !isNat(m.index) || !isNat(m.revision)) return bad('xfer-begin needs view, holders, index, revision');
      return { type: 'xfer-begin', view: copyView(m.view), holders: copyHolders(m.holders), index: m.index, revision: m.revision };
    case 'xfer-data': {
      if (!isNat(m.viewnum) || !Array.isArray(m.data) || !validDedup(m.dedup)) return bad('xfer-data needs viewnum, data, dedup');
      for (const e of m.data) {
        if (!Array.isArray(e) || !(e.length === 2 || (e.length === 3 && e[2] === 1) || (e.length === 4 && e[2] === 0 && isNat(e[3]))) || !isStr(e[0]) || !isStr(e[1])) {
          return bad('xfer-data.data must be [key, value, 0, rev], [key, value] or [key, piece, 1] entries');
        }
        const n = keyTooLarge(e[0], limits);
        if (n !== null) return new ProtocolError('TOO_LARGE', `xfer-data key is ${formatBytes(n)}; the limit is maxKeyBytes = ${formatBytes(limits.maxKeyBytes)}`);
      }
      if (m.events !== undefined && !validHistory(m.events)) return bad('xfer-data.events must be [rev, key, value|null] triples');
      return {
        type: 'xfer-data', viewnum: m.viewnum, data: m.data as DataEntry[], dedup: m.dedup,
        ...(m.events !== undefined ? { events: m.events as HistoryEntry[] } : {}),
      };
    }
    case 'xfer-end':
      if (!isNat(m.viewnum)) return bad('xfer-end.viewnum must be a non-negative integer');
      return { type: 'xfer-end', viewnum: m.viewnum };
    case 'fwd': {
      if (!isNat(m.viewnum) || !isNat(m.index) || !Array.isArray(m.ops)) return bad('fwd needs viewnum, index, ops');
      const ops: ReqMsg[] = [];
      for (const o of m.ops) {
        if (!isObj(o)) return bad('fwd.ops must be req objects');
        const r = checkReq(o, limits);
        if (r instanceof ProtocolError) return bad(`fwd op: ${r.message}`);
        ops.push(r);
      }
      return { type: 'fwd', viewnum: m.viewnum, index: m.index, ops };
    }
    case 'chunkack':
      if (!isNat(m.viewnum) || !isNat(m.n)) return bad('chunkack needs viewnum and n');
      return { type: 'chunkack', viewnum: m.viewnum, n: m.n };
    case 'xferack':
    case 'fwdack':
      if (!isNat(m.viewnum) || !isNat(m.index)) return bad(`${m.type} needs viewnum and index`);
      return { type: m.type, viewnum: m.viewnum, index: m.index };
    case 'reject':
      if (!validView(m.view) || !isStr(m.reason)) return bad('reject needs view and reason');
      return { type: 'reject', view: copyView(m.view), reason: m.reason };
    default:
      return bad(`unknown message type ${JSON.stringify(String(m.type).slice(0, 40))}`);
  }
}
