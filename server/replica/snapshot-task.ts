/**
 * A snapshot of a running replica's store, written to disk in the background (SPEC §9,
 * docs/DURABILITY.md §3). SHELL. It reads the store through the copy-on-write cursor the
 * state transfer uses (KvState.openSnapshot: a write first pulls the key's value as of the
 * start), one chunk per event-loop turn, so no request waits behind it.
 *
 *   openSnapshot(store)   the state as of now: index, revision, the at-most-once table (meta)
 *   writeSnapshot(…)      snap-<index>.snap.tmp: SnapBegin · meta · per turn: the keys writes
 *                         pulled ahead + the next data chunk · history · SnapEnd → fdatasync →
 *                         rename to snap-<index>.snap
 *
 * The file holds the chunks as an `xfer-data` would carry them, so recovery installs it
 * with KvState.install like a transfer. Installing it (the manifest swap) is the caller's.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { SnapshotWriter, type PromisedFs } from './disk';
import type { KvState, SnapshotChunk, TransferCursor } from './kv-state';

/**
 * Bytes of JSON per snapshot chunk, hence the work of one turn (building and encoding one
 * chunk: about a millisecond here). The transfer's chunk size. @default 131072
 */
export const SNAPSHOT_CHUNK_BYTES = 128 * 1024;

/** The state as of one moment, to be written over many turns. */
export interface SnapshotSource {
  index: number;
  revision: number;
  cursor: TransferCursor;
  /** The at-most-once table as of the start (read at once: it is not copy-on-write). */
  meta: SnapshotChunk[];
  chunkBytes: number;
}

/** Open a snapshot of `store` as it is now. Writes from now on pull keys ahead of it. */
export function openSnapshot(store: KvState, chunkBytes: number = SNAPSHOT_CHUNK_BYTES): SnapshotSource {
  const cursor = store.openSnapshot();
  return { index: store.index, revision: store.revision, cursor, meta: cursor.meta(chunkBytes), chunkBytes };
}

/** writeSnapshot gave up: cancelled, or the store was replaced under it. The temp file is gone. */
export class SnapshotCancelled extends Error {}

export interface WrittenSnapshot { file: string; index: number; bytes: number; ms: number }

/**
 * Write `src` to `dir` as `snap-<index>.snap`, one chunk per turn. `cancelled()` is asked
 * every turn: then the temp file is removed and SnapshotCancelled thrown. The cursor is
 * closed in every case.
 */
export async function writeSnapshot(pfs: PromisedFs, dir: string, src: SnapshotSource, cancelled: () => boolean): Promise<WrittenSnapshot> {
  const t0 = performance.now();
  const c = src.cursor;
  const w = await SnapshotWriter.create(pfs, dir, src.index, JSON.stringify({ index: src.index, revision: src.revision }));
  try {
    for (const m of src.meta) await w.write(JSON.stringify(m));
    while (!c.done) {
      await nextTurn();
      if (cancelled()) throw new SnapshotCancelled('the snapshot was cancelled');
      if (c.isClosed) throw new SnapshotCancelled('the store was replaced during the snapshot');
      const data = c.next(src.chunkBytes);
      // Pulled keys are as of the start, and the cursor skips them: any order is the same state.
      const pulled = c.takePulled(src.chunkBytes);
      for (const chunk of pulled) await w.write(JSON.stringify(chunk));
      for (const chunk of data) await w.write(JSON.stringify(chunk));
    }
    for (const h of c.historyChunks(src.chunkBytes)) await w.write(JSON.stringify(h));
    c.close();
    const { file, bytes } = await w.finish();
    return { file, index: src.index, bytes, ms: performance.now() - t0 };
  } catch (err) {
    c.close();
    await w.abort();
    throw err;
  }
}
