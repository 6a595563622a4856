/**
 * The replica's state (SPEC §3.5): the data, the revision, the log index and the
 * at-most-once table. DETERMINISTIC: it imports only from common/, reads no clock and no
 * randomness, and the same operations in the same order give the same state — including
 * the order the at-most-once table evicts in — on the primary and on the backup.
 *
 *   apply(req)  →  StoredResult          every log entry (reads too) goes through here
 *   snapshot()  →  chunks                 state transfer, primary side (consume synchronously!)
 *   install(begin, chunks)                state transfer, backup side: replaces state wholesale
 *   sortedEntries()                       for the digest the shell computes (GET /digest)
 *   history                               the last writes, in revision order (watch replays)
 */
import type { ReqMsg, StoredResult, DedupEntry, OpResult, HistoryEntry } from '../../common/messages';
import { DEFAULT_LIMITS, Limits, utf8Length, formatBytes } from '../../common/limits';
import { History, HistoryBounds, DEFAULT_HISTORY_BOUNDS, WriteEvent } from './history';

/** Bounds of the at-most-once table. */
export interface StoreBounds {
  /** Clients remembered; beyond it the least recently used client is forgotten. @default 100000 */
  readonly maxClients: number;
  /** Results kept per client; beyond it the lowest seqs are forgotten (they become stale). @default 10000 */
  readonly maxResultsPerClient: number;
}

export const DEFAULT_STORE_BOUNDS: StoreBounds = Object.freeze({ maxClients: 100_000, maxResultsPerClient: 10_000 });

/** Target size of one snapshot chunk, in UTF-8 bytes of its JSON. @default 524288 */
export const DEFAULT_CHUNK_BYTES = 512 * 1024;

/** One chunk of a snapshot: the payload of an `xfer-data` message. */
export interface SnapshotChunk {
  data: [string, string][];
  dedup: DedupEntry[];
  /** History events (oldest first), in the last chunks; absent when none. */
  events?: HistoryEntry[];
}

/** Where a snapshot starts: the payload of `xfer-begin` that the store cares about. */
export interface SnapshotBegin {
  index: number;
  revision: number;
}

interface Entry { value: string; bytes: number }
interface ClientTable { low: number; results: Map<number, StoredResult> }

/** A code unit that JSON escapes, or one outside ASCII. */
const NEEDS_ESCAPE_OR_NON_ASCII = /[\x00-\x1f"\\\u007f-\uffff]/;

/**
 * Exact length in UTF-8 bytes of `JSON.stringify(s)` without building it (quotes excluded).
 * Used to cut snapshots and forward frames below the message limit.
 */
export function jsonStringBytes(s: string): number {
  // Fast path: printable ASCII with no quote or backslash is one byte per unit (native scan).
  if (!NEEDS_ESCAPE_OR_NON_ASCII.test(s)) return s.length;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const cost = charCost(s, i);
    n += cost & 0xff;
    i += cost >> 8;
  }
  return n;
}

/** Cost of the code point at i in JSON UTF-8 bytes (low byte), plus 256 if it used two units. */
function charCost(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c < 0x20) return c === 8 || c === 9 || c === 10 || c === 12 || c === 13 ? 2 : 6;
  if (c === 0x22 || c === 0x5c) return 2;
  if (c < 0x80) return 1;
  if (c < 0x800) return 2;
  if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
    const d = s.charCodeAt(i + 1);
    if (d >= 0xdc00 && d <= 0xdfff) return 4 | 256;
  }
  if (c >= 0xd800 && c <= 0xdfff) return 6; // a lone surrogate is escaped as \udXXX
  return 3;
}

/** Cut `s` into pieces whose JSON is at most `maxBytes` each, never inside a surrogate pair. */
function splitByJsonBytes(s: string, maxBytes: number): string[] {
  const pieces: string[] = [];
  let start = 0;
  let n = 0;
  for (let i = 0; i < s.length;) {
    const cost = charCost(s, i);
    const units = 1 + (cost >> 8);
    if (n + (cost & 0xff) > maxBytes && i > start) {
      pieces.push(s.slice(start, i));
      start = i;
      n = 0;
    }
    n += cost & 0xff;
    i += units;
  }
  pieces.push(s.slice(start));
  return pieces;
}

