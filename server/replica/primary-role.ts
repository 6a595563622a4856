/**
 * The primary's side of the replica core (SPEC §3.2, §3.4; docs/PROTOCOL.md §3): ordering,
 * forwarding, the backup's acknowledgements, the streaming state transfer, and the watches
 * (only the primary holds them). The ReplicaMachine holds one and steps it while it is
 * primary; see the top of replica-machine.ts for the other rules restated.
 *
 *  - Primary: every request gets the next log index (reads too), is applied at once (its
 *    result is the reply) and is forwarded, batched, once per event-loop turn (`flush`).
 *    Replies wait for the backup's cumulative `fwdack` (or the `xferack` whose index covers
 *    them) (§3.2), and, durable, for the local log too (`commit`, docs/DURABILITY.md §8).
 *    With no backup in the view, requests complete at once (durable: once logged).
 *  - Every new view in which I am primary with a backup starts a state transfer once the
 *    link is up: the state as of the current index I, STREAMED (store.openTransfer): the
 *    at-most-once table and history at once, then the data a chunk per `pump`, at most
 *    TRANSFER_WINDOW chunks unacknowledged, while operations keep being ordered, applied
 *    and forwarded behind the chunks. A write to a key the stream has not sent yet first
 *    pulls the key's value as of I ahead of the fwd (copy-on-write by key), so the backup
 *    applies every op after I to exactly the state as of I plus the ops before it: each op
 *    is wholly after the transfer (§3.4), and clients keep being served during it. The
 *    backup acknowledges fwds as it applies them to the state it is receiving; the view is
 *    acknowledged to the view service (`pingViewnum`) only after `xferack` (§3.4), and no
 *    other replica can serve before that (SPEC §2.3). A link that drops before `xferack`
 *    gets a fresh transfer; after it, the unacknowledged fwds are resent from the
 *    acknowledged index + 1. Durable: a probe first; a backup whose position allows it
 *    gets only the log suffix instead (catch-up.ts, docs/DURABILITY.md §9).
 */
import type { ReqMsg, XferBeginMsg, XferDataMsg, RejectMsg, WatchMsg, XferPosMsg } from '../../common/messages';
import type { ViewHolders, ReplicaId } from '../../common/view';
import type { Limits } from '../../common/limits';
import type { SnapshotChunk } from './kv-state';
import { NONE, TRANSFER_WINDOW, type Transfer, type Streaming } from './transfer-state';
import { approxBytes, fwdBatch, type FwdBatch, type Pending } from './pending-log';
import { WatchRegistry, replayBatch } from './watch-registry';
import { publish, startWatch } from './watch-publish';
import { toRes, notPrimary, watchNotPrimary, type ConnId, type FromBackupMsg, type RoleContext } from './replica-io';
import { sendSuffix, probeFirst } from './catch-up-out';

/**
 * The log entry of a watch registration: a read by a reserved client id (no client table
 * is created for a read, so it changes nothing but the log index, on both replicas).
 */
export const WATCH_CLIENT = '#watch';
const WATCH_MARK: ReqMsg = Object.freeze({ type: 'req', client: WATCH_CLIENT, seq: 0, ack: 0, op: 'get', key: '' });

/** Room for the fwd frame's own fields beside its ops. */
const FWD_OVERHEAD = 1024;

export { TRANSFER_WINDOW };

export class PrimaryRole {
  private pending: Pending[] = [];
  private head = 0; // pending[head] is the oldest waiting request
  private pendingMem = 0; // approxBytes of pending[head…], for the shell's byte bound
  private xfer: Transfer = NONE;
  private sentUpTo = 0; // last log index sent on the current link (or covered by the transfer)
  private persistedUpTo = 0; // durable: last log index handed to the log (persistOps)
  private _ackedIndex = 0; // last log index the backup acknowledged in this view
  private _linkUp = false;
  private target: ReplicaId | null = null;

