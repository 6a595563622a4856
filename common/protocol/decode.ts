/**
 * The one place wire text becomes a typed message (STYLE §5). `decode` is total: it never
 * throws, and returns either a message or a ProtocolError saying what is wrong, with the
 * code to answer with (BAD_REQUEST or TOO_LARGE). Sizes follow SPEC §8.
 */
import type {
  Message, ReqMsg, ResOk, ResErr, OpResult, PingMsg, ReplicaStats, DedupEntry, StoredResult, HistoryEntry, DataEntry, ListEntryWire,
} from '../messages';
import type { View, ViewHolders } from '../view';
import type { ReplyErrorCode } from '../errors';
import { DEFAULT_LIMITS, Limits, formatBytes } from '../limits';
import { type DecodeOptions, FIXED_MAX_CHARS, decodeFixed, fewBrackets } from './fast';
import { ProtocolError, isObj, isNat, isStr, isId, bad, checkReq, checkWatch, keyTooLarge, type Obj } from './checks';
import { validLeases } from './lease-checks';

export { ProtocolError, isProtocolError, isNat, checkReq, patternKey, MAX_ATOMIC_OPS, MAX_LIST_LIMIT } from './checks';

/** A view object: {viewnum ≥ 0 integer, primary: string|null, backup: string|null}. */
export function validView(x: unknown): x is View {
  return isObj(x) && isNat(x.viewnum)
    && (x.primary === null || isId(x.primary))
    && (x.backup === null || isId(x.backup));
}

function validHolders(x: unknown): x is ViewHolders {
  return isObj(x) && (x.primary === null || isId(x.primary)) && (x.backup === null || isId(x.backup));
}

/** A lineage list (catch-up by suffix, SPEC §9): at most 64 [id, index] pairs. */
const validLineage = (x: unknown): boolean => Array.isArray(x) && x.length <= 64 && x.every((e) => Array.isArray(e) && e.length === 2 && isId(e[0]) && isNat(e[1]));

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
  if (x.durableIndex !== undefined && !isAmount(x.durableIndex)) return false;
  if (x.transfer === undefined) return true;
  return amounts(x.transfer, ['keys', 'keysTotal', 'bytes', 'bytesTotal']) && ((x.transfer as Obj).etaMs === null || isAmount((x.transfer as Obj).etaMs));
}

/** Only the known fields, so a large unknown field is not kept in the view service's ring. */
function copyStats(s: ReplicaStats): ReplicaStats {
  const out: ReplicaStats = { opsPerSec: s.opsPerSec, p99Ms: s.p99Ms };
  if (s.lag) out.lag = { ops: s.lag.ops, bytes: s.lag.bytes };
  if (s.durableIndex !== undefined) out.durableIndex = s.durableIndex;
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
      if (m.client !== undefined && !isId(m.client)) return bad('hello.client must be a non-empty string of at most 512 characters (the client id)');
      return { type: 'hello', ...(isStr(m.token) ? { token: m.token } : {}), ...(m.client !== undefined ? { client: m.client as string } : {}) };
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
      if ((m.probe !== undefined && m.probe !== true) || (m.from !== undefined && !isNat(m.from)) || (m.lineage !== undefined && !validLineage(m.lineage))) return bad('xfer-begin: probe true, from an index, lineage [[id, index], …]');
      return {
        type: 'xfer-begin', view: copyView(m.view), holders: copyHolders(m.holders), index: m.index, revision: m.revision,
        ...(m.probe ? { probe: true as const } : {}), ...(m.from !== undefined ? { from: m.from } : {}), ...(m.lineage !== undefined ? { lineage: m.lineage as [string, number][] } : {}),
      };
    case 'xfer-pos':
      if (!isNat(m.viewnum) || !(m.lineage === null || isId(m.lineage)) || !isNat(m.index)) return bad('xfer-pos needs viewnum, lineage (string or null), index');
      return { type: 'xfer-pos', viewnum: m.viewnum, lineage: m.lineage, index: m.index };
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
      if (m.leases !== undefined && !validLeases(m.leases)) return bad('xfer-data.leases must be [key, ms|null] or [key, ms|null, owner, sessionTtlMs] entries');
      return {
        type: 'xfer-data', viewnum: m.viewnum, data: m.data as DataEntry[], dedup: m.dedup,
        ...(m.events !== undefined ? { events: m.events as HistoryEntry[] } : {}), ...(m.leases !== undefined ? { leases: m.leases } : {}),
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
        const r = checkReq(o, limits, true);
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
