/**
 * Recovery (SPEC §9, docs/DURABILITY.md §4): manifest + snapshot + log segments → what the
 * replica replays before it serves, in order. The one place that decides between cutting a
 * torn tail and refusing to start:
 *
 *   - a torn record at the end of the LAST segment was never fsynced, so never acknowledged:
 *     truncate it (and fsync the truncation) and go on;
 *   - anything else (a checksum mismatch, a torn earlier segment, a missing segment, a gap in
 *     the op indexes, a segment of another server, an incomplete snapshot): DataDamage,
 *     naming the file and offset. The replica exits 1; `--reset-data` (resetData) moves the
 *     data aside and starts as a new, empty server.
 *
 * A new data dir gets a manifest with a fresh identity before anything else is written, so
 * log segments without a manifest are damage, never "new".
 */
import * as path from 'node:path';
import { scan, RecordType, DataDamage, ScannedRecord } from './log-format';
import { DiskFs, nodeDiskFs, promisedFs, PromisedFs } from './disk-fs';
import { Manifest, MANIFEST_FILE, readManifest, writeManifest, identityPayload } from './manifest';
import { readSnapshot, SnapshotContent } from './snapshot-file';
import { parseSegmentName, segmentName, WalSegment, WalOptions } from './wal';

/** Who a new data dir belongs to. */
export interface FreshIdentity { id: string; incarnation: string; lineage: string }

/** Options of `recover`. */
export interface RecoverOptions {
  dir: string;
  /** @default nodeDiskFs */
  fs?: DiskFs;
  /** The identity of a new data dir (id = the replica's URL, a new incarnation and lineage). */
  fresh: () => FreshIdentity;
}

/** A forwarded-ops record to replay: ops `index … index+count-1` in `payload` (the fwd frame as logged). */
export interface RecoveredOps { index: number; count: number; payload: Buffer }

/** What was on disk, in replay order: snapshot, then ops; plus the last view and the identity. */
export interface Recovered {
  manifest: Manifest;
  /** The data dir was new: nothing to replay, a new identity. */
  fresh: boolean;
  snapshot: SnapshotContent | null;
  /**
   * The ops after the snapshot, ascending and contiguous. The first record may start at or
   * before the snapshot's index: replay skips the ops the snapshot holds (as a backup skips a resend).
   */
  ops: RecoveredOps[];
  /** The last view adopted (the fence): viewnum and the payload logged. */
  view: { viewnum: number; payload: Buffer } | null;
  /** The last op index on disk (the snapshot's when no op follows it; 0 when empty). */
  lastIndex: number;
  /** The segments kept, for the Wal (it writes to a new one after them). */
  segments: WalSegment[];
  /** A torn tail that was cut, to log. */
  truncated: { file: string; offset: number; reason: string } | null;
}

/** Read the data dir (creating it when new) and return what to replay; DataDamage when it must not start. */
export async function recover(o: RecoverOptions): Promise<Recovered> {
  const pfs = promisedFs(o.fs ?? nodeDiskFs);
  await pfs.mkdir(o.dir);
  const names = await pfs.readdir(o.dir);
  const manifest = await readManifest(pfs, o.dir);
  if (manifest === null) return startFresh(pfs, o, names);
  const snapshot = manifest.snapshot === null ? null : await readSnapshot(pfs, o.dir, manifest.snapshot.file);
  if (snapshot !== null && snapshot.index !== manifest.snapshot!.index) {
    throw new DataDamage(path.join(o.dir, manifest.snapshot!.file), 0, `snapshot is at index ${snapshot.index}, the manifest says ${manifest.snapshot!.index}`);
  }
  const seqs = segmentSeqs(o.dir, names, manifest);
  const replay = new Replay(manifest, snapshot?.index ?? 0);
  let truncated: Recovered['truncated'] = null;
  for (let i = 0; i < seqs.length; i++) {
    const file = path.join(o.dir, segmentName(seqs[i]));
    const { records, end, validBytes } = scan(await pfs.readFile(file));
    if (end.kind === 'damage') throw new DataDamage(file, end.offset, end.reason);
    if (end.kind === 'torn') {
      if (i < seqs.length - 1) throw new DataDamage(file, end.offset, `torn record in a segment that is not the last: ${end.reason}`);
      truncated = { file, offset: end.offset, reason: end.reason };
      await truncateDurably(pfs, file, validBytes);
    }
    replay.segment(file, seqs[i], records);
  }
  await removeStrays(pfs, o.dir, names, manifest);
  return {
    manifest, fresh: false, snapshot, ops: replay.ops, view: replay.view,
    lastIndex: replay.lastIndex, segments: replay.segments, truncated,
  };
}

/** No manifest: a new server, unless there is data (then the manifest was lost: damage). */
async function startFresh(pfs: PromisedFs, o: RecoverOptions, names: string[]): Promise<Recovered> {
  const data = names.filter((n) => parseSegmentName(n) !== null || n.endsWith('.snap'));
  if (data.length > 0) throw new DataDamage(path.join(o.dir, MANIFEST_FILE), 0, `missing, but the directory holds ${data.join(', ')}`);
  const id = o.fresh();
  const manifest: Manifest = { version: 1, id: id.id, incarnation: id.incarnation, lineage: id.lineage, snapshot: null, logFrom: 1 };
  await writeManifest(pfs, o.dir, manifest);
  return { manifest, fresh: true, snapshot: null, ops: [], view: null, lastIndex: 0, segments: [], truncated: null };
}