  constructor(
    private readonly ctx: RoleContext,
    private readonly watches: WatchRegistry,
    private readonly limits: Limits,
    private readonly chunkBytes: number,
    /** The backup installed the view's transfer (xferack): the view may be acknowledged. */
    private readonly onSynced: () => void,
  ) {}

  get backupTarget(): ReplicaId | null { return this.target; }
  get linkUp(): boolean { return this._linkUp; }
  get ackedIndex(): number { return this._ackedIndex; }
  /** The current view's transfer is acknowledged: the backup has the state. */
  get synced(): boolean { return this.xfer.state === 'acked'; }
  get pendingCount(): number { return this.pending.length - this.head; }
  get pendingBytes(): number { return this.pendingMem; }
  /** Forwarded ops awaiting the backup's acknowledgement. */
  get inFlight(): number { return Math.max(0, this.sentUpTo - this._ackedIndex); }
  /** A `flush` would send something. */
  get wantsFlush(): boolean {
    if (this.pending.length === this.head) return false;
    const last = this.pending[this.pending.length - 1].index;
    return (this.ctx.durable && last > this.persistedUpTo) || (this.canForward() && last > this.sentUpTo);
  }
  /** A `pump` would send a transfer chunk. */
  get wantsPump(): boolean {
    const x = this.xfer;
    return this._linkUp && x.state === 'streaming' && x.begun && x.sent - x.acked < TRANSFER_WINDOW;
  }

  setLink(up: boolean): void {
    this._linkUp = up;
    if (up) this.onLinkUp();
  }

  /** A view where I am primary: (re)start the transfer, or complete everything if there is no backup. */
  enterView(wasPrimary: boolean): void {
    const store = this.ctx.store;
    if (!wasPrimary) {
      this.pending = [];
      this.head = 0;
      this.pendingMem = 0;
      this.sentUpTo = this._ackedIndex = this.persistedUpTo = store.index;
      if (this.ctx.catchUp !== null) this.ctx.out.push({ kind: 'persistLineage', lineage: this.ctx.catchUp.begin(store.index) }); // before any op of it
    }
    const target = this.ctx.view.backup;
    if (target !== this.target) {
      this.target = target;
      this._linkUp = false;
    }
    if (!target) {
      this.setXfer(NONE);
      this.sentUpTo = this._ackedIndex = store.index;
      this.onSynced();
      this.commit();
      return;
    }
    // A new view, even with the same backup, gets a transfer: views can be skipped, so
    // "same backup as before" does not prove it has the state. The snapshot is taken now,
    // not when the link is up: the ops ordered meanwhile are after it, forwarded and
    // answered as soon as the link is up, instead of waiting for the whole transfer.
    this.openSnapshot();
    if (this._linkUp) this.beginTransfer();
  }

  /**
   * No longer primary: every waiting request is answered NOT_PRIMARY (with `view`, the view
   * clients should go to), and every watch (pending or active) ends with a NOT_PRIMARY error;
   * clients retry at the new primary.
   */
  stepDown(view = this.ctx.view): void {
    const out = this.ctx.out;
    for (let i = this.head; i < this.pending.length; i++) {
      const p = this.pending[i];
      if (!p.watch) out.push({ kind: 'reply', conn: p.conn, msg: notPrimary(p.req.seq, view) });
    }
    for (const w of this.watches.clear()) out.push({ kind: 'push', conn: w.conn, msg: watchNotPrimary(w.id, view) });
    this.pending = [];
    this.head = 0;
    this.pendingMem = 0;
    this.setXfer(NONE);
    this.target = null;
    this._linkUp = false;
  }

