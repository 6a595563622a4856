/**
 * The write-ahead log (SPEC §9, docs/DURABILITY.md §2). SHELL over an injected DiskFs.
 *
 * Group commit: `append` only queues a record and returns at once. One batch is in flight
 * at a time: one writev of everything queued, then (with `--fsync always`) one fdatasync;
 * whatever arrived meanwhile is the next batch. Under load a batch holds everything that
 * arrived during the previous fdatasync, so the fsync count grows with time, not with
 * operations (etcd's and Redis's group commit). Never a *Sync call, never a per-op fsync.
 *
 * The result is reported, never awaited: `onDurable({ seq, index, viewnum })` after each
 * batch is durable under the policy. That is the input the replica machine takes ("the log
 * is durable up to index i"; "view v is on disk": the fence).
 *
 *   append ─▶ pending ──(idle)──▶ writev ──▶ fdatasync ──▶ onDurable(mark) ──▶ next batch
 *                  ▲ appends during the batch wait here ─┘
 *
 * Segments: `<seq>.wal`, rolled between batches once past `segmentBytes`. A finished
 * segment is fdatasynced before the next one is written, and a new segment's name is made
 * durable (directory fsync) before any record in it is reported: so only the last segment
 * can ever end in a torn record (recovery.ts treats a torn earlier segment as damage). Each
 * segment starts with the identity and the last view, so old segments can be dropped after
 * a snapshot without losing them.
 */
import * as path from 'node:path';
import { encodeRecords, LogRecord, RecordType } from './log-format';
import { DiskFs, nodeDiskFs } from './disk-fs';
import { crashPoint } from './crash-points';

/** `--fsync`: when a batch counts as durable. @default 'always' */
export type FsyncPolicy = 'always' | 'everysec' | 'no';

/** What is durable: every append up to ticket `seq`, ops up to `index`, views up to `viewnum`. */
export interface DurableMark { seq: number; index: number; viewnum: number }

/** A segment file: its sequence number and the log index of the first op written to it. */
export interface WalSegment { seq: number; firstIndex: number }

/** Counters for /metrics and the benchmark. */
export interface WalStats { batches: number; records: number; ops: number; fsyncs: number; bytes: number }

/** Options of a Wal. */
export interface WalOptions {
  /** The data directory (exists). */
  dir: string;
  /** @default nodeDiskFs */
  fs?: DiskFs;
  /** @default 'always' */
  fsync?: FsyncPolicy;
  /** Roll to a new segment past this size. @default 67108864 (64 MiB) */
  segmentBytes?: number;
  /** Segments already on disk (recovery), oldest first; the Wal writes to a new one after them. */
  segments?: WalSegment[];
  /** Last op index and viewnum already on disk (recovery). @default 0 */
  lastIndex?: number;
  lastViewnum?: number;
  /** Payload of the identity record (id + incarnation JSON) that heads every segment. */
  identity: string;
  /** Payload of the last view on disk, to head every new segment; null if none. */
  view?: string | null;
  /** A batch is durable under the policy. */
  onDurable: (mark: DurableMark) => void;
  /** A write or fsync failed: fatal. A failed fsync is never retried (the page may be gone: "fsyncgate"). */
  onError: (err: Error) => void;
  /** Observes each fdatasync: latency, records and operations covered (metrics, benchmark). */
  onSync?: (ms: number, records: number, ops: number) => void;
  /**
   * everysec: run `tick()` from an own unref'd one-second interval. Tests pass false and call
   * tick() themselves (time as an input, STYLE §2). @default true
   */
  autoTick?: boolean;
}

/** Segment file name for `seq` (fixed width, so names sort in order). */
export function segmentName(seq: number): string {
  return `${seq.toString(16).padStart(16, '0')}.wal`;
}

/** The seq of a segment file name, or null if the name is not a segment's. */
export function parseSegmentName(name: string): number | null {
  const m = /^([0-9a-f]{16})\.wal$/.exec(name);
  return m === null ? null : parseInt(m[1], 16);
}

