/**
 * Snapshot files (docs/DURABILITY.md §3). A snapshot is written in the background from the
 * same copy-on-write cursor the state transfer uses (server/replica/snapshot.ts
 * TransferCursor): the shell takes one chunk per event-loop turn, JSON-encodes it like an
 * xfer-data payload and hands it to `write`; the request path never waits for it.
 *
 *   snap-<index>.snap.tmp:  SnapBegin(index, meta) · SnapChunk … · SnapEnd(count)
 *   finish: fdatasync ─▶ close ─▶ rename to snap-<index>.snap
 *   install: manifest swap (its directory fsync also makes the rename durable) ─▶ delete
 *            the old snapshot ─▶ drop the log segments the new snapshot covers
 *
 * The file uses the log's record format, so a damaged snapshot is found by the same CRCs.
 * A snapshot without its SnapEnd record is incomplete and never named by a manifest.
 */
import { crashPoint } from './crash-points';
import * as path from 'node:path';
import { encodeRecords, scan, RecordType, DataDamage } from './log-format';
import { PromisedFs } from './disk-fs';
import { Manifest, writeManifest } from './manifest';

/** File name of the snapshot at log index `index`. */
export function snapshotName(index: number): string {
  return `snap-${index.toString(16).padStart(16, '0')}.snap`;
}

/** A snapshot as read back. Payloads are the bytes written (the caller parses them). */
export interface SnapshotContent {
  index: number;
  meta: Buffer;
  chunks: Buffer[];
}

/** Writes one snapshot file; create with `SnapshotWriter.create`. One write at a time (await each). */
export class SnapshotWriter {
  private position = 0;
  private chunks = 0;
  private readonly started = process.hrtime.bigint();
  /** Bytes written so far. */
  get bytes(): number { return this.position; }

  private constructor(
    private readonly pfs: PromisedFs,
    private readonly tmp: string,
    private readonly fd: number,
    readonly index: number,
  ) {}

  /** Start `snap-<index>.snap.tmp` in `dir` with its SnapBegin record (`meta`: e.g. the revision, JSON). */
  static async create(pfs: PromisedFs, dir: string, index: number, meta: string): Promise<SnapshotWriter> {
    const tmp = path.join(dir, snapshotName(index) + '.tmp');
    await pfs.unlink(tmp).catch(() => undefined);
    const w = new SnapshotWriter(pfs, tmp, await pfs.open(tmp, 'wx'), index);
    await w.append(encodeRecords([{ type: RecordType.SnapBegin, index, count: 0, payload: meta }]));
    crashPoint('snapshot');
    return w;
  }

  /** Append one chunk (the JSON of a SnapshotChunk, as the transfer would send it). */
  async write(chunk: string | Uint8Array): Promise<void> {
    await this.append(encodeRecords([{ type: RecordType.SnapChunk, index: this.index, count: 0, payload: chunk }]));
    this.chunks++;
  }

  /** Seal the file: SnapEnd, fdatasync, close, rename. Returns the final file name and the time taken. */
  async finish(): Promise<{ file: string; ms: number; bytes: number }> {
    await this.append(encodeRecords([{ type: RecordType.SnapEnd, index: this.index, count: this.chunks, payload: '' }]));
    await this.pfs.fdatasync(this.fd);
    await this.pfs.close(this.fd);
    const file = snapshotName(this.index);
    await this.pfs.rename(this.tmp, path.join(path.dirname(this.tmp), file));
    return { file, ms: Number(process.hrtime.bigint() - this.started) / 1e6, bytes: this.position };
  }

  /** Give up (e.g. shutting down): close and remove the temporary file. */
  async abort(): Promise<void> {
    await this.pfs.close(this.fd).catch(() => undefined);
    await this.pfs.unlink(this.tmp).catch(() => undefined);
  }

  private async append(buf: Buffer): Promise<void> {
    const at = this.position;
    this.position += buf.length;
    await this.pfs.writev(this.fd, [buf], at);
  }
}

/**
 * Make a finished snapshot the state's base: swap the manifest to name it (and `logFrom`,
 * the first segment still needed), then delete the snapshot it replaces. The caller drops
 * the old segments afterwards (Wal.dropSegmentsBefore(logFrom)): only once this resolved.
 */
export async function installSnapshot(pfs: PromisedFs, dir: string, current: Manifest, file: string, index: number, logFrom: number): Promise<Manifest> {
  const next: Manifest = { ...current, snapshot: { file, index }, logFrom };
  await writeManifest(pfs, dir, next);
  if (current.snapshot !== null && current.snapshot.file !== file) {
    await pfs.unlink(path.join(dir, current.snapshot.file)).catch(() => undefined); // recovery removes strays too
  }
  return next;
}

/** Read and check a snapshot file: complete (Begin … End with the right count) and undamaged, or DataDamage. */
export async function readSnapshot(pfs: PromisedFs, dir: string, file: string): Promise<SnapshotContent> {
  const full = path.join(dir, file);
  let buf: Buffer;
  try { buf = await pfs.readFile(full); } catch (err) {
    throw new DataDamage(full, 0, `the manifest names this snapshot but it cannot be read (${(err as Error).message})`);
  }
  const { records, end } = scan(buf);
  // A snapshot is fsynced before the manifest names it: even a torn tail is damage here.
  if (end.kind !== 'clean') throw new DataDamage(full, end.offset, end.reason);
  const first = records[0];
  const last = records[records.length - 1];
  if (first?.type !== RecordType.SnapBegin) throw new DataDamage(full, 0, 'no snapshot header record');
  if (last.type !== RecordType.SnapEnd || last.count !== records.length - 2) {
    throw new DataDamage(full, last.offset, 'snapshot incomplete: no end record or a chunk count mismatch');
  }
  const chunks = records.slice(1, -1);
  const stray = chunks.find((r) => r.type !== RecordType.SnapChunk);
  if (stray !== undefined) throw new DataDamage(full, stray.offset, `record of type ${stray.type} inside a snapshot`);
  return { index: first.index, meta: first.payload, chunks: chunks.map((r) => r.payload) };
}
