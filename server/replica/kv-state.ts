/**
 * The replica's state (SPEC §3.5): the data, the revision, the log index and the
 * at-most-once table. DETERMINISTIC: it imports only from common/, reads no clock and no
 * randomness, and the same operations in the same order give the same state — including
 * the order the at-most-once table evicts in — on the primary and on the backup.
 *
 *   apply(req)  →  StoredResult          every log entry (reads too) goes through here
 *   openTransfer() → TransferCursor       streaming state transfer out (primary), over many turns
 *   beginInstall / receive / finishInstall   state transfer in (backup), chunk by chunk
 *   snapshot() / install(begin, chunks)   the same, all at once; history: the last writes (watch replays)
 */
import type { ReqMsg, StoredResult, HistoryEntry } from '../../common/messages';
import { DEFAULT_LIMITS, Limits, utf8Length, formatBytes } from '../../common/limits';
import { WriteHistory, HistoryBounds, DEFAULT_HISTORY_BOUNDS, WriteEvent } from './write-history';
import { ValueArena } from './value-arena';
import { TransferCursor, DEFAULT_CHUNK_BYTES, type SnapshotChunk, type SnapshotBegin } from './snapshot';
import { listPage, NOT_ANSWERED } from './list-page';
import { Leases } from './leases';
import { KeyIndex } from './key-index';
import { type ClientTable, type StoreBounds, DEFAULT_STORE_BOUNDS, trimResults, evictClients, ok, tooLarge, conflict, commitKeys, planCommit } from './stored-results';

export { TransferCursor, DEFAULT_CHUNK_BYTES, jsonStringBytes } from './snapshot';
export type { SnapshotChunk, SnapshotBegin, DataEntry } from './snapshot';
export type { ClientTable } from './stored-results';
export { type StoreBounds, DEFAULT_STORE_BOUNDS } from './stored-results'; // (moved there: kv-state.ts stays under 400 lines)

/**
 * A stored value: an arena handle (a Smi: no heap object per value), or, for a value larger
 * than ARENA_MAX_VALUE_BYTES, the string and its UTF-8 size. See value-arena.ts: 1M keys of
 * 100 B cost about 2× the raw data this way, against about 2.7× as heap strings in wrappers.
 */
export type Slot = number | BigValue;
export interface BigValue { value: string; bytes: number }

/** get and getEntry are reads: never recorded in the at-most-once table. */
const isWrite = (op: string) => op !== 'get' && op !== 'getEntry' && op !== 'list';

export class KvState {
  private data = new Map<string, Slot>();
  /** Each key's revision: that of its last write (SPEC §10); a key absent here has 0. */
  private revs = new Map<string, number>();
  /** The keys, sorted, for `list` (key-index.ts): touched only when a key is created or deleted. */
  private keys = new KeyIndex();
  private arena = new ValueArena();
  /** Insertion order = least recently used first (a touch deletes and re-inserts). */
  private clients = new Map<string, ClientTable>();
  /** The client at the most recently used end of `clients` (a touch of it moves nothing). */
  private lastClient: string | null = null;
  private _revision = 0;
  private _index = 0;
  private readonly _history: WriteHistory;
  private _lastWrite: WriteEvent | null = null;
  /** The events of the last atomic commit applied (read right after apply, like lastWrite). */
  private _commit: WriteEvent[] = [];
  /** The primary's live outgoing transfer (openTransfer): writes pull keys ahead of it. */
  private live: TransferCursor | null = null;
  private snap: TransferCursor | null = null; // a snapshot to disk in the background (openSnapshot): pulled ahead too
  /** The incoming transfer being received (beginInstall … finishInstall). */
  private incoming: { revision: number; events: HistoryEntry[]; lastKey: string | null } | null = null;
  /** SPEC §10: the keys' ttls and owners, replicated with the data (leases.ts). */
  readonly leases = new Leases();

