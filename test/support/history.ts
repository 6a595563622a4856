/**
 * Key-value operation histories for the linearizability checker: the entry type, a recorder
 * for test harnesses, and JSON read/write so a failing history can be replayed.
 */
import * as fs from 'fs';
import { performance } from 'perf_hooks';

export type KvOpName = 'get' | 'put' | 'append' | 'delete' | 'getEntry' | 'atomic';

/** One write of an atomic commit (SPEC §10), as on the wire. */
export type AtomicWrite = ['put' | 'append', string, string] | ['delete', string];

/** getEntry's output (SPEC §10): the value and the key's revision. */
export interface EntryOutput { value: string | null; revision: number }
/** A conditional put or delete refused with CONFLICT: the key's revision then (an answer: nothing written). */
export interface ConflictOutput { conflict: number }
/** An atomic commit's output: its revision, or the first key whose check failed and that key's revision. */
export type AtomicOutput = { ok: true; revision: number } | { ok: false; key: string; revision: number };

/**
 * ok: completed, with output. fail: definitely NOT applied (only errors that guarantee no
 * effect, e.g. BAD_REQUEST, TOO_LARGE). unknown: may or may not have taken effect (TIMEOUT,
 * crash, no reply).
 */
export type OpStatus = 'ok' | 'fail' | 'unknown';

/**
 * get: string | null; put: null; append: new length in UTF-8 bytes; delete: whether the key
 * existed; getEntry: EntryOutput; a conditional put or delete refused: ConflictOutput; atomic: AtomicOutput.
 */
export type KvOutput = string | null | number | boolean | EntryOutput | ConflictOutput | AtomicOutput;

export interface HistoryOp {
  /** Unique within the history. */
  id: number;
  /** Process / client id. */
  client: string | number;
  op: KvOpName;
  /** The key (an atomic commit: its first key; the checker uses `checks` and `ops`). */
  key: string;
  /** A conditional put or delete (SPEC §10): only if the key's revision is this. */
  ifRevision?: number;
  /** atomic: its checks [key, revision] and writes. */
  checks?: [string, number][];
  ops?: AtomicWrite[];
  /** Input of put / append. */
  value?: string;
  /** Invocation time (ms, monotonic, e.g. performance.now()). */
  call: number;
  /** Return time, or null when no reply came (indeterminate). */
  ret: number | null;
  status: OpStatus;
  /** get: string | null; put: null; append: new length (number); delete: boolean. Unchecked when undefined. */
  output?: KvOutput;
}

const OP_NAMES: ReadonlySet<string> = new Set(['get', 'put', 'append', 'delete', 'getEntry', 'atomic']);
const STATUSES: ReadonlySet<string> = new Set(['ok', 'fail', 'unknown']);

/**
 * Throws a TypeError naming the first malformed entry (wrong field types, duplicate id,
 * ret < call, ok without ret, output of the wrong type for its operation).
 */
export function validateHistory(history: readonly HistoryOp[]): void {
  if (!Array.isArray(history)) throw new TypeError('history: expected an array of operations');
  const ids = new Set<number>();
  for (let i = 0; i < history.length; i++) {
    const h = history[i];
    const bad = (what: string): never => {
      let shown: string;
      try {
        shown = JSON.stringify(h);
      } catch {
        shown = String(h);
      }
      throw new TypeError(`history[${i}]: ${what}: ${shown && shown.length > 200 ? shown.slice(0, 200) + '…' : shown}`);
    };
    if (h === null || typeof h !== 'object') bad('not an object');
    if (typeof h.id !== 'number' || !Number.isFinite(h.id)) bad('id must be a finite number');
    if (ids.has(h.id)) bad(`duplicate id ${h.id}`);
    ids.add(h.id);
    if (typeof h.client !== 'string' && typeof h.client !== 'number') bad('client must be a string or number');
    if (!OP_NAMES.has(h.op)) bad('op must be get, put, append, delete, getEntry or atomic');
    if (h.ifRevision !== undefined && (h.op !== 'put' && h.op !== 'delete' || !Number.isSafeInteger(h.ifRevision) || h.ifRevision < 0)) bad('ifRevision: a non-negative integer, on put or delete');
    if (h.op === 'atomic' && (!Array.isArray(h.checks) || !Array.isArray(h.ops))) bad('atomic needs checks and ops arrays');
    if (typeof h.key !== 'string') bad('key must be a string');
    if ((h.op === 'put' || h.op === 'append') && typeof h.value !== 'string') bad(`${h.op} needs a string value`);
    if (typeof h.call !== 'number' || !Number.isFinite(h.call)) bad('call must be a finite number');
    if (h.ret !== null && (typeof h.ret !== 'number' || !Number.isFinite(h.ret))) bad('ret must be a finite number or null');
    if (h.ret !== null && h.ret < h.call) bad('ret is before call');
    if (!STATUSES.has(h.status)) bad('status must be ok, fail or unknown');
    if (h.status === 'ok' && h.ret === null) bad('an ok operation needs a return time');
    if (h.status === 'ok' && h.output !== undefined) {
      const o = h.output;
      const isConflict = h.ifRevision !== undefined && o !== null && typeof o === 'object' && typeof (o as ConflictOutput).conflict === 'number';
      if (h.op === 'get' && o !== null && typeof o !== 'string') bad('get output must be a string or null');
      if (h.op === 'append' && (typeof o !== 'number' || !Number.isInteger(o))) bad('append output must be an integer length');
      if (h.op === 'delete' && typeof o !== 'boolean' && !isConflict) bad('delete output must be a boolean (or {conflict} with ifRevision)');
      if (h.op === 'put' && o !== null && !isConflict) bad('put output must be null (or {conflict} with ifRevision)');
      if (h.op === 'getEntry' && (o === null || typeof o !== 'object' || typeof (o as EntryOutput).revision !== 'number')) bad('getEntry output must be {value, revision}');
      if (h.op === 'atomic' && (o === null || typeof o !== 'object' || typeof (o as AtomicOutput).ok !== 'boolean' || typeof (o as AtomicOutput).revision !== 'number')) bad('atomic output must be {ok, revision[, key]}');
    }
  }
}

