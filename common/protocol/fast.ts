/**
 * The protocol's hand-written fast paths (STYLE §5): each one answers exactly what the general
 * path answers (JSON.parse + validation, or JSON.stringify) for the texts and objects it takes,
 * and steps aside (null, or false) for anything else. They exist because they run once per
 * operation; test/unit/protocol-fast-paths.test.ts holds them to the general path.
 */
import type { Message, ResMsg, FwdAckMsg, OpResult } from '../messages';

export interface DecodeOptions {
  /**
   * The frame comes from an authenticated peer (a replica's own links): skip the nesting
   * pre-scan, which costs ~5 ns per character on large batched frames. @default false
   */
  readonly trusted?: boolean;
}

/** Decode options for frames of authenticated peers; see DecodeOptions.trusted. */
export const TRUSTED: DecodeOptions = Object.freeze({ trusted: true });

/**
 * Whether `text` holds at most `max` opening brackets (`{` or `[`), counting those inside
 * strings too: then it cannot nest deeper than `max`. A few native searches, where the scan of
 * nestingTooDeep walks every character outside strings: the per-operation frames (one req, a
 * res, an fwd of a few ops) have two or three brackets.
 */
export function fewBrackets(text: string, max: number): boolean {
  let n = 0;
  for (let i = text.indexOf('{'); i >= 0; i = text.indexOf('{', i + 1)) if (++n > max) return false;
  for (let i = text.indexOf('['); i >= 0; i = text.indexOf('[', i + 1)) if (++n > max) return false;
  return true;
}

/** Longer texts are never one of decodeFixed's shapes. */
export const FIXED_MAX_CHARS = 120;
const RES_OK_HEAD = '{"type":"res","seq":';
const RES_OK_VALUE = ',"ok":true,"value":';
const RES_REV = ',"rev":';
const FWDACK_HEAD = '{"type":"fwdack","viewnum":';
const FWDACK_INDEX = ',"index":';

/** Where the number readNat read ends. */
let natEnd = 0;

/**
 * The digits at `i` as a number, or -1 when there are none or more than 15 (then not surely
 * a safe integer: left to JSON.parse). Whatever follows them (a fraction, an exponent, more
 * digits after a leading 0) is the caller's to refuse: it expects a fixed literal there.
 */
function readNat(t: string, i: number): number {
  let n = 0;
  let j = i;
  for (; j < t.length; j++) {
    const d = t.charCodeAt(j) - 48;
    if (d < 0 || d > 9) break;
    n = n * 10 + d;
  }
  if (j === i || j - i > 15 || (j - i > 1 && t.charCodeAt(i) === 48)) return -1;
  natEnd = j;
  return n;
}

/**
 * The two per-operation messages that hold no string, read without JSON.parse when they are
 * written exactly as encode() writes them: a successful reply whose value is null, a boolean
 * or a natural number (put, append, delete) — `{"type":"res","seq":N,"ok":true,"value":V[,"rev":N]}` —
 * and `{"type":"fwdack","viewnum":N,"index":N}`. Such a text is valid JSON that decodes (and
 * validates) to the very object returned here; anything else, however close (whitespace,
 * another key order, a string value, a fraction, 16 digits), returns null: the full decode.
 */
export function decodeFixed(t: string): Message | null {
  if (t.startsWith(RES_OK_HEAD)) {
    const seq = readNat(t, RES_OK_HEAD.length);
    if (seq < 0 || !t.startsWith(RES_OK_VALUE, natEnd)) return null;
    let i = natEnd + RES_OK_VALUE.length;
    let value: OpResult;
    if (t.startsWith('null', i)) { value = null; i += 4; }
    else if (t.startsWith('true', i)) { value = true; i += 4; }
    else if (t.startsWith('false', i)) { value = false; i += 5; }
    else {
      value = readNat(t, i);
      if (value < 0) return null;
      i = natEnd;
    }
    if (i === t.length - 1 && t.charCodeAt(i) === 0x7d) return { type: 'res', seq, ok: true, value };
    if (!t.startsWith(RES_REV, i)) return null;
    const rev = readNat(t, i + RES_REV.length);
    if (rev < 0 || natEnd !== t.length - 1 || t.charCodeAt(natEnd) !== 0x7d) return null;
    return { type: 'res', seq, ok: true, value, rev };
  }
  if (t.startsWith(FWDACK_HEAD)) {
    const viewnum = readNat(t, FWDACK_HEAD.length);
    if (viewnum < 0 || !t.startsWith(FWDACK_INDEX, natEnd)) return null;
    const index = readNat(t, natEnd + FWDACK_INDEX.length);
    if (index < 0 || natEnd !== t.length - 1 || t.charCodeAt(natEnd) !== 0x7d) return null;
    return { type: 'fwdack', viewnum, index };
  }
  return null;
}

/** The JSON of a string (quotes, escapes, lone surrogates as \uXXXX): JSON.stringify's own. */
const quote = JSON.stringify as (s: string) => string;

/** A number JSON.stringify writes as `'' + n` (a non-finite one becomes null there). */
const isFiniteNumber = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

/** No toJSON of its own or inherited: JSON.stringify would call it. */
const plain = (o: object): boolean => (o as { toJSON?: unknown }).toJSON === undefined;

/** A result value as JSON.stringify writes it, or null when it is not one of OpResult's plain kinds. */
function resultJson(v: unknown): string | null {
  if (v === null) return 'null';
  if (typeof v === 'string') return quote(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  return isFiniteNumber(v) ? '' + v : null;
}

/**
 * `{"type":"res","seq":…,"ok":true,"value":…[,"rev":…]}` or
 * `{"type":"res","seq":…,"ok":false,"code":…,"message":…}`, or null: use JSON.stringify.
 */
export function encodeRes(m: ResMsg): string | null {
  const k = Object.keys(m);
  const n = k.length;
  if (n < 4 || n > 5 || k[0] !== 'type' || k[1] !== 'seq' || k[2] !== 'ok' || !plain(m) || !isFiniteNumber(m.seq)) return null;
  if (m.ok === true) {
    if (k[3] !== 'value' || (n === 5 && k[4] !== 'rev')) return null;
    const value = resultJson(m.value);
    if (value === null) return null;
    const head = '{"type":"res","seq":' + m.seq + ',"ok":true,"value":' + value;
    if (n === 4) return head + '}';
    return isFiniteNumber(m.rev) ? head + ',"rev":' + m.rev + '}' : null;
  }
  if (m.ok !== false || n !== 5 || k[3] !== 'code' || k[4] !== 'message') return null;
  const { code, message } = m;
  if (typeof code !== 'string' || typeof message !== 'string') return null;
  return '{"type":"res","seq":' + m.seq + ',"ok":false,"code":' + quote(code) + ',"message":' + quote(message) + '}';
}

/** `{"type":"fwdack","viewnum":…,"index":…}`, or null: use JSON.stringify. */
export function encodeFwdAck(m: FwdAckMsg): string | null {
  const k = Object.keys(m);
  if (k.length !== 3 || k[0] !== 'type' || k[1] !== 'viewnum' || k[2] !== 'index' || !plain(m)) return null;
  const { viewnum, index } = m;
  if (!isFiniteNumber(viewnum) || !isFiniteNumber(index)) return null;
  return '{"type":"fwdack","viewnum":' + viewnum + ',"index":' + index + '}';
}