  constructor(
    readonly limits: Limits = DEFAULT_LIMITS,
    readonly bounds: StoreBounds = DEFAULT_STORE_BOUNDS,
    historyBounds: HistoryBounds = DEFAULT_HISTORY_BOUNDS,
  ) {
    this._history = new WriteHistory(historyBounds);
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
  get history(): WriteHistory { return this._history; }
  /** The event of the last write that changed the data (whatever the history keeps). */
  get lastWrite(): WriteEvent | null { return this._lastWrite; }
  /** The events of the last atomic commit (SPEC §10: one revision, all published together). */
  get lastCommit(): readonly WriteEvent[] { return this._commit; }

  /** The revision of `key`'s last write; 0 if it does not exist (never written, or deleted). */
  revisionOf(key: string): number { return this.revs.get(key) ?? 0; }

  get(key: string): string | undefined {
    const slot = this.data.get(key);
    return slot === undefined ? undefined : this.valueOf(slot);
  }

  /**
   * Apply one log entry and return its result (SPEC §3.3 exactly-once):
   *  1. results of seq < req.ack of that client are forgotten and its watermark `low` raised;
   *  2. seq < low is a stale duplicate: BAD_REQUEST, nothing applied;
   *  3. a write whose (client, seq) has a result returns it again, unapplied; otherwise it is
   *     applied and its result recorded (TOO_LARGE results too: nothing stored, same answer again);
   *  4. a get is never recorded: it returns the current value.
   */
  apply(req: ReqMsg, answerLists = true): StoredResult {
    this._index++;
    let table = this.clients.get(req.client);
    if (table) {
      if (this.lastClient !== req.client) {
        this.clients.delete(req.client); // touch: move to the most recently used end
        this.clients.set(req.client, table);
        this.lastClient = req.client;
      }
    } else if (isWrite(req.op)) {
      table = { low: 0, results: new Map(), lastSeq: -1, inOrder: true };
      this.clients.set(req.client, table);
      this.lastClient = req.client;
      if (evictClients(this.clients, this.bounds.maxClients, this.lastClient)) this.lastClient = null;
    }
    if (table && req.ack > table.low) {
      for (const seq of table.results.keys()) {
        if (seq < req.ack) table.results.delete(seq);
        else if (table.inOrder) break; // the rest were recorded later, with higher seqs
      }
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
      return { ok: true, value: e === undefined ? null : this.valueOf(e), rev: this._revision };
    }
    if (req.op === 'list') { // (a backup's answer would be discarded: it skips the page, SPEC §10 / docs/ARCHITECTURE.md)
      return answerLists ? listPage(req, this.keys, (k) => this.valueOf(this.data.get(k) as Slot), this.revs, this.limits.maxMessageBytes, this._revision) : NOT_ANSWERED;
    }
    if (req.op === 'getEntry') {
      const e = this.data.get(req.key);
      return { ok: true, value: e === undefined ? null : this.valueOf(e), rev: this._revision, krev: this.revs.get(req.key) ?? 0 };
    }
    const t = table as ClientTable;
    const seen = t.results.get(req.seq);
    if (seen) return seen;
    const result = req.op === 'atomic' ? this.commit(req) : this.write(req);
    if (result.ok && (this.leases.size !== 0 || req.ttlMs !== undefined || req.ephemeral === true)) this.leases.applied(req);
    if (req.seq < t.lastSeq) t.inOrder = false;
    else t.lastSeq = req.seq;
    t.results.set(req.seq, result);
    if (t.results.size > this.bounds.maxResultsPerClient) trimResults(t, this.bounds.maxResultsPerClient);
    return result;
  }

  private write(req: ReqMsg): StoredResult {
    const keyBytes = utf8Length(req.key);
    if (keyBytes > this.limits.maxKeyBytes) {
      return tooLarge(`key is ${formatBytes(keyBytes)}; the limit is maxKeyBytes = ${formatBytes(this.limits.maxKeyBytes)}`);
    }
    const old = this.data.get(req.key);
    // (before the check too: the backup decides a conditional write on this key's state, so it must have it)
    if (this.live !== null || this.snap !== null) this.beforeWrite(req.key, old);
    if (req.ifRevision !== undefined) {
      const current = this.revs.get(req.key) ?? 0;
      if (current !== req.ifRevision) return conflict(req.key, req.ifRevision, current);
    }
    switch (req.op) {
      case 'put':
      case 'append': {
        const add = req.value ?? '';
        const addBytes = utf8Length(add);
        const bytes = req.op === 'append' && old !== undefined ? this.bytesOf(old) + addBytes : addBytes;
        if (bytes > this.limits.maxValueBytes) {
          const what = req.op === 'append' ? 'the value would grow to' : 'value is';
          return tooLarge(`${what} ${formatBytes(bytes)}; the limit is maxValueBytes = ${formatBytes(this.limits.maxValueBytes)}`);
        }
        const value = req.op === 'append' && old !== undefined ? this.valueOf(old) + add : add;
        this.data.set(req.key, this.slotFor(value, bytes));
        if (old !== undefined) this.release(old);
        else this.keys.add(req.key);
        this._revision++;
        this.revs.set(req.key, this._revision);
        this.recordWrite({ key: req.key, value, rev: this._revision }, keyBytes, bytes);
        return ok(req.op === 'put' ? null : bytes, this._revision);
      }
      case 'delete': {
        if (old === undefined) return ok(false, this._revision);
        this.data.delete(req.key);
        this.revs.delete(req.key);
        this.keys.delete(req.key);
        this.release(old);
        this._revision++;
        this.recordWrite({ key: req.key, value: null, rev: this._revision }, keyBytes, 0);
        return ok(true, this._revision);
      }
      default:
        return { ok: false, code: 'BAD_REQUEST', message: `unknown op ${JSON.stringify(req.op)}` };
    }
  }

  /**
   * An atomic commit (SPEC §10): every check passes and every value fits, or nothing is
   * written (CONFLICT naming the key, or TOO_LARGE); then one revision for all of it and one
   * event per key it changed (its final value), in the order of the keys' first writes.
   */
  private commit(req: ReqMsg): StoredResult {
    if (this.live !== null || this.snap !== null) for (const k of commitKeys(req)) this.beforeWrite(k, this.data.get(k));
    const next = planCommit(req, this, this.limits.maxValueBytes);
    if (!(next instanceof Map)) return next;
    const events: WriteEvent[] = [];
    const rev = this._revision + 1;
    for (const [k, value] of next) {
      const old = this.data.get(k);
      if (value === null && old === undefined) continue;
      if (old !== undefined) this.release(old);
      const bytes = value === null ? 0 : utf8Length(value);
      if (value === null) this.keys.delete(k);
      else if (old === undefined) this.keys.add(k);
      if (value === null) this.data.delete(k);
      else this.data.set(k, this.slotFor(value, bytes));
      if (value === null) this.revs.delete(k);
      else this.revs.set(k, rev);
      events.push({ key: k, value, rev });
    }
    if (events.length > 0) this._revision = rev;
    for (const e of events) this.recordWrite(e, utf8Length(e.key), e.value === null ? 0 : utf8Length(e.value));
    this._commit = events;
    return ok(true, this._revision);
  }

  private recordWrite(e: WriteEvent, keyBytes: number, valueBytes: number): void {
    this._lastWrite = e;
    this._history.push(e, keyBytes, valueBytes);
  }

  /** Data pairs sorted by key (UTF-16 code unit order), for the digest. */
  sortedEntries(): [string, string][] {
    return this.entriesWithPrefix('');
  }

  /** The pairs whose key starts with `prefix`, sorted by key (a watch resync). */
  entriesWithPrefix(prefix: string): [string, string][] {
    return this.keys.page(prefix, undefined, Infinity).keys.map((k) => [k, this.valueOf(this.data.get(k) as Slot)]);
  }

  /**
   * Start a streaming state transfer of the state as it is now (SPEC §3.4), to be sent over
   * many turns while this store keeps applying operations:
   *
   *   cursor.meta()        the at-most-once table and the write history, as of now (chunks);
   *                        send them first, right after xfer-begin
   *   cursor.next()        data chunks, a bounded amount per call; [] once every key is sent
   *   cursor.takePulled()  the keys that writes since the start pulled ahead (see below):
   *                        send them BEFORE forwarding the operations that made them
   *
   * Copy-on-write by key: the first write to a key after the start first records the key's
   * value as of the start ("pulls it ahead") and marks it handled, so the cursor skips it.
   * The backup, which applies the forwarded operations to the state it is receiving, thus
   * always holds a key's value as of the start before the first operation on it arrives, and
   * every operation is wholly after the transfer. A key that did not exist at the start and
   * is created later is marked handled too (nothing to send). Only one cursor is live (the
   * primary's current transfer); opening another closes it.
   */
  openTransfer(): TransferCursor {
    this.live?.close();
    const cursor = new TransferCursor(this.data, (slot) => this.valueOf(slot), this.revs, this.clients, this._history, () => { if (this.live === cursor) this.live = null; });
    this.live = cursor;
    return cursor;
  }

  /** Like openTransfer, a second cursor beside it: a snapshot to disk (docs/DURABILITY.md §3). Opening another closes it. */
  openSnapshot(): TransferCursor {
    this.snap?.close();
    const cursor = new TransferCursor(this.data, (slot) => this.valueOf(slot), this.revs, this.clients, this._history, () => { if (this.snap === cursor) this.snap = null; });
    return (this.snap = cursor);
  }

  /** The live cursors' hook: called before a write changes `key` (whose current entry is `old`). */
  private beforeWrite(key: string, old: Slot | undefined): void {
    const t = this.live !== null && this.live.wants(key) ? this.live : null;
    const s = this.snap !== null && this.snap.wants(key) ? this.snap : null;
    if (t === null && s === null) return;
    const value = old === undefined ? undefined : this.valueOf(old);
    const rev = this.revs.get(key) ?? 0;
    t?.pull(key, value, rev);
    s?.pull(key, value, rev);
  }

  private valueOf(slot: Slot): string { return typeof slot === 'number' ? this.arena.read(slot) : slot.value; }

  private bytesOf(slot: Slot): number { return typeof slot === 'number' ? this.arena.bytes(slot) : slot.bytes; }

  /** Store a value (its UTF-8 size known, or measured here). */
  private slotFor(value: string, bytes?: number): Slot {
    const h = this.arena.tryPut(value);
    return h >= 0 ? h : { value, bytes: bytes ?? utf8Length(value) };
  }

  private release(slot: Slot): void { if (typeof slot === 'number') this.arena.free(slot); }

  /**
   * The whole state as chunks of at most ~`maxChunkBytes` of JSON each: the at-most-once
   * table (least recently used first, so the backup evicts in the same order), the data,
   * then the write history (oldest first). Consume it before applying anything else.
   */
  *snapshot(maxChunkBytes: number = DEFAULT_CHUNK_BYTES): Generator<SnapshotChunk> {
    const cursor = new TransferCursor(this.data, (slot) => this.valueOf(slot), this.revs, this.clients, this._history, () => {});
    yield* cursor.meta(maxChunkBytes);
    for (let chunks = cursor.next(maxChunkBytes); chunks.length > 0; chunks = cursor.next(maxChunkBytes)) yield* chunks;
    yield* cursor.historyChunks(maxChunkBytes);
    yield* this.leases.chunks(maxChunkBytes);
  }

  /** Snapshot materialised at once (an array of chunks), safe to keep while the store changes. */
  snapshotNow(maxChunkBytes: number = DEFAULT_CHUNK_BYTES): SnapshotChunk[] { return [...this.snapshot(maxChunkBytes)]; }

  /** Replace the whole state with a snapshot (SPEC §3.4): beginInstall, receive each chunk, finishInstall. */
  install(begin: SnapshotBegin, chunks: Iterable<SnapshotChunk>): void {
    this.beginInstall(begin);
    for (const c of chunks) this.receive(c);
    this.finishInstall();
  }

  /** A new, empty store with the same limits and bounds (a backup's staging store). */
  emptyLike(): KvState { return new KvState(this.limits, this.bounds, this._history.bounds); }

  /**
   * Backup side of a transfer: drop everything and start at the snapshot's index and
   * revision, with an empty history from there. Then `receive` each chunk as it arrives
   * (operations may be applied in between, once the at-most-once table is in: the primary
   * sends it first), and `finishInstall` at the end.
   */
  beginInstall(begin: SnapshotBegin): void {
    this.live?.close();
    this.snap?.close();
    this.data = new Map();
    this.revs = new Map();
    this.keys = new KeyIndex();
    this.arena = new ValueArena();
    this.clients = new Map();
    this.lastClient = null;
    this.leases.clear();
    this._index = begin.index;
    this._revision = begin.revision;
    this._lastWrite = null;
    this._history.reset(begin.revision);
    this.incoming = { revision: begin.revision, events: [], lastKey: null };
  }

  /**
   * One chunk of a transfer. Data entries set keys (pieces append to the key set just
   * before); the at-most-once entries of one client are merged, its place in the LRU order
   * being its first appearance; history events (writes up to the snapshot, sent last) wait
   * for `finishInstall`.
   */
  receive(c: SnapshotChunk): void {
    const inc = this.incoming;
    for (const e of c.events ?? []) {
      if (inc === null) break;
      const prev = inc.events[inc.events.length - 1];
      if (prev && prev[0] === e[0] && prev[1] === e[1] && prev[2] !== null && e[2] !== null) prev[2] += e[2]; // pieces of one value
      else inc.events.push([e[0], e[1], e[2]]);
    }
    for (const e of c.data) {
      const [k, v] = e;
      const prev = this.data.get(k);
      const value = e.length === 3 && inc !== null && inc.lastKey === k && prev !== undefined ? this.valueOf(prev) + v : v;
      this.data.set(k, this.slotFor(value));
      if (e.length === 4) this.revs.set(k, e[3]);
      else if (e.length === 2) this.revs.delete(k); // (a sender without revisions: unknown, 0)
      if (prev !== undefined) this.release(prev);
      else this.keys.add(k);
      if (inc !== null) inc.lastKey = k;
    }
    for (const [client, low, results] of c.dedup) {
      let t = this.clients.get(client);
      if (!t) this.clients.set(client, t = { low, results: new Map(), lastSeq: Infinity, inOrder: false });
      for (const [seq, r] of results) t.results.set(seq, r);
    }
    if (c.leases) this.leases.receive(c.leases);
  }

  /**
   * The transfer is complete: the history becomes the transferred writes (up to the
   * snapshot) followed by those applied since, as if they had been pushed in that order.
   */
  finishInstall(): void {
    const inc = this.incoming;
    if (inc === null) return;
    this.incoming = null;
    const since: HistoryEntry[] = [...this._history.since(this._history.base)].map((e) => [e.rev, e.key, e.value]);
    const older = inc.events;
    // (if the bounds already evicted the first writes applied since, the older ones cannot join them)
    const joins = older.length === 0 || since.length === 0 || since[0][0] === older[older.length - 1][0] + 1;
    this._history.install(this._revision, joins ? [...older, ...since] : since);
  }
}