/**
 * Records a history as a harness runs operations. Time comes from the injected `now`
 * (default performance.now()). Operations still pending when history() is read are reported
 * as unknown with no return.
 */
export class HistoryRecorder {
  private readonly ops: HistoryOp[] = [];
  private readonly pending = new Map<number, HistoryOp>();
  private nextId = 0;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Records an invocation; returns its id for ok / fail / unknown. */
  invoke(client: string | number, op: KvOpName, key: string, value?: string, extra?: Pick<HistoryOp, 'ifRevision' | 'checks' | 'ops'>): number {
    const id = this.nextId++;
    const entry: HistoryOp = { id, client, op, key, call: this.now(), ret: null, status: 'unknown' };
    if (value !== undefined) entry.value = value;
    if (extra !== undefined) Object.assign(entry, extra);
    this.ops.push(entry);
    this.pending.set(id, entry);
    return id;
  }

  /** Completed with output (get: value or null; put: null; append: new length; delete: existed). */
  ok(id: number, output?: KvOutput): void {
    const e = this.take(id);
    e.ret = this.now();
    e.status = 'ok';
    e.output = output === undefined && e.op === 'put' ? null : output;
  }

  /** Definitely not applied (an error that guarantees no effect). */
  fail(id: number): void {
    const e = this.take(id);
    e.ret = this.now();
    e.status = 'fail';
  }

  /** Outcome unknown (timeout, dropped link, crash): may take effect at any later time, or never. */
  unknown(id: number): void {
    const e = this.take(id);
    e.ret = null;
    e.status = 'unknown';
  }

  /** A copy of the history so far. */
  history(): HistoryOp[] {
    return this.ops.map((e) => ({ ...e }));
  }

  private take(id: number): HistoryOp {
    const e = this.pending.get(id);
    if (!e) throw new Error(`HistoryRecorder: operation ${id} is unknown or already completed`);
    this.pending.delete(id);
    return e;
  }
}

const FORMAT = 'understudy-history';

/** Writes the history as JSON (one operation a line) so a violation can be reproduced with readHistory. */
export function writeHistory(history: readonly HistoryOp[], file: string): void {
  const lines = history.map((h) => '  ' + JSON.stringify(h));
  fs.writeFileSync(file, `{"format":"${FORMAT}","version":1,"ops":[\n${lines.join(',\n')}\n]}\n`);
}

/** Reads a history written by writeHistory (or a bare JSON array of operations); validates it. */
export function readHistory(file: string): HistoryOp[] {
  const parsed: unknown = JSON.parse(fs.readFileSync(file, 'utf8'));
  let ops: unknown;
  if (Array.isArray(parsed)) ops = parsed;
  else if (parsed !== null && typeof parsed === 'object' && (parsed as { format?: unknown }).format === FORMAT) {
    ops = (parsed as { ops?: unknown }).ops;
  } else throw new TypeError(`${file}: not an ${FORMAT} file`);
  validateHistory(ops as HistoryOp[]);
  return ops as HistoryOp[];
}