  order(conn: ConnId, req: ReqMsg, raw?: string): void {
    const store = this.ctx.store;
    const revision = store.revision;
    const res = toRes(req.seq, store.apply(req));
    const event = store.revision === revision ? null : req.op === 'atomic' ? store.lastCommit : store.lastWrite;
    if (this.xfer.state === 'none') {
      this.sentUpTo = this._ackedIndex = store.index;
      if (!this.ctx.durable) {
        this.ctx.out.push({ kind: 'reply', conn, msg: res });
        if (event) publish(this.watches, this.ctx.out, event);
        return;
      } // durable: the reply waits for the log (commit)
    }
    this.pending.push(raw === undefined ? { index: store.index, conn, req, res, event } : { index: store.index, conn, req, raw, res, event });
    this.pendingMem += approxBytes(req) + (raw === undefined ? 0 : raw.length);
  }

  /**
   * A watch is ordered like a read: it takes a log slot, its replay is what the store holds
   * at that slot, and both go out only once the slot is committed (completeUpTo), i.e. once
   * the backup has proved this replica is still the primary.
   */
  registerWatch(conn: ConnId, msg: WatchMsg): void {
    const w = this.watches.register(conn, msg.id, msg.pattern);
    if (!('active' in w)) {
      this.ctx.out.push({ kind: 'push', conn, msg: w });
      return;
    }
    const store = this.ctx.store;
    store.apply(WATCH_MARK);
    const watch = { w, batch: replayBatch(store, w, msg.from) };
    if (this.xfer.state === 'none') {
      this.sentUpTo = this._ackedIndex = store.index;
      if (!this.ctx.durable) return startWatch(this.watches, this.ctx.out, watch);
    }
    this.pending.push({ index: store.index, conn, req: WATCH_MARK, res: null, watch });
    this.pendingMem += approxBytes(WATCH_MARK);
  }

  /** Replace the transfer state; a streaming transfer that ends this way stops pulling keys. */
  private setXfer(x: Transfer): void {
    if (this.xfer.state === 'streaming' && this.xfer !== x) this.xfer.cursor.close();
    this.xfer = x;
  }

  /** The backup has a transfer of this view under way or installed: its fwdacks count. */
  private canForwardState(): boolean {
    const x = this.xfer;
    return (x.state === 'streaming' && x.begun) || x.state === 'sent' || x.state === 'acked';
  }

  private canForward(): boolean {
    return this._linkUp && this.canForwardState();
  }

  /**
   * One fwd frame with every unsent op (split only to stay under the message limit). During
   * a streaming transfer the keys those ops pulled ahead go first. The frame's text is built
   * by the shell from the clients' own frames (forward-frames.ts), not here. Durable: every
   * op not yet logged goes to the log in the same turn (persistOps), so the local fsync
   * overlaps the forward; a frame both logged and sent is one msg, encoded once.
   */
  flush(): void {
    const forward = this.canForward();
    if (forward && this.xfer.state === 'streaming') this.sendChunks(this.xfer, this.xfer.cursor.takePulled(this.chunkBytes));
    if (this.ctx.durable) {
      for (let i = this.position(this.persistedUpTo + 1); i < this.pending.length;) {
        const b = this.batch(i);
        this.ctx.out.push({ kind: 'persistOps', msg: b.msg, raws: b.raws });
        this.ctx.catchUp?.add(b.msg);
        this.persistedUpTo = b.msg.index + b.msg.ops.length - 1;
        if (forward && b.msg.index === this.sentUpTo + 1) this.send(b);
        i = b.end;
      }
    }
    if (!forward) return;
    for (let i = this.position(this.sentUpTo + 1); i < this.pending.length;) {
      const b = this.batch(i);
      this.send(b);
      i = b.end;
    }
  }

  /** Where op `index` is in pending (pending.length when past the last). */
  private position(index: number): number {
    return this.head + Math.max(0, index - (this.pending[this.head]?.index ?? 0));
  }

  /** The ops from pending[i] on that fit one frame. */
  private batch(i: number): FwdBatch {
    return fwdBatch(this.pending, i, this.limits.maxMessageBytes - FWD_OVERHEAD, this.ctx.view.viewnum);
  }

