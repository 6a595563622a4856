/**
 * The on-disk record format of the write-ahead log, snapshot files and manifest (SPEC §9,
 * docs/DURABILITY.md §1). PURE: bytes in, records out; no file system, no clock.
 *
 *   0        4    5         8        12        16        20          24          28       32
 *   ┌────────┬────┬─────────┬────────┬─────────┬─────────┬───────────┬───────────┬────────┐
 *   │ length │type│ 0 0 0   │ count  │ indexLo │ indexHi │payloadCrc │ headerCrc │   0    │
 *   └────────┴────┴─────────┴────────┴─────────┴─────────┴───────────┴───────────┴────────┘
 *   payload (length bytes) · zero padding to a multiple of 8
 *
 * All integers little-endian u32. `headerCrc` is the CRC32 of bytes 0..24 (so it covers the
 * payload's CRC too): a record whose length field is damaged is recognised as damage, never
 * mistaken for a torn tail that runs past the end of the file.
 *
 * A scan classifies where the readable records stop:
 *   - clean: the buffer ends exactly after a record;
 *   - torn: the last record is incomplete (too short, or one of its 512-byte sectors reads
 *     as zeros: a page that never reached the disk). It was never fsynced, so never
 *     acknowledged: the caller may truncate it (etcd's wal `isTornEntry`, same idea);
 *   - damage: anything else (a checksum mismatch in a complete record, a bad header), with
 *     the offset. Whether a torn tail is acceptable (only in the last segment) is decided by
 *     recovery.ts, not here.
 */
import { crc32 as nativeCrc32 } from 'node:zlib';

/** Record types. The numbers are on disk: never renumber. */
export const RecordType = {
  /** Forwarded operations: `index` = first op's log index, `count` ops, payload = the fwd frame text as sent/received. */
  Ops: 1,
  /** An adopted view (the fence): `index` = viewnum, payload opaque (the view JSON). */
  View: 2,
  /** Identity of the server (id + incarnation JSON); heads every segment. */
  Identity: 3,
  /** Snapshot file: first record, `index` = the log index the snapshot is at, payload = meta. */
  SnapBegin: 4,
  /** Snapshot file: one chunk (payload = the chunk JSON). */
  SnapChunk: 5,
  /** Snapshot file: last record, `count` = number of chunks; without it the snapshot is incomplete. */
  SnapEnd: 6,
  /** The manifest file's single record (payload = manifest JSON). */
  Manifest: 7,
} as const;

/** One of the RecordType values. */
export type RecordTypeCode = typeof RecordType[keyof typeof RecordType];

const MAX_TYPE = 7;

/** Bytes of a record header. */
export const HEADER_BYTES = 32;
/** The smallest unit a disk writes atomically; a lost one reads back as zeros. @default 512 */
export const SECTOR_BYTES = 512;
/** Largest payload accepted (a message is ≤ 2 MiB, SPEC §8; chunks are smaller). @default 16 MiB */
export const MAX_PAYLOAD_BYTES = 16 * 1024 * 1024;

/** A record to write. `payload` is stored byte for byte (strings as UTF-8), never re-encoded. */
export interface LogRecord {
  type: RecordTypeCode;
  /** Ops: first index; View: viewnum; SnapBegin: snapshot index; others 0. Integer < 2^53. */
  index: number;
  /** Ops: number of operations in the payload; SnapEnd: number of chunks; others 0. */
  count: number;
  payload: string | Uint8Array;
}

/** A record read back; `payload` is a view into the scanned buffer. */
export interface ScannedRecord {
  type: RecordTypeCode;
  index: number;
  count: number;
  payload: Buffer;
  /** Byte offset of the record's header in the scanned buffer. */
  offset: number;
}

/** Where the readable records stop. `offset` = first byte not covered by a complete record. */
export type ScanEnd =
  | { kind: 'clean' }
  | { kind: 'torn'; offset: number; reason: string }
  | { kind: 'damage'; offset: number; reason: string };

/** The result of `scan`. */
export interface ScanResult {
  records: ScannedRecord[];
  end: ScanEnd;
  /** Bytes covered by complete records (the length to truncate a torn file to). */
  validBytes: number;
}

/** CRC32 (IEEE, as zlib) lookup table for short inputs. */
const CRC_TABLE = new Int32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  CRC_TABLE[n] = c;
}

/** Below this many bytes the table loop beats a call into zlib (measured: ~0.8 µs per call). */
const NATIVE_CRC_FROM = 256;

/**
 * CRC32 of buf[start, end), the same value as zlib.crc32. Headers (24 bytes) and small
 * payloads use a table loop, larger ones zlib's native code: the call into zlib costs more
 * than the loop for a typical 200-byte fwd frame, and there are two CRCs per record.
 */