const EVERYSEC_MS = 1000;
/**
 * A batch takes records up to about this many payload bytes; the rest wait for the next one.
 * Bounds the batch buffer after a disk stall (a batch is otherwise everything queued).
 */
const MAX_BATCH_BYTES = 4 * 1024 * 1024;

/** The write-ahead log of one replica. */
export class Wal {
  private readonly fs: DiskFs;
  private readonly policy: FsyncPolicy;
  private readonly segmentBytes: number;
  private readonly segments: WalSegment[];
  private pending: LogRecord[] = [];
  private busy = true; // opening the first segment
  private fd = -1;
  private position = 0;
  private seq = 0;
  private appendedIndex: number;
  private appendedViewnum: number;
  private writtenIndex: number;
  /** What the last batch made durable; the next mark starts from it. */
  private mark: DurableMark;
  /** Segment head records at the front of `pending` (no ticket). */
  private headPending = 0;
  private identity: LogRecord;
  private lastView: LogRecord | null;
  private dirty = false;
  /** everysec: records and ops written since the last fdatasync (what the next one covers). */
  private unsyncedRecords = 0;
  private unsyncedOps = 0;
  /** rollSoon() was called: start a new segment at the next batch boundary. */
  private rollWanted = false;
  /** everysec: the second's tick came while a write was in flight; sync when it is done. */
  private syncDue = false;
  private failed: Error | null = null;
  /** Callbacks of close(), once it was called; `closed` once the file is closed. */
  private closing: (() => void)[] | null = null;
  private closed = false;
  private readonly timer: NodeJS.Timeout | null = null;
  /** flush, bound once: scheduling a batch allocates no closure. */
  private readonly flushSoon = (): void => this.flush();
  /** Counters since start. */
  readonly stats: WalStats = { batches: 0, records: 0, ops: 0, fsyncs: 0, bytes: 0 };

  constructor(private readonly o: WalOptions) {
    this.fs = o.fs ?? nodeDiskFs;
    this.policy = o.fsync ?? 'always';
    this.segmentBytes = o.segmentBytes ?? 64 * 1024 * 1024;
    this.segments = [...(o.segments ?? [])];
    this.appendedIndex = this.writtenIndex = o.lastIndex ?? 0;
    this.appendedViewnum = o.lastViewnum ?? 0;
    this.mark = { seq: 0, index: this.appendedIndex, viewnum: this.appendedViewnum };
    this.identity = { type: RecordType.Identity, index: 0, count: 0, payload: o.identity };
    this.lastView = o.view == null ? null : { type: RecordType.View, index: this.appendedViewnum, count: 0, payload: o.view };
    if (this.policy === 'everysec' && o.autoTick !== false) {
      this.timer = setInterval(() => this.tick(), EVERYSEC_MS);
      this.timer.unref();
    }
    this.roll();
  }

  /** Log index of the last op appended (durable or not). */
  get lastIndex(): number { return this.appendedIndex; }
  /** Segments on disk, oldest first (the last is being written). */
  get segmentList(): readonly WalSegment[] { return this.segments; }

  /**
   * Queue forwarded operations `index … index+count-1`, as the fwd frame text (not re-encoded).
   * Returns the append's ticket (DurableMark.seq covers it once durable).
   */
  appendOps(index: number, count: number, frame: string | Uint8Array): number {
    this.appendedIndex = index + count - 1;
    return this.push({ type: RecordType.Ops, index, count, payload: frame });
  }

  /** Queue an adopted view (the fence: act in it only once DurableMark.viewnum covers it). */
  appendView(viewnum: number, view: string): number {
    this.appendedViewnum = viewnum;
    this.lastView = { type: RecordType.View, index: viewnum, count: 0, payload: view };
    return this.push(this.lastView);
  }

  /** Queue a new identity (e.g. a new incarnation); it also heads every later segment. */
  appendIdentity(identity: string): number {
    this.identity = { type: RecordType.Identity, index: 0, count: 0, payload: identity };
    return this.push(this.identity);
  }

