/**
 * State-transfer chunks (SPEC §3.4, docs/PROTOCOL.md §3.2): the primary's side of a
 * streaming transfer (TransferCursor, opened by KvState.openTransfer) and the JSON byte
 * accounting that keeps chunks and forwarded frames under the message limit.
 * DETERMINISTIC: imports only from common/ and the store's types.
 */
import type { DedupEntry, HistoryEntry, DataEntry, LeaseEntry } from '../../common/messages';
import { utf8Length } from '../../common/limits';
import type { WriteHistory, WriteEvent } from './write-history';
import type { Slot, ClientTable } from './kv-state';

/** Target size of one snapshot chunk, in UTF-8 bytes of its JSON. @default 524288 */
export const DEFAULT_CHUNK_BYTES = 512 * 1024;

/**
 * One data entry of a transfer (common/messages.ts). Setting is idempotent, so a key sent
 * twice with the same value (streamed, then pulled ahead of a write) costs bandwidth only.
 */
export type { DataEntry };

/** One chunk of a snapshot: the payload of an `xfer-data` message. */
export interface SnapshotChunk {
  data: DataEntry[];
  dedup: DedupEntry[];
  /** History events (oldest first), in the last chunks; absent when none. */
  events?: HistoryEntry[];
  /** The keys' ttls and owners (SPEC §10, leases.ts), in the last chunks; absent when none. */
  leases?: LeaseEntry[];
}

/** Where a snapshot starts: the payload of `xfer-begin` that the store cares about. */
export interface SnapshotBegin {
  index: number;
  revision: number;
}

/** JSON bytes of a data entry beside its key and value: brackets, quotes, commas, `0,` and the revision. */
const ENTRY_OVERHEAD = 28;

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

/**
 * The primary's side of one streaming transfer (KvState.openTransfer). It reads the store's
 * live maps: the data through a live Map iterator (entries deleted before it reaches them
 * are skipped, entries added are visited, which is why every key a write touches is marked
 * handled), the at-most-once table and the history only in `meta()`, at the start.
 */
export class TransferCursor {
  private readonly iter: Iterator<[string, Slot]>;
  /** The entry that did not fit in the last chunk: the first of the next. */
  private carry: [string, Slot] | null = null;
  /** Keys written since the start: already sent (pulled) or not part of the snapshot. */
  private readonly handled = new Set<string>();
  private pulled: ChunkBuilder | null = null;
  private pulledLimit = DEFAULT_CHUNK_BYTES;
  private _done = false;
  private closed = false;

  /** The history as of the start (its events are immutable), sent after the data. */
  private readonly events: WriteEvent[];

  constructor(
    data: Map<string, Slot>,
    private readonly valueOf: (slot: Slot) => string,
    /** Each key's revision (SPEC §10), read as the data is: as of the start for keys not yet written. */
    private readonly revs: Map<string, number>,
    private readonly clients: Map<string, ClientTable>,
    history: WriteHistory,
    private readonly onClose: () => void,
  ) {
    this.iter = data.entries();
    this.events = [...history.since(history.base)];
  }

  /** Every data chunk was returned by next(). */
  get done(): boolean { return this._done; }
  /** close() was called (by its owner, or by the store: replaced or another cursor opened). */
  get isClosed(): boolean { return this.closed; }
  /** Keys pulled ahead so far (a metric of how much writing went on during the transfer). */
  get handledCount(): number { return this.handled.size; }

  /**
   * The at-most-once table (LRU first), as of the start: call it at the start, and send it
   * before any forwarded operation (the backup checks each against it).
   */
  meta(maxChunkBytes: number = DEFAULT_CHUNK_BYTES): SnapshotChunk[] {
    const out = new ChunkBuilder(maxChunkBytes);
    for (const [client, t] of this.clients) {
      const head = jsonStringBytes(client) + 24;
      out.room(head);
      let entry: DedupEntry = [client, t.low, []];
      out.chunk.dedup.push(entry);
      out.size += head;
      for (const [seq, r] of t.results) {
        const n = utf8Length(JSON.stringify(r)) + 24;
        if (out.room(n)) {
          entry = [client, t.low, []];
          out.chunk.dedup.push(entry);
          out.size += head;
        }
        entry[2].push([seq, r]);
        out.size += n;
      }
    }
    return out.finish();
  }

