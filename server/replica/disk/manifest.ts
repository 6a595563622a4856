/**
 * The manifest (docs/DURABILITY.md §3): the one file that says which snapshot and which log
 * segments make up the replica's state, and who the replica is. Replaced atomically:
 *
 *   write MANIFEST.tmp ─▶ fdatasync ─▶ rename to MANIFEST ─▶ fsync the directory
 *
 * A power cut before the rename leaves the old manifest (the tmp file is ignored and removed
 * at recovery); after the rename but before the directory fsync, either the old or the new
 * one, both complete. Nothing the old manifest names is deleted until the new one is durable.
 * The manifest is one log record, so its CRC catches damage; it is never torn (rename).
 */
import * as path from 'node:path';
import { encodeRecords, scan, RecordType, DataDamage } from './log-format';
import { PromisedFs, writeFileDurably } from './disk-fs';
import { crashPoint } from './crash-points';

/** File name of the manifest in the data dir. */
export const MANIFEST_FILE = 'MANIFEST';
const MANIFEST_TMP = 'MANIFEST.tmp';

/** What the data dir holds. */
export interface Manifest {
  version: 1;
  /** The replica's id (its URL) and incarnation: kept with the data (SPEC §9, §2.4). */
  id: string;
  incarnation: string;
  /** Names the history the log continues (catch-up by suffix compares it); opaque here. */
  lineage: string;
  /** The snapshot file and the log index it is at; null before the first snapshot. */
  snapshot: { file: string; index: number } | null;
  /** The first log segment (seq) recovery reads; older ones are covered by the snapshot. */
  logFrom: number;
}

/** The manifest as bytes: one Manifest record holding its JSON. */
export function encodeManifest(m: Manifest): Buffer {
  return encodeRecords([{ type: RecordType.Manifest, index: 0, count: 0, payload: JSON.stringify(m) }]);
}

/** Parse a manifest file's bytes; a reason string when they are not a valid manifest. */
export function decodeManifest(buf: Buffer): Manifest | string {
  const { records, end } = scan(buf);
  if (end.kind !== 'clean') return `${end.reason} at offset ${end.offset}`;
  if (records.length !== 1 || records[0].type !== RecordType.Manifest) return 'not a single manifest record';
  let m: unknown;
  try { m = JSON.parse(records[0].payload.toString('utf8')); } catch { return 'manifest is not JSON'; }
  return validManifest(m) ? m : 'manifest fields missing or of the wrong type';
}

function validManifest(m: unknown): m is Manifest {
  if (typeof m !== 'object' || m === null) return false;
  const o = m as Record<string, unknown>;
  const snap = o.snapshot as Record<string, unknown> | null;
  return o.version === 1 && typeof o.id === 'string' && typeof o.incarnation === 'string'
    && typeof o.lineage === 'string' && Number.isSafeInteger(o.logFrom) && (o.logFrom as number) >= 1
    && (snap === null || (typeof snap === 'object' && typeof snap.file === 'string'
      && path.basename(snap.file) === snap.file && Number.isSafeInteger(snap.index)));
}

/** Read the manifest: null when there is none (a new data dir); DataDamage when unreadable. */
export async function readManifest(pfs: PromisedFs, dir: string): Promise<Manifest | null> {
  let buf: Buffer;
  try {
    buf = await pfs.readFile(path.join(dir, MANIFEST_FILE));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const m = decodeManifest(buf);
  if (typeof m === 'string') throw new DataDamage(path.join(dir, MANIFEST_FILE), 0, m);
  return m;
}

/** Replace the manifest atomically (see the file comment). Resolves once the new one is durable. */
export async function writeManifest(pfs: PromisedFs, dir: string, m: Manifest): Promise<void> {
  const tmp = path.join(dir, MANIFEST_TMP);
  await pfs.unlink(tmp).catch(() => undefined); // left by a crash before a rename
  await writeFileDurably(pfs, tmp, encodeManifest(m));
  await pfs.rename(tmp, path.join(dir, MANIFEST_FILE));
  crashPoint('manifest-rename');
  await pfs.syncDir(dir);
}

/** The identity record's payload (heads every log segment; recovery checks it against the manifest). */
export function identityPayload(m: Pick<Manifest, 'id' | 'incarnation'>): string {
  return JSON.stringify({ id: m.id, incarnation: m.incarnation });
}
