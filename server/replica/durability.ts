/**
 * The durable replica's SHELL side (SPEC §9, docs/DURABILITY.md §8): the data dir's lock,
 * recovery before serving, the Wal fed from the machine's persist effects, and `logged` /
 * `stateLogged` fed back. The rules (what waits for what) are in the core (durable-gate.ts,
 * primary-role.ts `commit`, backup-role.ts `onLogged`); this only does the I/O.
 *
 *   open()          lock → (--reset-data: move the data aside) → recover (DataDamage: thrown)
 *   restore(m)      snapshot chunks and logged ops into the machine's store; resume its view
 *   start(run)      the Wal continues the recovered log; onDurable → `logged`
 *   persistOps/View → Wal appends (queued while the log restarts)
 *   persistState    a backup installed a transfer: snapshot of the store as of now (written
 *                   a chunk per turn), then the log restarts after it (new segments; the
 *                   manifest names the snapshot and the first new segment; older ones are
 *                   dropped) → `stateLogged`
 *   background      once the log since the last snapshot passes the threshold: a snapshot of
 *                   the store as of now, a chunk per turn, then the manifest names it and the
 *                   segments it covers are dropped (snapshotIfDue; primary and backup alike)
 */
import * as path from 'node:path';
import { nanoid } from 'nanoid';
import { decode, TRUSTED, isProtocolError } from '../../common/protocol';
import type { Limits } from '../../common/limits';
import type { View, ViewHolders } from '../../common/view';
import {
  Wal, acquireLock, recover, resetData, walStateFrom, promisedFs, nodeDiskFs, installSnapshot,
  type DataDirLock, type Recovered, type FsyncPolicy, type DurableMark, type Manifest, type DiskFs, type PromisedFs, type WalStats,
} from './disk';
import type { ReplicaMachine, ReplicaInput } from './replica-machine';
import type { KvState, SnapshotChunk } from './kv-state';
import { openSnapshot, writeSnapshot, SnapshotCancelled, type SnapshotSource, type WrittenSnapshot } from './snapshot-task';
import type { LineageEntry } from './catch-up';

export interface DurabilityOptions {
  dir: string;
  fsync: FsyncPolicy;
  resetData: boolean;
  /** The replica's id as far as it is known before listening (the manifest of a new data dir names it). */
  id: string;
  limits: Limits;
  log: { info(o: object, m: string): void; warn(o: object, m: string): void; error(o: object, m: string): void };
  /** A write or fsync failed: the process must stop (a failed fsync is never retried). */
  fatal: (err: Error) => void;
  fs?: DiskFs;
  /** Background snapshots start once the log since the last one passes max(this, half the last snapshot). @default SNAPSHOT_MIN_LOG_BYTES */
  snapshotLogBytes?: number;
  /** Snapshot chunk size (tests: small, to take many turns). @default SNAPSHOT_CHUNK_BYTES */
  snapshotChunkBytes?: number;
  /** Observers for /metrics (disk-metrics.ts). */
  observe?: DiskObserver;
}

/** What /metrics learns from the disk layer. */
export interface DiskObserver {
  /** One fdatasync of the log: its latency and the records (hence operations) it covered. */
  sync(ms: number, records: number, ops: number): void;
  /** A snapshot was installed: how long writing it took, its size. */
  snapshot(ms: number, bytes: number): void;
  /** The log was replaced (a backup's new state): the old one wrote `bytes`. */
  walReplaced(bytes: number): void;
}

/**
 * The log since the last snapshot that starts a background snapshot, at least (below, the
 * last snapshot's size decides). Disk use stays within about 3× the live data above it:
 * see docs/DURABILITY.md §3. @default 8388608 (8 MiB)
 */
export const SNAPSHOT_MIN_LOG_BYTES = 8 * 1024 * 1024;

/** What waits while the log restarts after a snapshot (persistState), in order. */
type Queued =
  | { kind: 'ops'; index: number; count: number; text: string }
  | { kind: 'view'; viewnum: number; payload: string }
  | { kind: 'state'; viewnum: number; src: SnapshotSource; payload: string; viewAt: number };

/** A View record's payload: the view adopted, its holders, and my lineage list (catch-up.ts). */
interface ViewRecord { view: View; holders: ViewHolders; lineage?: LineageEntry[] }