const isWrite = (op: string) => op !== 'get';

export class Store {
  private data = new Map<string, Entry>();
  /** Insertion order = least recently used first (a touch deletes and re-inserts). */
  private clients = new Map<string, ClientTable>();
  private _revision = 0;
  private _index = 0;
  private readonly _history: History;
  private _lastWrite: WriteEvent | null = null;

  constructor(
    readonly limits: Limits = DEFAULT_LIMITS,
    readonly bounds: StoreBounds = DEFAULT_STORE_BOUNDS,
    historyBounds: HistoryBounds = DEFAULT_HISTORY_BOUNDS,
  ) {
    this._history = new History(historyBounds);
  }

  /**
   * Applied writes: every stored put and append, and every delete of an existing key (a
   * delete of a missing key and a TOO_LARGE refusal change nothing and do not count).
   */
  get revision(): number { return this._revision; }
  /** The log index of the last applied entry (every apply, reads and refusals included, is one entry). */
  get index(): number { return this._index; }
  /** Number of keys. */
  get size(): number { return this.data.size; }
  /** Number of clients in the at-most-once table. */
  get clientCount(): number { return this.clients.size; }
  /** The last applied writes, one event per revision (read-only use: the store appends to it). */
  get history(): History { return this._history; }
  /** The event of the last write that changed the data (whatever the history keeps). */
  get lastWrite(): WriteEvent | null { return this._lastWrite; }

  get(key: string): string | undefined {
    return this.data.get(key)?.value;
  }

  /**
   * Apply one log entry and return its result (SPEC §3.3 exactly-once):
   *  1. results of seq < req.ack of that client are forgotten and its watermark `low` raised;
   *  2. seq < low is a stale duplicate: BAD_REQUEST, nothing applied;
   *  3. a write whose (client, seq) has a result returns it again, unapplied; otherwise it is
   *     applied and its result recorded (TOO_LARGE results too: nothing stored, same answer again);
   *  4. a get is never recorded: it returns the current value.
   */
  apply(req: ReqMsg): StoredResult {
    this._index++;
    let table = this.clients.get(req.client);
    if (table) {
      this.clients.delete(req.client); // touch: move to the most recently used end
      this.clients.set(req.client, table);
    } else if (isWrite(req.op)) {
      table = { low: 0, results: new Map() };
      this.clients.set(req.client, table);
      this.evictClients();
    }
    if (table && req.ack > table.low) {
      for (const seq of table.results.keys()) if (seq < req.ack) table.results.delete(seq);
      table.low = req.ack;
    }
    if (table && req.seq < table.low) {
      return {
        ok: false,
        code: 'BAD_REQUEST',
        message: `stale duplicate: seq ${req.seq} is below the client's ack watermark ${table.low}; its result was delivered and forgotten`,
      };
    }
    if (req.op === 'get') {
      const e = this.data.get(req.key);
      return { ok: true, value: e ? e.value : null, rev: this._revision };
    }
    const t = table as ClientTable;
    const seen = t.results.get(req.seq);
    if (seen) return seen;
    const result = this.write(req);
    t.results.set(req.seq, result);
    if (t.results.size > this.bounds.maxResultsPerClient) this.trimResults(t);
    return result;
  }