export function crc32(buf: Uint8Array, start: number, end: number): number {
  if (end - start >= NATIVE_CRC_FROM) return nativeCrc32(buf.subarray(start, end));
  let c = -1;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

/** Round up to a multiple of 8. */
export function align8(n: number): number {
  return (n + 7) & ~7;
}

/** Bytes a record of `payloadBytes` takes on disk (header + payload + padding). */
export function recordBytes(payloadBytes: number): number {
  return HEADER_BYTES + align8(payloadBytes);
}

/**
 * Encode a batch of records into one buffer: one allocation and one write per batch (the
 * group commit writes it with a single writev). Strings are encoded in place, not via an
 * intermediate Buffer per record.
 */
export function encodeRecords(records: readonly LogRecord[]): Buffer {
  let cap = 0;
  for (const r of records) {
    // Upper bound: a UTF-16 code unit is at most 3 UTF-8 bytes; avoids a sizing pass.
    const n = typeof r.payload === 'string' ? r.payload.length * 3 : r.payload.length;
    cap += HEADER_BYTES + n + 8;
  }
  const buf = Buffer.allocUnsafe(cap);
  let off = 0;
  for (const r of records) off = encodeInto(buf, off, r);
  return buf.subarray(0, off);
}

/** Write one record at `off`; returns the offset after its padding. */
function encodeInto(buf: Buffer, off: number, r: LogRecord): number {
  const p = off + HEADER_BYTES;
  let len: number;
  if (typeof r.payload === 'string') len = buf.write(r.payload, p, 'utf8');
  else { buf.set(r.payload, p); len = r.payload.length; }
  if (len > MAX_PAYLOAD_BYTES) throw new RangeError(`record payload is ${len} bytes; the limit is ${MAX_PAYLOAD_BYTES}`);
  if (!Number.isSafeInteger(r.index) || r.index < 0) throw new RangeError(`record index ${r.index} is not a non-negative safe integer`);
  const end = p + align8(len);
  buf.fill(0, p + len, end);
  buf.writeUInt32LE(len, off);
  buf.writeUInt32LE(r.type, off + 4); // type in byte 4, bytes 5..7 zero
  buf.writeUInt32LE(r.count >>> 0, off + 8);
  buf.writeUInt32LE(r.index % 0x100000000, off + 12);
  buf.writeUInt32LE(Math.floor(r.index / 0x100000000), off + 16);
  buf.writeUInt32LE(crc32(buf, p, p + len), off + 20);
  buf.writeUInt32LE(crc32(buf, off, off + 24), off + 24);
  buf.writeUInt32LE(0, off + 28);
  return end;
}

/**
 * Read every complete record of `buf` from the start and classify the end (see the file
 * comment). Never throws on bad input: damage is a result, with its offset.
 */
export function scan(buf: Buffer): ScanResult {
  const records: ScannedRecord[] = [];
  let off = 0;
  for (;;) {
    if (off === buf.length) return { records, end: { kind: 'clean' }, validBytes: off };
    const r = readAt(buf, off);
    if ('kind' in r) return { records, end: r, validBytes: off };
    records.push(r.record);
    off = r.next;
  }
}

/** The record at `off`, or why there is none. */
function readAt(buf: Buffer, off: number): { record: ScannedRecord; next: number } | ScanEnd {
  const left = buf.length - off;
  if (left < HEADER_BYTES) return { kind: 'torn', offset: off, reason: `${left} bytes left, shorter than a record header` };
  if (buf.readUInt32LE(off + 24) !== crc32(buf, off, off + 24)) {
    return tornOrDamage(buf, off, off + HEADER_BYTES, 'header checksum mismatch');
  }
  const len = buf.readUInt32LE(off);
  const type = buf[off + 4];
  if (type < 1 || type > MAX_TYPE || buf[off + 5] !== 0 || buf.readUInt16LE(off + 6) !== 0 || buf.readUInt32LE(off + 28) !== 0) {
    return { kind: 'damage', offset: off, reason: `unknown record type ${type} or reserved bytes set` };
  }
  if (len > MAX_PAYLOAD_BYTES) return { kind: 'damage', offset: off, reason: `record length ${len} exceeds ${MAX_PAYLOAD_BYTES}` };
  const size = recordBytes(len);
  // A valid header whose record runs past the end: the write of the last record was cut.
  if (size > left) return { kind: 'torn', offset: off, reason: `record of ${size} bytes, ${left} left` };
  const p = off + HEADER_BYTES;
  const payload = buf.subarray(p, p + len);
  if (buf.readUInt32LE(off + 20) !== crc32(buf, p, p + len)) return tornOrDamage(buf, off, off + size, 'payload checksum mismatch');
  for (let i = p + len; i < off + size; i++) {
    if (buf[i] !== 0) return { kind: 'damage', offset: off, reason: 'nonzero padding' };
  }
  const index = buf.readUInt32LE(off + 12) + buf.readUInt32LE(off + 16) * 0x100000000;
  const record: ScannedRecord = { type: type as RecordTypeCode, index, count: buf.readUInt32LE(off + 8), payload, offset: off };
  return { record, next: off + size };
}

/**
 * A record that fails its checksum is torn when one of the sectors it covers reads as zeros
 * from the record (or the sector's) start to the sector's end or the file's end: a page the
 * power cut kept from the disk. A flipped bit leaves no zero sector: damage.
 */
function tornOrDamage(buf: Buffer, from: number, to: number, reason: string): ScanEnd {
  for (let s = from - (from % SECTOR_BYTES); s < to && s < buf.length; s += SECTOR_BYTES) {
    const a = Math.max(from, s);
    const b = Math.min(s + SECTOR_BYTES, buf.length);
    if (b > a && allZero(buf, a, b)) return { kind: 'torn', offset: from, reason: `${reason}, zero-filled sector at ${s}` };
  }
  return { kind: 'damage', offset: from, reason };
}

function allZero(buf: Buffer, a: number, b: number): boolean {
  for (let i = a; i < b; i++) if (buf[i] !== 0) return false;
  return true;
}

/**
 * Data the server must not start on (SPEC §9: exit 1 naming the file and offset). Thrown by
 * recovery; the message says where and what, and how to start anyway (--reset-data).
 */
export class DataDamage extends Error {
  constructor(readonly file: string, readonly offset: number, readonly reason: string) {
    super(`damaged data in ${file} at offset ${offset}: ${reason} (start with --reset-data to move the data dir aside and start empty)`);
    this.name = 'DataDamage';
  }
}