export class Durability {
  private wal: Wal | null = null;
  private run: (input: ReplicaInput) => void = () => undefined;
  private store: () => KvState | null = () => null;
  /** Non-null while the log restarts: appends wait here. */
  private queue: Queued[] | null = null;
  private viewPayload: string | null;
  private viewnum: number;
  private lastView: ViewRecord | null;
  private closed = false;
  /** restartLog waits for the new log's first append to be on disk. */
  private waiting: { seq: number; resolve: () => void } | null = null;
  private readonly pfs: PromisedFs;
  /** The last op index the current log has on disk. */
  private durableIndex: number;
  /** Log bytes since the last snapshot: those recovered, plus the current Wal's beyond `walBytesAtSnapshot`. */
  private recoveredLogBytes: number;
  private walBytesAtSnapshot = 0;
  /** Size of the last snapshot (the live data, as far as the disk knows). */
  private snapshotBytes: number;
  /** The background snapshot under way, and its wait for the log (see backgroundSnapshot). */
  private bg: Promise<void> | null = null;
  private bgCancel = false;
  private bgWait: { index: number; resolve: () => void } | null = null;

  private constructor(private readonly o: DurabilityOptions, private readonly lock: DataDirLock, private manifest: Manifest, readonly recovered: Recovered) {
    this.viewPayload = recovered.view?.payload.toString('utf8') ?? null;
    this.viewnum = recovered.view?.viewnum ?? 0;
    this.pfs = promisedFs(o.fs ?? nodeDiskFs);
    this.durableIndex = recovered.lastIndex;
    this.recoveredLogBytes = recovered.ops.reduce((n, r) => n + r.payload.length, 0);
    this.snapshotBytes = recovered.snapshot?.chunks.reduce((n, c) => n + c.length, 0) ?? 0;
    this.lastView = this.viewPayload === null ? null : JSON.parse(this.viewPayload) as ViewRecord;
  }

  /** Lock the data dir, reset it if asked, recover it. Throws DataDirLocked or DataDamage (the replica must not start). */
  static async open(o: DurabilityOptions): Promise<Durability> {
    const fs = o.fs ?? nodeDiskFs;
    await promisedFs(fs).mkdir(o.dir);
    const lock = await acquireLock(o.dir);
    try {
      if (o.resetData) o.log.warn({ dir: o.dir, movedTo: await resetData(o.dir, new Date(), fs) }, '--reset-data: the data dir was moved aside; starting as a new, empty server');
      const r = await recover({ dir: o.dir, fs, fresh: () => ({ id: o.id, incarnation: nanoid(), lineage: nanoid() }) });
      if (r.truncated) o.log.warn(r.truncated, 'cut a torn tail of the log (never acknowledged)');
      return new Durability(o, lock, r.manifest, r);
    } catch (err) {
      await lock.release().catch(() => undefined);
      throw err;
    }
  }

  get incarnation(): string { return this.manifest.incarnation; }
  /** The last op index on disk (for /info and the dashboard). */
  get loggedIndex(): number { return this.durableIndex; }
  /** Bytes of log since the last snapshot (what a background snapshot would let go). */
  get logBytes(): number { return this.recoveredLogBytes + (this.wal?.stats.bytes ?? 0) - this.walBytesAtSnapshot; }
  /** The current log's counters (bytes written, fsyncs, …). */
  get walStats(): WalStats | null { return this.wal?.stats ?? null; }

  /** Replay what was on disk into the machine's store (snapshot, then ops), and resume the view it had adopted. */
  restore(m: ReplicaMachine): void {
    const r = this.recovered;
    const store = m.store;
    if (r.snapshot !== null) {
      const meta = JSON.parse(r.snapshot.meta.toString('utf8')) as { index: number; revision: number };
      store.install(meta, parsedChunks(r.snapshot.chunks));
      r.snapshot.chunks = []; // the parsed store holds it now
    }
    m.catchUp?.reset(store.index);
    for (const rec of r.ops) {
      const msg = decode(rec.payload.toString('utf8'), this.o.limits, TRUSTED);
      if (isProtocolError(msg) || msg.type !== 'fwd') throw new Error(`logged record at index ${rec.index} is not a fwd frame`);
      for (let i = Math.max(0, store.index + 1 - msg.index); i < msg.ops.length; i++) store.apply(msg.ops[i], false);
      m.catchUp?.add(msg); // the recovered tail serves a restarted backup's suffix
    }
    r.ops = [];
    const v = this.lastView;
    if (v !== null) m.resume(v.view, v.holders, store.index, v.lineage);
    this.o.log.info({ dir: this.o.dir, fresh: r.fresh, index: store.index, keys: store.size, viewnum: this.viewnum, incarnation: this.incarnation }, 'recovered the data dir');
  }