  private write(req: ReqMsg): StoredResult {
    const keyBytes = utf8Length(req.key);
    if (keyBytes > this.limits.maxKeyBytes) {
      return tooLarge(`key is ${formatBytes(keyBytes)}; the limit is maxKeyBytes = ${formatBytes(this.limits.maxKeyBytes)}`);
    }
    const old = this.data.get(req.key);
    switch (req.op) {
      case 'put':
      case 'append': {
        const add = req.value ?? '';
        const addBytes = utf8Length(add);
        const bytes = req.op === 'append' && old ? old.bytes + addBytes : addBytes;
        if (bytes > this.limits.maxValueBytes) {
          const what = req.op === 'append' ? 'the value would grow to' : 'value is';
          return tooLarge(`${what} ${formatBytes(bytes)}; the limit is maxValueBytes = ${formatBytes(this.limits.maxValueBytes)}`);
        }
        const value = req.op === 'append' && old ? old.value + add : add;
        this.data.set(req.key, { value, bytes });
        this._revision++;
        this.recordWrite({ key: req.key, value, rev: this._revision }, keyBytes, bytes);
        return ok(req.op === 'put' ? null : bytes, this._revision);
      }
      case 'delete': {
        if (!old) return ok(false, this._revision);
        this.data.delete(req.key);
        this._revision++;
        this.recordWrite({ key: req.key, value: null, rev: this._revision }, keyBytes, 0);
        return ok(true, this._revision);
      }
      default:
        return { ok: false, code: 'BAD_REQUEST', message: `unknown op ${JSON.stringify(req.op)}` };
    }
  }

  private recordWrite(e: WriteEvent, keyBytes: number, valueBytes: number): void {
    this._lastWrite = e;
    this._history.push(e, keyBytes, valueBytes);
  }

  /** Forget the least recently used clients beyond maxClients (deterministic: LRU by applied ops). */
  private evictClients(): void {
    while (this.clients.size > this.bounds.maxClients) {
      const oldest = this.clients.keys().next().value as string;
      this.clients.delete(oldest);
    }
  }

  /**
   * Too many results for one client (it never raises `ack`): forget the lowest seqs down to
   * 90% of the bound and raise `low` past them, so a retry of a forgotten seq is refused as
   * stale instead of applied twice. Amortised: one sort per 10% of the bound.
   */
  private trimResults(t: ClientTable): void {
    const seqs = [...t.results.keys()].sort((a, b) => a - b);
    const drop = seqs.length - Math.floor(this.bounds.maxResultsPerClient * 0.9);
    for (let i = 0; i < drop; i++) t.results.delete(seqs[i]);
    t.low = Math.max(t.low, seqs[drop - 1] + 1);
  }

  /** Data pairs sorted by key (UTF-16 code unit order), for the digest. */
  sortedEntries(): [string, string][] {
    return this.entriesWithPrefix('');
  }

  /** The pairs whose key starts with `prefix`, sorted by key (a watch resync). */
  entriesWithPrefix(prefix: string): [string, string][] {
    const keys: string[] = [];
    for (const k of this.data.keys()) if (k.startsWith(prefix)) keys.push(k);
    keys.sort();
    return keys.map((k) => [k, (this.data.get(k) as Entry).value]);
  }