  /**
   * The write history as of the start (oldest first), for watch replays after a failover:
   * sent after the data (it is not needed before), so the operations forwarded during the
   * transfer do not queue behind it.
   */
  historyChunks(maxChunkBytes: number = DEFAULT_CHUNK_BYTES): SnapshotChunk[] {
    const out = new ChunkBuilder(maxChunkBytes);
    for (const e of this.events) {
      const keyBytes = jsonStringBytes(e.key) + 32;
      const valueBytes = e.value === null ? 4 : jsonStringBytes(e.value);
      const pieces = e.value === null || keyBytes + valueBytes <= maxChunkBytes
        ? [e.value]
        : splitByJsonBytes(e.value, Math.max(1024, maxChunkBytes - keyBytes));
      for (const piece of pieces) {
        const n = keyBytes + (piece === null ? 4 : jsonStringBytes(piece));
        out.room(n);
        (out.chunk.events ??= []).push([e.rev, e.key, piece]);
        out.size += n;
      }
    }
    return out.finish();
  }

  /**
   * The next data chunks: about `maxChunkBytes` of keys the cursor has not passed yet and
   * no write has handled, as they are now (= as of the start). Usually one chunk; more when
   * a value is larger than a chunk, whose pieces are always returned together. [] when done.
   */
  next(maxChunkBytes: number = DEFAULT_CHUNK_BYTES): SnapshotChunk[] {
    if (this._done || this.closed) return [];
    const out = new ChunkBuilder(maxChunkBytes);
    for (;;) {
      let entry = this.carry;
      this.carry = null;
      if (entry === null) {
        const r = this.iter.next();
        if (r.done) { this._done = true; break; }
        entry = r.value;
      }
      const [key, slot] = entry;
      if (this.handled.size > 0 && this.handled.has(key)) continue;
      const value = this.valueOf(slot);
      if (out.size > 0 && out.size + jsonStringBytes(key) + ENTRY_OVERHEAD + value.length > maxChunkBytes) {
        this.carry = entry; // starts the next chunk (length: a lower bound of its JSON size)
        break;
      }
      addEntry(out, key, value, this.revs.get(key) ?? 0, maxChunkBytes);
      if (out.done.length > 0 || out.size >= maxChunkBytes) break;
    }
    return out.finish();
  }

  /** False once `key` needs no pull: already pulled, or the transfer is over. */
  wants(key: string): boolean {
    return !this.closed && !this.handled.has(key);
  }

  /** A write is about to change `key` (its value now: `old`, its revision `rev`): send them as of the start first, once. */
  pull(key: string, old: string | undefined, rev: number): void {
    if (this.closed || this.handled.has(key)) return;
    this.handled.add(key);
    if (this._done || old === undefined) return; // the cursor sent it already / not in the snapshot
    addEntry(this.pulled ??= new ChunkBuilder(this.pulledLimit), key, old, rev, this.pulledLimit);
  }

  /** The chunks of keys pulled ahead since the last call, to send before the next fwd ([] if none). */
  takePulled(maxChunkBytes: number = DEFAULT_CHUNK_BYTES): SnapshotChunk[] {
    this.pulledLimit = maxChunkBytes;
    const out = this.pulled;
    this.pulled = null;
    return out === null ? [] : out.finish();
  }

  /** Stop: writes no longer pull (the transfer finished, or was abandoned). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pulled = null;
    this.handled.clear();
    this.onClose();
  }
}

/** Fills chunks up to a byte budget (JSON UTF-8 bytes, approximately from above). */
class ChunkBuilder {
  chunk: SnapshotChunk = { data: [], dedup: [] };
  size = 0;
  readonly done: SnapshotChunk[] = [];
  constructor(readonly max: number) {}
  /** Make room for `n` more bytes: start a new chunk when the current one is non-empty and would overflow. True if it did. */
  room(n: number): boolean {
    if (this.size === 0 || this.size + n <= this.max) return false;
    this.done.push(this.chunk);
    this.chunk = { data: [], dedup: [] };
    this.size = 0;
    return true;
  }
  finish(): SnapshotChunk[] {
    if (this.size > 0) this.done.push(this.chunk);
    return this.done;
  }
}

/** One key's data entries: `[key, value, 0, rev]`, or a value too large for a chunk as `[key, piece, 0, rev]`, `[key, piece, 1]`, …. */
function addEntry(out: ChunkBuilder, key: string, value: string, rev: number, maxChunkBytes: number): void {
  const keyBytes = jsonStringBytes(key) + ENTRY_OVERHEAD;
  const valueBytes = jsonStringBytes(value);
  if (keyBytes + valueBytes <= maxChunkBytes) {
    out.room(keyBytes + valueBytes);
    out.chunk.data.push([key, value, 0, rev]);
    out.size += keyBytes + valueBytes;
    return;
  }
  let first = true;
  for (const piece of splitByJsonBytes(value, Math.max(1024, maxChunkBytes - keyBytes))) {
    const n = keyBytes + 2 + jsonStringBytes(piece);
    out.room(n);
    out.chunk.data.push(first ? [key, piece, 0, rev] : [key, piece, 1]);
    out.size += n;
    first = false;
  }
}