  private push(r: LogRecord): number {
    if (this.failed !== null || this.closing !== null) throw new Error('the log is closed or failed');
    this.pending.push(r);
    // Start on the next microtask, not now: every append of this turn joins the batch.
    if (this.pending.length === 1 && !this.busy) queueMicrotask(this.flushSoon);
    return ++this.seq;
  }

  /**
   * Start a new segment at the next batch boundary (a snapshot is being taken: the segments
   * before it can then be dropped once it is installed, whatever their size).
   */
  rollSoon(): void {
    if (this.failed !== null || this.closing !== null) return;
    this.rollWanted = true;
    if (!this.busy) this.roll();
  }

  /** The seq of the oldest segment still needed once a snapshot covers ops up to `index`. */
  segmentNeededAfter(index: number): number {
    if (this.segments.length === 0) throw new Error('the log is still opening its first segment');
    let need = this.segments[this.segments.length - 1].seq;
    for (const s of this.segments) if (s.firstIndex <= index + 1) need = s.seq;
    return need;
  }

  /** Delete segments older than `seq` (call once a manifest that no longer needs them is durable). */
  dropSegmentsBefore(seq: number, cb: (err: Error | null) => void): void {
    const old = this.segments.filter((s) => s.seq < seq && s !== this.segments[this.segments.length - 1]);
    let left = old.length;
    if (left === 0) return cb(null);
    let failed = false;
    for (const s of old) {
      this.fs.unlink(path.join(this.o.dir, segmentName(s.seq)), (err) => {
        if (failed) return;
        if (err !== null) { failed = true; return cb(err); }
        this.segments.splice(this.segments.indexOf(s), 1);
        if (--left === 0) this.syncDir(cb);
      });
    }
  }

  /** Write what is queued, sync under the policy, close the file. */
  close(cb: () => void): void {
    if (this.closed || this.failed !== null) { queueMicrotask(cb); return; } // a failed log is fatal: nothing to flush
    if (this.timer !== null) clearInterval(this.timer);
    const first = this.closing === null;
    (this.closing ??= []).push(cb);
    if (first && !this.busy) this.flush();
  }

  private flush(): void {
    if (this.busy || this.failed !== null) return;
    if (this.pending.length === 0) { if (this.closing !== null) this.finish(); return; }
    this.busy = true;
    const batch = this.takeBatch();
    const mark = this.markAfter(batch);
    let buf: Buffer;
    try { buf = encodeRecords(batch); } catch (err) { return this.fail(err as Error); } // a record over the limits
    const at = this.position;
    this.position += buf.length;
    this.fs.writev(this.fd, [buf], at, (err) => {
      if (err !== null) return this.fail(err);
      const ops = this.count(batch, buf.length);
      this.writtenIndex = mark.index;
      if (this.policy !== 'always') { this.dirty = true; this.unsyncedRecords += batch.length; this.unsyncedOps += ops; return this.batchDone(mark); }
      this.datasync(batch.length, ops, () => this.batchDone(mark));
    });
  }

  /** The records of the next batch: all that are queued, up to MAX_BATCH_BYTES. */
  private takeBatch(): LogRecord[] {
    let n = 0;
    let bytes = 0;
    while (n < this.pending.length && (n === 0 || bytes < MAX_BATCH_BYTES)) {
      const p = this.pending[n++].payload;
      bytes += p.length;
    }
    if (n === this.pending.length) {
      const all = this.pending;
      this.pending = [];
      return all;
    }
    return this.pending.splice(0, n);
  }

  /** The mark a batch makes durable: the previous one, advanced by the batch's tickets, ops and views. */
  private markAfter(batch: LogRecord[]): DurableMark {
    const heads = Math.min(this.headPending, batch.length);
    this.headPending -= heads;
    let { index, viewnum } = this.mark;
    for (const r of batch) {
      if (r.type === RecordType.Ops) index = Math.max(index, r.index + r.count - 1);
      else if (r.type === RecordType.View) viewnum = Math.max(viewnum, r.index);
    }
    this.mark = { seq: this.mark.seq + batch.length - heads, index, viewnum };
    return this.mark;
  }