  /**
   * The whole state as chunks of at most ~`maxChunkBytes` of JSON each: data pairs first,
   * then the at-most-once table in least-recently-used-first order (so the backup evicts in
   * the same order), then the write history, oldest first. A value too large for one chunk
   * (data or history) is sent as consecutive pieces under the same key (and revision), and a
   * client's results may span chunks; `install` joins them.
   *
   * The generator reads the live maps: consume it fully before applying anything else.
   */
  *snapshot(maxChunkBytes: number = DEFAULT_CHUNK_BYTES): Generator<SnapshotChunk> {
    let chunk: SnapshotChunk = { data: [], dedup: [] };
    let size = 0;
    /** True when `n` more bytes do not fit in a non-empty chunk: time to yield it. */
    const full = (n: number) => size > 0 && size + n > maxChunkBytes;
    const fresh = () => { const c = chunk; chunk = { data: [], dedup: [] }; size = 0; return c; };
    for (const [key, e] of this.data) {
      const keyBytes = jsonStringBytes(key) + 8;
      const valueBytes = jsonStringBytes(e.value);
      if (keyBytes + valueBytes <= maxChunkBytes) {
        if (full(keyBytes + valueBytes)) yield fresh();
        chunk.data.push([key, e.value]);
        size += keyBytes + valueBytes;
        continue;
      }
      for (const piece of splitByJsonBytes(e.value, Math.max(1024, maxChunkBytes - keyBytes))) {
        const n = keyBytes + jsonStringBytes(piece);
        if (full(n)) yield fresh();
        chunk.data.push([key, piece]);
        size += n;
      }
    }
    for (const [client, t] of this.clients) {
      const head = jsonStringBytes(client) + 24;
      if (full(head)) yield fresh();
      let entry: DedupEntry = [client, t.low, []];
      chunk.dedup.push(entry);
      size += head;
      for (const [seq, r] of t.results) {
        const n = utf8Length(JSON.stringify(r)) + 24;
        if (full(n)) {
          yield fresh();
          entry = [client, t.low, []];
          chunk.dedup.push(entry);
          size += head;
        }
        entry[2].push([seq, r]);
        size += n;
      }
    }
    for (const e of this._history.since(this._history.base)) {
      const keyBytes = jsonStringBytes(e.key) + 32;
      const valueBytes = e.value === null ? 4 : jsonStringBytes(e.value);
      const pieces = e.value === null || keyBytes + valueBytes <= maxChunkBytes
        ? [e.value]
        : splitByJsonBytes(e.value, Math.max(1024, maxChunkBytes - keyBytes));
      for (const piece of pieces) {
        const n = keyBytes + (piece === null ? 4 : jsonStringBytes(piece));
        if (full(n)) yield fresh();
        (chunk.events ??= []).push([e.rev, e.key, piece]);
        size += n;
      }
    }
    if (size > 0) yield chunk;
  }

  /** Snapshot materialised at once (an array of chunks), safe to keep while the store changes. */
  snapshotNow(maxChunkBytes: number = DEFAULT_CHUNK_BYTES): SnapshotChunk[] {
    return [...this.snapshot(maxChunkBytes)];
  }

  /**
   * Replace the whole state with a snapshot (SPEC §3.4). Pieces of one key are joined in
   * order; entries of one client are merged, the client's place in the LRU order being its
   * first appearance.
   */
  install(begin: SnapshotBegin, chunks: Iterable<SnapshotChunk>): void {
    const data = new Map<string, Entry>();
    const clients = new Map<string, ClientTable>();
    const events: HistoryEntry[] = [];
    for (const c of chunks) {
      for (const e of c.events ?? []) {
        const prev = events[events.length - 1];
        if (prev && prev[0] === e[0] && prev[2] !== null && e[2] !== null) prev[2] += e[2]; // pieces of one value
        else events.push([e[0], e[1], e[2]]);
      }
      for (const [k, v] of c.data) {
        const old = data.get(k);
        data.set(k, old ? { value: old.value + v, bytes: old.bytes + utf8Length(v) } : { value: v, bytes: utf8Length(v) });
      }
      for (const [client, low, results] of c.dedup) {
        let t = clients.get(client);
        if (!t) clients.set(client, t = { low, results: new Map() });
        for (const [seq, r] of results) t.results.set(seq, r);
      }
    }
    this.data = data;
    this.clients = clients;
    this._index = begin.index;
    this._revision = begin.revision;
    this._lastWrite = null;
    this.installHistory(begin.revision, events);
  }

  /**
   * The transferred history replaces ours (which may hold writes a deposed primary never
   * committed). It is used only if it is what it claims: consecutive revisions ending at the
   * snapshot's revision; otherwise the history starts empty at that revision.
   */
  private installHistory(revision: number, events: HistoryEntry[]): void {
    const first = events.length > 0 ? events[0][0] : revision + 1;
    const consecutive = events.every((e, i) => e[0] === first + i) && first + events.length - 1 === revision;
    this._history.reset(consecutive ? first - 1 : revision);
    if (!consecutive) return;
    for (const [rev, key, value] of events) {
      this._history.push({ key, value, rev }, utf8Length(key), value === null ? 0 : utf8Length(value));
    }
  }
}

function ok(value: OpResult, rev: number): StoredResult {
  return { ok: true, value, rev };
}

function tooLarge(message: string): StoredResult {
  return { ok: false, code: 'TOO_LARGE', message };
}