  private send(b: FwdBatch): void {
    this.ctx.out.push({ kind: 'toBackup', msg: b.msg, raws: b.raws });
    this.sentUpTo = b.msg.index + b.msg.ops.length - 1;
  }

  private onLinkUp(): void {
    const x = this.xfer;
    if (x.state === 'streaming') x.probed = false; // a probe on an older link is not answered here
    if (x.state === 'streaming' && !x.begun) {
      this.beginTransfer();
    } else if (x.state === 'streaming' || x.state === 'sent') {
      this.openSnapshot(); // a fresh transfer on a fresh link, at the current index
      this.beginTransfer();
    } else if (x.state === 'acked') {
      this.sentUpTo = this._ackedIndex; // resend everything unacknowledged on the next flush
    }
  }

  /**
   * Take the snapshot of the state as of the current index: the at-most-once table and the
   * history now, the data through a copy-on-write cursor (see the top). Sent by beginTransfer.
   */
  private openSnapshot(): void {
    const store = this.ctx.store;
    const cursor = store.openTransfer();
    const index = store.index;
    this.setXfer({ state: 'streaming', index, revision: store.revision, cursor, meta: cursor.meta(this.chunkBytes), begun: false, sent: 0, acked: 0 });
    this.sentUpTo = index;
  }

  /** The link is up: xfer-begin and the meta part now, the data chunk by chunk (`pump`). */
  private beginTransfer(): void {
    const x = this.xfer;
    if (x.state !== 'streaming' || x.begun) return;
    const view = this.ctx.view;
    const msg: XferBeginMsg = { type: 'xfer-begin', view, holders: this.ctx.holders as ViewHolders, index: x.index, revision: x.revision };
    if (probeFirst(this.ctx, x, msg)) return; // durable: the backup's position first (onPosition)
    x.begun = true;
    this.ctx.out.push({ kind: 'toBackup', msg });
    this.sendChunks(x, x.meta);
    x.meta = [];
    this.ctx.log('info', `state transfer to ${view.backup} for view ${view.viewnum}`, { index: x.index, keys: this.ctx.store.size });
    this.pump();
  }

  /** The next chunk of the data (within the window); xfer-end once every key is sent. */
  pump(): void {
    const x = this.xfer;
    if (x.state !== 'streaming' || !x.begun || !this._linkUp) return;
    while (x.sent - x.acked < TRANSFER_WINDOW) {
      const chunks = x.cursor.next(this.chunkBytes);
      this.sendChunks(x, chunks);
      if (x.cursor.done) {
        this.sendChunks(x, x.cursor.takePulled(this.chunkBytes));
        this.sendChunks(x, x.cursor.historyChunks(this.chunkBytes).concat(this.ctx.store.leases.chunks(this.chunkBytes))); // then the leases, as of now (SPEC §10)
        this.ctx.out.push({ kind: 'toBackup', msg: { type: 'xfer-end', viewnum: this.ctx.view.viewnum } });
        this.setXfer({ state: 'sent', index: x.index });
        this.ctx.log('info', `state transfer to ${this.ctx.view.backup} sent`, { index: x.index, chunks: x.sent, pulledAhead: x.cursor.handledCount });
        return;
      }
      if (chunks.length > 0) return; // one chunk per turn: clients are served between chunks
    }
  }

  private sendChunks(x: Streaming, chunks: SnapshotChunk[]): void {
    const viewnum = this.ctx.view.viewnum;
    for (const c of chunks) {
      const msg: XferDataMsg = { type: 'xfer-data', viewnum, ...c }; // data, dedup, and events or leases when present
      this.ctx.out.push({ kind: 'toBackup', msg });
      x.sent++;
    }
  }