  /** Count a written batch; returns its operations. */
  private count(batch: LogRecord[], bytes: number): number {
    this.stats.batches++;
    this.stats.records += batch.length;
    this.stats.bytes += bytes;
    let ops = 0;
    for (const r of batch) if (r.type === RecordType.Ops) ops += r.count;
    this.stats.ops += ops;
    return ops;
  }

  private datasync(records: number, ops: number, then: () => void): void {
    const t0 = process.hrtime.bigint();
    crashPoint('before-fsync');
    this.fs.fdatasync(this.fd, (err) => {
      if (err !== null) return this.fail(err);
      this.stats.fsyncs++;
      this.dirty = false;
      this.o.onSync?.(Number(process.hrtime.bigint() - t0) / 1e6, records, ops);
      then();
    });
  }

  private batchDone(mark: DurableMark): void {
    this.o.onDurable(mark);
    if (this.syncDue && this.failed === null) return this.syncNow(() => this.writeDone());
    this.writeDone();
  }

  private writeDone(): void {
    this.busy = false;
    if ((this.position >= this.segmentBytes || this.rollWanted) && this.closing === null) this.roll();
    else this.flush();
  }

  /**
   * everysec: called once a second; fdatasyncs when something was written since the last
   * sync, between batches (it never overlaps a write: one I/O in flight at a time).
   */
  tick(): void {
    if (this.policy !== 'everysec' || !this.dirty || this.failed !== null) return;
    // A write in flight: sync right after it. Skipping instead would skip every second under
    // a steady load (a write is nearly always in flight), and nothing would ever be synced.
    if (this.busy) { this.syncDue = true; return; }
    this.busy = true;
    this.syncNow(() => { this.busy = false; this.flush(); });
  }

  /** everysec: one fdatasync covering everything written since the last (busy is already set). */
  private syncNow(then: () => void): void {
    this.syncDue = false;
    const records = this.unsyncedRecords;
    const ops = this.unsyncedOps;
    this.unsyncedRecords = this.unsyncedOps = 0;
    this.datasync(records, ops, then);
  }

  /** Finish the current segment (fdatasync, close), start the next: create, fsync the directory, head records. */
  private roll(): void {
    this.busy = true;
    this.rollWanted = false;
    const seq = this.segments.length === 0 ? 1 : this.segments[this.segments.length - 1].seq + 1;
    this.closeFile(() => {
      this.fs.open(path.join(this.o.dir, segmentName(seq)), 'wx', (err, fd) => {
        if (err !== null) return this.fail(err);
        this.fd = fd;
        this.position = 0;
        this.segments.push({ seq, firstIndex: this.writtenIndex + 1 });
        this.syncDir((e) => {
          if (e !== null) return this.fail(e);
          const heads = this.lastView === null ? [this.identity] : [this.identity, this.lastView];
          this.pending.unshift(...heads);
          this.headPending = heads.length;
          this.busy = false;
          this.flush();
        });
      });
    });
  }

  private closeFile(then: () => void): void {
    if (this.fd < 0) return then();
    const fd = this.fd;
    // Even with --fsync no: a finished segment is complete on disk, so only the last can be torn.
    this.fs.fdatasync(fd, (err) => {
      if (err !== null) return this.fail(err);
      this.fs.close(fd, (e) => (e !== null ? this.fail(e) : then()));
    });
  }

  private syncDir(cb: (err: Error | null) => void): void {
    this.fs.open(this.o.dir, 'r', (err, fd) => {
      if (err !== null) return cb(err);
      this.fs.fsync(fd, (e) => this.fs.close(fd, (e2) => cb(e ?? e2)));
    });
  }

  private finish(): void {
    this.busy = true;
    this.closeFile(() => {
      this.fd = -1;
      this.closed = true;
      for (const cb of this.closing!) cb();
    });
  }

  private fail(err: Error): void {
    if (this.failed !== null) return;
    this.failed = err;
    this.busy = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.o.onError(err);
    for (const cb of this.closing ?? []) cb(); // whoever waits for close() is not left hanging
  }
}