  /** Open the log after what was recovered; its durable marks go to the machine as `logged`. `store`: the machine's, for background snapshots. */
  start(run: (input: ReplicaInput) => void, store: () => KvState | null = () => null): void {
    this.run = run;
    this.store = store;
    this.wal = this.newWal(walStateFrom(this.recovered));
  }

  private newWal(state: ReturnType<typeof walStateFrom>): Wal {
    const observe = this.o.observe;
    const wal: Wal = new Wal({
      ...state, dir: this.o.dir, fs: this.o.fs, fsync: this.o.fsync,
      onDurable: (mark: DurableMark) => this.onDurable(wal, mark),
      onError: (err) => { if (!this.closed) this.o.fatal(err); },
      onSync: observe === undefined ? undefined : (ms, records, ops) => observe.sync(ms, records, ops),
    });
    return wal;
  }

  private onDurable(wal: Wal, mark: DurableMark): void {
    if (wal !== this.wal) return; // a log being replaced
    this.durableIndex = mark.index;
    const w = this.waiting;
    if (w !== null && mark.seq >= w.seq) {
      this.waiting = null;
      w.resolve();
    }
    if (this.bgWait !== null && mark.index >= this.bgWait.index) this.bgWait.resolve();
    if (this.queue !== null) return;
    this.run({ kind: 'logged', index: mark.index, viewnum: mark.viewnum });
    this.snapshotIfDue();
  }

  persistOps(index: number, count: number, text: string): void {
    if (this.queue !== null) this.queue.push({ kind: 'ops', index, count, text });
    else this.wal?.appendOps(index, count, text);
  }

  persistView(view: View, holders: ViewHolders): void {
    this.lastView = { view, holders, lineage: this.lastView?.lineage };
    this.viewnum = view.viewnum;
    const payload = this.viewPayload = JSON.stringify(this.lastView);
    if (this.queue !== null) this.queue.push({ kind: 'view', viewnum: view.viewnum, payload });
    else this.wal?.appendView(view.viewnum, payload);
  }

  /** My lineage list changed (catch-up.ts): logged with the view, before any op of the new lineage. */
  persistLineage(lineage: LineageEntry[]): void {
    if (this.lastView === null) return; // no view adopted yet: no op can be ordered or accepted
    this.setLineage(lineage);
    const payload = this.viewPayload as string;
    if (this.queue !== null) this.queue.push({ kind: 'view', viewnum: this.viewnum, payload });
    else this.wal?.appendView(this.viewnum, payload);
  }

  private setLineage(lineage: LineageEntry[]): void {
    if (this.lastView !== null) this.lastView.lineage = lineage;
    this.viewPayload = JSON.stringify(this.lastView);
  }

  /** A backup installed a transfer: the store as of now, with the primary's lineage, becomes the log's base (see the top). */
  persistState(viewnum: number, store: KvState, lineage: LineageEntry[]): void {
    this.setLineage(lineage);
    const item: Queued = { kind: 'state', viewnum, src: openSnapshot(store, this.o.snapshotChunkBytes), payload: this.viewPayload ?? 'null', viewAt: this.viewnum };
    if (this.queue !== null) return void this.queue.push(item);
    this.queue = [];
    // A background snapshot of the state this replaces is pointless: stop it, then restart the log.
    this.cancelBackground();
    (this.bg ?? Promise.resolve()).then(() => this.restartLog(item)).catch((err: Error) => { if (!this.closed) this.o.fatal(err); });
  }

  private async restartLog(s: Extract<Queued, { kind: 'state' }>): Promise<void> {
    const old = this.wal as Wal;
    await new Promise<void>((resolve) => old.close(resolve));
    const snap = await writeSnapshot(this.pfs, this.o.dir, s.src, () => this.closed);
    // A new segment after the old ones, headed by identity and view, on disk before the
    // manifest names it: a crash before the swap recovers the old state, after it the new.
    // Headed by the view and lineage as of this state (s.payload), not a later one still queued.
    const wal = this.newWal({ segments: [...old.segmentList], lastIndex: s.src.index, lastViewnum: s.viewAt, identity: walStateFrom(this.recovered).identity, view: s.payload });
    this.wal = wal;
    this.o.observe?.walReplaced(old.stats.bytes);
    await new Promise<void>((resolve) => { this.waiting = { seq: wal.appendView(s.viewAt, s.payload), resolve }; });
    const logFrom = wal.segmentList[wal.segmentList.length - 1].seq;
    await this.install(wal, snap, logFrom);
    this.recoveredLogBytes = 0;
    this.walBytesAtSnapshot = 0;
    this.durableIndex = s.src.index;
    this.bgCancel = false;
    this.run({ kind: 'stateLogged', viewnum: s.viewnum, index: s.src.index });
    this.drain();
  }