/** The segments from `logFrom` on, in order, with no gap. */
function segmentSeqs(dir: string, names: string[], m: Manifest): number[] {
  const seqs = names.map(parseSegmentName).filter((s): s is number => s !== null && s >= m.logFrom).sort((a, b) => a - b);
  // No segment at all is normal only for a log never written to (its first segment may not have survived).
  if (seqs.length === 0 && (m.snapshot !== null || m.logFrom !== 1)) {
    throw new DataDamage(path.join(dir, segmentName(m.logFrom)), 0, 'the manifest needs this log segment but it is missing');
  }
  seqs.forEach((s, i) => {
    const want = m.logFrom + i;
    if (s !== want) throw new DataDamage(path.join(dir, segmentName(want)), 0, 'log segment missing (a gap in the sequence)');
  });
  return seqs;
}

/** Walks the records of the segments in order and keeps what replay needs. */
class Replay {
  readonly ops: RecoveredOps[] = [];
  readonly segments: WalSegment[] = [];
  view: Recovered['view'] = null;
  lastIndex: number;

  constructor(private readonly manifest: Manifest, snapshotIndex: number) {
    this.lastIndex = snapshotIndex;
  }

  segment(file: string, seq: number, records: ScannedRecord[]): void {
    this.segments.push({ seq, firstIndex: this.lastIndex + 1 });
    for (const r of records) this.record(file, r);
  }

  private record(file: string, r: ScannedRecord): void {
    switch (r.type) {
      case RecordType.Identity: return this.identity(file, r);
      case RecordType.View:
        if (this.view === null || r.index >= this.view.viewnum) this.view = { viewnum: r.index, payload: r.payload };
        return;
      case RecordType.Ops:
        if (r.index + r.count - 1 <= this.lastIndex) return; // held by the snapshot
        if (r.index > this.lastIndex + 1) throw new DataDamage(file, r.offset, `ops from index ${r.index}, expected ${this.lastIndex + 1}: a gap in the log`);
        this.ops.push({ index: r.index, count: r.count, payload: r.payload });
        this.lastIndex = r.index + r.count - 1;
        return;
      default:
        throw new DataDamage(file, r.offset, `record of type ${r.type} does not belong in a log segment`);
    }
  }

  private identity(file: string, r: ScannedRecord): void {
    let id: { id?: unknown; incarnation?: unknown };
    try { id = JSON.parse(r.payload.toString('utf8')); } catch { throw new DataDamage(file, r.offset, 'identity record is not JSON'); }
    if (id.id !== this.manifest.id || id.incarnation !== this.manifest.incarnation) {
      throw new DataDamage(file, r.offset, `segment belongs to ${String(id.id)} incarnation ${String(id.incarnation)}, the manifest to ${this.manifest.id} incarnation ${this.manifest.incarnation}`);
    }
  }
}

/** The Wal options that continue the recovered log (add dir, fs, policy and the callbacks). */
export function walStateFrom(r: Recovered): Pick<WalOptions, 'segments' | 'lastIndex' | 'lastViewnum' | 'identity' | 'view'> {
  return {
    segments: r.segments,
    lastIndex: r.lastIndex,
    lastViewnum: r.view?.viewnum ?? 0,
    identity: identityPayload(r.manifest),
    view: r.view === null ? null : r.view.payload.toString('utf8'),
  };
}

/** Cut a torn tail and make the cut durable, so that the next recovery does not see it in an earlier segment. */
async function truncateDurably(pfs: PromisedFs, file: string, length: number): Promise<void> {
  await pfs.truncate(file, length);
  const fd = await pfs.open(file, 'r+');
  try { await pfs.fsync(fd); } finally { await pfs.close(fd); }
}

/** Temporary files, snapshots the manifest does not name, segments before logFrom: left by a crash mid-way. */
async function removeStrays(pfs: PromisedFs, dir: string, names: string[], m: Manifest): Promise<void> {
  const stray = names.filter((n) => (n.endsWith('.tmp') && !n.startsWith('LOCK'))
    || (n.endsWith('.snap') && n !== m.snapshot?.file)
    || (parseSegmentName(n) ?? Infinity) < m.logFrom);
  for (const n of stray) await pfs.unlink(path.join(dir, n)).catch(() => undefined);
  if (stray.length > 0) await pfs.syncDir(dir);
}

/**
 * `--reset-data`: move everything in the data dir (but the lock file, which this process
 * holds) into `<dir>.reset-<timestamp>` next to it, so the replica starts as a new, empty
 * server and nothing is destroyed. Returns the directory the data went to.
 */
export async function resetData(dir: string, now: Date, fs: DiskFs = nodeDiskFs, keep: readonly string[] = ['LOCK']): Promise<string> {
  const pfs = promisedFs(fs);
  const aside = `${path.resolve(dir)}.reset-${now.toISOString().replace(/[:.]/g, '-')}`;
  await pfs.mkdir(aside);
  for (const n of await pfs.readdir(dir)) {
    if (!keep.includes(n)) await pfs.rename(path.join(dir, n), path.join(aside, n));
  }
  await pfs.syncDir(aside);
  await pfs.syncDir(dir);
  return aside;
}
