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
 *   persistState    a backup installed a transfer: snapshot of the store now, then the log
 *                   restarts after it (new segments; the manifest names the snapshot and the
 *                   first new segment; older ones are dropped) → `stateLogged`
 */
import { nanoid } from 'nanoid';
import { decode, TRUSTED, isProtocolError } from '../../common/protocol';
import type { Limits } from '../../common/limits';
import type { View, ViewHolders } from '../../common/view';
import {
  Wal, acquireLock, recover, resetData, walStateFrom, promisedFs, nodeDiskFs, SnapshotWriter, installSnapshot,
  type DataDirLock, type Recovered, type FsyncPolicy, type DurableMark, type Manifest, type DiskFs,
} from './disk';
import type { ReplicaMachine, ReplicaInput } from './replica-machine';
import type { KvState, SnapshotChunk } from './kv-state';
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
}

/** What waits while the log restarts after a snapshot (persistState), in order. */
type Queued =
  | { kind: 'ops'; index: number; count: number; text: string }
  | { kind: 'view'; viewnum: number; payload: string }
  | { kind: 'state'; viewnum: number; index: number; revision: number; chunks: SnapshotChunk[]; payload: string; viewAt: number };

/** A View record's payload: the view adopted, its holders, and my lineage list (catch-up.ts). */
interface ViewRecord { view: View; holders: ViewHolders; lineage?: LineageEntry[] }

/** Snapshot chunk size on disk. */
const CHUNK_BYTES = 512 * 1024;

export class Durability {
  private wal: Wal | null = null;
  private run: (input: ReplicaInput) => void = () => undefined;
  /** Non-null while the log restarts: appends wait here. */
  private queue: Queued[] | null = null;
  private viewPayload: string | null;
  private viewnum: number;
  private lastView: ViewRecord | null;
  private closed = false;
  /** restartLog waits for the new log's first append to be on disk. */
  private waiting: { seq: number; resolve: () => void } | null = null;

  private constructor(private readonly o: DurabilityOptions, private readonly lock: DataDirLock, private manifest: Manifest, readonly recovered: Recovered) {
    this.viewPayload = recovered.view?.payload.toString('utf8') ?? null;
    this.viewnum = recovered.view?.viewnum ?? 0;
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

  /** Replay what was on disk into the machine's store (snapshot, then ops), and resume the view it had adopted. */
  restore(m: ReplicaMachine): void {
    const r = this.recovered;
    const store = m.store;
    if (r.snapshot !== null) {
      const meta = JSON.parse(r.snapshot.meta.toString('utf8')) as { index: number; revision: number };
      store.install(meta, r.snapshot.chunks.map((c) => JSON.parse(c.toString('utf8')) as SnapshotChunk));
    }
    m.catchUp?.reset(store.index);
    for (const rec of r.ops) {
      const msg = decode(rec.payload.toString('utf8'), this.o.limits, TRUSTED);
      if (isProtocolError(msg) || msg.type !== 'fwd') throw new Error(`logged record at index ${rec.index} is not a fwd frame`);
      for (let i = Math.max(0, store.index + 1 - msg.index); i < msg.ops.length; i++) store.apply(msg.ops[i]);
      m.catchUp?.add(msg); // the recovered tail serves a restarted backup's suffix
    }
    const v = this.lastView;
    if (v !== null) m.resume(v.view, v.holders, store.index, v.lineage);
    this.o.log.info({ dir: this.o.dir, fresh: r.fresh, index: store.index, keys: store.size, viewnum: this.viewnum, incarnation: this.incarnation }, 'recovered the data dir');
  }

  /** Open the log after what was recovered; its durable marks go to the machine as `logged`. */
  start(run: (input: ReplicaInput) => void): void {
    this.run = run;
    this.wal = this.newWal(walStateFrom(this.recovered));
  }

  private newWal(state: ReturnType<typeof walStateFrom>): Wal {
    const wal: Wal = new Wal({
      ...state, dir: this.o.dir, fs: this.o.fs, fsync: this.o.fsync,
      onDurable: (mark: DurableMark) => this.onDurable(wal, mark),
      onError: (err) => { if (!this.closed) this.o.fatal(err); },
    });
    return wal;
  }

  private onDurable(wal: Wal, mark: DurableMark): void {
    if (wal !== this.wal) return; // a log being replaced
    const w = this.waiting;
    if (w !== null && mark.seq >= w.seq) {
      this.waiting = null;
      w.resolve();
    }
    if (this.queue === null) this.run({ kind: 'logged', index: mark.index, viewnum: mark.viewnum });
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
    const item: Queued = { kind: 'state', viewnum, index: store.index, revision: store.revision, chunks: store.snapshotNow(CHUNK_BYTES), payload: this.viewPayload ?? 'null', viewAt: this.viewnum };
    if (this.queue !== null) return void this.queue.push(item);
    this.queue = [];
    this.restartLog(item).catch((err: Error) => { if (!this.closed) this.o.fatal(err); });
  }

  private async restartLog(s: Extract<Queued, { kind: 'state' }>): Promise<void> {
    const old = this.wal as Wal;
    await new Promise<void>((resolve) => old.close(resolve));
    const pfs = promisedFs(this.o.fs ?? nodeDiskFs);
    const w = await SnapshotWriter.create(pfs, this.o.dir, s.index, JSON.stringify({ index: s.index, revision: s.revision }));
    for (const c of s.chunks) await w.write(JSON.stringify(c));
    const { file } = await w.finish();
    // A new segment after the old ones, headed by identity and view, on disk before the
    // manifest names it: a crash before the swap recovers the old state, after it the new.
    // Headed by the view and lineage as of this state (s.payload), not a later one still queued.
    const wal = this.newWal({ segments: [...old.segmentList], lastIndex: s.index, lastViewnum: s.viewAt, identity: walStateFrom(this.recovered).identity, view: s.payload });
    this.wal = wal;
    await new Promise<void>((resolve) => { this.waiting = { seq: wal.appendView(s.viewAt, s.payload), resolve }; });
    const logFrom = wal.segmentList[wal.segmentList.length - 1].seq;
    this.manifest = await installSnapshot(pfs, this.o.dir, this.manifest, file, s.index, logFrom);
    await new Promise<void>((resolve, reject) => wal.dropSegmentsBefore(logFrom, (err) => (err ? reject(err) : resolve())));
    this.run({ kind: 'stateLogged', viewnum: s.viewnum, index: s.index });
    this.drain();
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

  /** Flush what is queued, close the log, release the lock. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const wal = this.wal;
    if (wal !== null) await new Promise<void>((resolve) => wal.close(resolve));
    await this.lock.release().catch(() => undefined);
  }
}