  /** The manifest names the snapshot (and the log from `logFrom`); then the segments before are dropped. */
  private async install(wal: Wal, snap: WrittenSnapshot, logFrom: number): Promise<void> {
    this.manifest = await installSnapshot(this.pfs, this.o.dir, this.manifest, snap.file, snap.index, logFrom);
    await new Promise<void>((resolve, reject) => wal.dropSegmentsBefore(logFrom, (err) => (err ? reject(err) : resolve())));
    this.snapshotBytes = snap.bytes;
    this.o.observe?.snapshot(snap.ms, snap.bytes);
    this.o.log.info({ index: snap.index, bytes: snap.bytes, ms: Math.round(snap.ms), logFrom }, 'snapshot installed; older log segments dropped');
  }

  /** The log restarted: what waited goes to it, up to the next restart. */
  private drain(): void {
    const q = this.queue as Queued[];
    this.queue = null;
    for (let i = 0; i < q.length; i++) {
      const e = q[i];
      if (e.kind === 'ops') this.persistOps(e.index, e.count, e.text);
      else if (e.kind === 'view') (this.wal as Wal).appendView(e.viewnum, e.payload);
      else {
        this.queue = q.slice(i + 1);
        this.restartLog(e).catch((err: Error) => { if (!this.closed) this.o.fatal(err); });
        return;
      }
    }
  }

  /**
   * Start a background snapshot when the log since the last one has passed the threshold:
   * max(snapshotLogBytes, half the last snapshot). Checked once per durable batch.
   */
  snapshotIfDue(): void {
    if (this.bg !== null || this.queue !== null || this.closed || this.wal === null) return;
    const threshold = Math.max(this.o.snapshotLogBytes ?? SNAPSHOT_MIN_LOG_BYTES, this.snapshotBytes / 2);
    if (this.logBytes < threshold) return;
    const store = this.store();
    if (store === null) return;
    this.bgCancel = false;
    const task = this.backgroundSnapshot(this.wal, store).catch((err: Error) => {
      if (err instanceof SnapshotCancelled) return;
      if (!this.closed) this.o.fatal(err);
    }).finally(() => { if (this.bg === task) this.bg = null; });
    this.bg = task;
  }

  /**
   * The state as of now, a chunk per turn; the log rolls to a new segment meanwhile. Once
   * the snapshot is complete and the log has every op up to its index on disk, the manifest
   * names it and the segments before the one holding the next op are dropped.
   */
  private async backgroundSnapshot(wal: Wal, store: KvState): Promise<void> {
    const src = openSnapshot(store, this.o.snapshotChunkBytes);
    const walBytes = wal.stats.bytes;
    wal.rollSoon();
    const snap = await writeSnapshot(this.pfs, this.o.dir, src, () => this.bgCancel || this.closed);
    if (this.durableIndex < src.index) await new Promise<void>((resolve) => { this.bgWait = { index: src.index, resolve }; });
    this.bgWait = null;
    if (this.bgCancel || this.closed || wal !== this.wal) {
      await this.pfs.unlink(path.join(this.o.dir, snap.file)).catch(() => undefined); // never named: recovery would remove it too
      throw new SnapshotCancelled('the snapshot was cancelled');
    }
    await this.install(wal, snap, wal.segmentNeededAfter(src.index));
    this.recoveredLogBytes = 0;
    this.walBytesAtSnapshot = walBytes;
  }

  private cancelBackground(): void {
    this.bgCancel = true;
    this.bgWait?.resolve();
  }

  /** Flush what is queued, close the log, release the lock. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.cancelBackground();
    await this.bg;
    const wal = this.wal;
    if (wal !== null) await new Promise<void>((resolve) => wal.close(resolve));
    await this.lock.release().catch(() => undefined);
  }
}

const EMPTY = Buffer.alloc(0);

/** A snapshot's chunks parsed one at a time as the store takes them (not all at once: 1M keys are ~100 MiB of JSON). */
function* parsedChunks(chunks: Buffer[]): Generator<SnapshotChunk> {
  for (let i = 0; i < chunks.length; i++) {
    const c = chunks[i];
    chunks[i] = EMPTY; // each buffer freed once parsed
    yield JSON.parse(c.toString('utf8')) as SnapshotChunk;
  }
}