  /** A frame from the backup; a reject naming a newer view is the machine's (onDeposed). */
  fromBackup(m: Exclude<FromBackupMsg, RejectMsg>): void {
    const v = this.ctx.view.viewnum;
    const store = this.ctx.store;
    switch (m.type) {
      case 'chunkack':
        if (m.viewnum === v && this.xfer.state === 'streaming' && m.n <= this.xfer.sent) this.xfer.acked = Math.max(this.xfer.acked, m.n);
        return;
      case 'xferack':
        // The backup's index covers the snapshot and every fwd it applied during the transfer.
        if (m.viewnum !== v || this.xfer.state !== 'sent' || m.index < this.xfer.index || m.index > store.index) {
          this.ctx.log('debug', 'stale xferack ignored', { msg: m });
          return;
        }
        this.setXfer({ state: 'acked', index: this.xfer.index });
        this._ackedIndex = Math.max(this._ackedIndex, m.index);
        this.onSynced(); // now the view may be acknowledged to the view service
        this.ctx.log('info', `backup ${this.ctx.view.backup} installed view ${v}`, { index: m.index });
        this.commit();
        return;
      case 'xfer-pos': return this.onPosition(m);
      case 'fwdack':
        if (m.viewnum !== v || !this.canForwardState()) return;
        if (m.index > this._ackedIndex) {
          this._ackedIndex = Math.min(m.index, store.index);
          this.commit();
        }
        return;
    }
  }

  /** Durable: the backup's position (its answer to the probe) decides: the log suffix, or the full transfer (catch-up.ts). */
  private onPosition(m: XferPosMsg): void {
    const x = this.xfer;
    if (m.viewnum !== this.ctx.view.viewnum || x.state !== 'streaming' || x.begun || !x.probed) return;
    this.flush(); // not forwarding yet: every op ordered so far goes to the log (and recent) first
    const index = this.ctx.store.index;
    if (!sendSuffix(this.ctx, m, this.limits.maxMessageBytes - FWD_OVERHEAD)) return this.beginTransfer();
    this.setXfer({ state: 'sent', index });
    this.sentUpTo = index;
  }

  /**
   * The backup rejected with a view not newer than mine: it could not take what was sent
   * (frames lost on a link that stayed up: a gap; a backup that restarted and has no transfer
   * installed; one that had not learned the view). Keep every request; start over on a fresh
   * link with a fresh transfer, whose xferack covers them all. Without this a link that
   * silently lost frames would stall the primary until the view changed (found by `npm run
   * chaos`, a blackhole on primary → backup). Rejects from the old socket that arrive before
   * the new link is up are ignored, and the link's backoff bounds how often this runs.
   */
  onStaleReject(m: RejectMsg): void {
    this.ctx.log('warn', `backup rejected: ${m.reason}`, { backupView: m.view, view: this.ctx.view });
    if (!this._linkUp || this.ctx.view.backup === null) return;
    this._linkUp = false;
    this.openSnapshot();
    this.ctx.out.push({ kind: 'relinkBackup', reason: m.reason });
  }

  /**
   * Reply up to what the backup acknowledged and, durable, what the local log has on disk:
   * an acknowledged write is then on both disks (docs/DURABILITY.md §8).
   */
  commit(): void {
    this.completeUpTo(this.ctx.durable ? Math.min(this._ackedIndex, this.ctx.loggedIndex) : this._ackedIndex);
  }

  /** Reply to every waiting request with index ≤ upTo, in order. */
  private completeUpTo(upTo: number): void {
    const out = this.ctx.out;
    while (this.head < this.pending.length && this.pending[this.head].index <= upTo) {
      const p = this.pending[this.head++];
      this.pendingMem -= approxBytes(p.req) + (p.raw === undefined ? 0 : p.raw.length);
      if (p.watch) startWatch(this.watches, out, p.watch);
      if (p.res) out.push({ kind: 'reply', conn: p.conn, msg: p.res });
      if (p.event) publish(this.watches, out, p.event);
    }
    if (this.head === this.pending.length) {
      this.pending = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.pending.length) {
      this.pending = this.pending.slice(this.head);
      this.head = 0;
    }
  }
}
