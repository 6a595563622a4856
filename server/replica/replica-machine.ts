/**
 * The replica's DETERMINISTIC CORE (SPEC §3, docs/PROTOCOL.md §3). It imports only from
 * common/ and the store: no timers, no sockets, no node:*. Inputs go in through `step`;
 * everything it wants done (replies, frames to the backup or back to the primary, log
 * lines) comes out of `takeEffects()` (STYLE §1, raft's `msgs` outbox).
 *
 * The rules, restated:
 *  - Role comes from the latest view (only higher viewnums are adopted): primary iff the
 *    view names me primary AND the holders name my incarnation; backup iff the view names
 *    me backup (any incarnation of mine: see below); else idle.
 *    Only the primary serves; the others answer NOT_PRIMARY with their view (§3.1).
 *  - Primary: every request gets the next log index (reads too), is applied at once (its
 *    result is the reply) and is forwarded, batched, once per event-loop turn (`flush`).
 *    Replies wait for the backup's cumulative `fwdack` (or the `xferack` whose index covers
 *    them) (§3.2). With no backup in the view, requests complete at once.
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
 *    acknowledged index + 1.
 *  - Backup: installs a transfer only from the primary of its view (with its holder
 *    incarnation) and accepts `fwd` only for that view, from that peer, after the install,
 *    in index order; anything else is rejected with its view (§3.3). A rejection with a
 *    newer view tells the primary it was replaced: its waiting requests get NOT_PRIMARY.
 *  - Idle: keeps whatever state it has, never serves, never acknowledges forwards.
 *  - Watches (issue #4, PROTOCOL §2.1): every replica records its applied writes in a
 *    bounded history (store.history), the backup too, so a new primary can replay. Only
 *    the primary holds watches. A `watch` takes a log slot like a read (a `get` by the
 *    reserved client WATCH_CLIENT, forwarded like any op); its replay is computed at that
 *    slot and sent only when the slot is committed, so a deposed primary sends nothing.
 *    Events of a write go out when the write is committed (with its reply), in log order,
 *    to every watch active by then.
 */
import type {
  ReqMsg, ResMsg, StoredResult, XferBeginMsg, XferDataMsg, XferEndMsg, FwdMsg,
  XferAckMsg, ChunkAckMsg, FwdAckMsg, RejectMsg, WatchMsg, UnwatchMsg, EventMsg, SyncedMsg, ErrorMsg,
} from '../../common/messages';
import { VIEW0, NO_HOLDERS } from '../../common/view';
import type { View, ViewHolders, ReplicaId } from '../../common/view';
import type { ReplicaReport } from '../../common/recovery';
import { DEFAULT_LIMITS, Limits, utf8Length } from '../../common/limits';
import { KvState, StoreBounds, DEFAULT_STORE_BOUNDS, SnapshotChunk, TransferCursor, jsonStringBytes } from './kv-state';
import { HistoryBounds, DEFAULT_HISTORY_BOUNDS, WriteEvent } from './write-history';
import { WatchRegistry, Watch, WatchPush, DEFAULT_MAX_WATCHES_PER_CONN, replayBatch, eventMsg } from './watch-registry';

/** The shell's handle of a client connection. */
export type ConnId = number;
export type Role = 'primary' | 'backup' | 'idle';
export interface PeerIdentity { id: string; incarnation: string }

export type FromPrimaryMsg = XferBeginMsg | XferDataMsg | XferEndMsg | FwdMsg;
export type FromBackupMsg = XferAckMsg | ChunkAckMsg | FwdAckMsg | RejectMsg;

export type ReplicaInput =
  /** A view from the view service (pushed, or the answer to a ping). */
  | { kind: 'view'; view: View; holders: ViewHolders }
  /**
   * A client's request. `raw`: the frame it was decoded from, if the shell has it; it is
   * forwarded to the backup as is (no re-encoding of what is only passed on). The backup
   * decodes it with the same rules, so it applies exactly `req`.
   */
  | { kind: 'clientOp'; conn: ConnId; req: ReqMsg; raw?: string }
  /** Once per event-loop turn while `wantsFlush`: forward every unsent op. */
  | { kind: 'flush' }
  /** Once per event-loop turn while `wantsPump`: send the next chunk of a streaming transfer. */
  | { kind: 'pump' }
  /** The shell's link to `backupTarget` opened / closed. */
  | { kind: 'backupLinkUp' }
  | { kind: 'backupLinkDown' }
  /** A frame on an incoming /peer link (I am, maybe, the backup). */
  | { kind: 'fromPrimary'; peer: PeerIdentity; msg: FromPrimaryMsg }
  /** A frame on my link to the backup (I am, maybe, the primary). */
  | { kind: 'fromBackup'; msg: FromBackupMsg }
  /** A client registers (or replaces) a watch on its connection. */
  | { kind: 'watch'; conn: ConnId; msg: WatchMsg }
  | { kind: 'unwatch'; conn: ConnId; msg: UnwatchMsg }
  /** A client connection closed: its watches die with it. */
  | { kind: 'connClosed'; conn: ConnId };

export type ReplicaEffect =
  | { kind: 'reply'; conn: ConnId; msg: ResMsg }
  /** `text`, when present, is `msg` already encoded (a fwd built from the clients' frames). */
  | { kind: 'toBackup'; msg: FromPrimaryMsg; text?: string }
  /** Sent back on the /peer link whose frame was being stepped. */
  | { kind: 'toPrimary'; msg: FromBackupMsg }
  /** Watch traffic to a client: committed events, `synced`, or an error ending a watch. */
  | { kind: 'push'; conn: ConnId; msg: EventMsg | SyncedMsg | ErrorMsg }
  | { kind: 'log'; level: 'info' | 'warn' | 'debug'; msg: string; data?: object }
  /** Drop the backup link and connect again (with the link's backoff): a fresh transfer follows. */
  | { kind: 'relinkBackup'; reason: string };

export interface ReplicaMachineOptions {
  /** My id: the advertised URL. */
  me: ReplicaId;
  /** This process's incarnation (a fresh nanoid per start). */
  incarnation: string;
  /** @default DEFAULT_LIMITS */
  limits?: Limits;
  /** @default DEFAULT_STORE_BOUNDS */
  storeBounds?: StoreBounds;
  /** Target size of a transfer chunk, UTF-8 bytes of JSON. @default 262144 */
  chunkBytes?: number;
  /** How many writes the history keeps for watch replays. @default DEFAULT_HISTORY_BOUNDS (10000 events, 16 MiB) */
  history?: HistoryBounds;
  /** Watches one client connection may hold. @default 1000 */
  maxWatchesPerConn?: number;
}

/**
 * A log entry ordered by the primary, waiting for the backup: a client request (`res` is
 * its reply; `event` the write it made, if any) or a watch registration (`watch`).
 */
interface Pending {
  index: number;
  conn: ConnId;
  req: ReqMsg;
  /** The client's frame of `req`, forwarded as is. */
  raw?: string;
  res: ResMsg | null;
  event?: WriteEvent | null;
  watch?: { w: Watch; batch: WatchPush[] };
}

/**
 * The log entry of a watch registration: a read by a reserved client id (no client table
 * is created for a read, so it changes nothing but the log index, on both replicas).
 */
export const WATCH_CLIENT = '#watch';
const WATCH_MARK: ReqMsg = Object.freeze({ type: 'req', client: WATCH_CLIENT, seq: 0, ack: 0, op: 'get', key: '' });

/** The current view's state transfer, as the primary sees it. */
type Transfer =
  | { state: 'none' } //                    the view has no backup
  /**
   * The snapshot at `index`, opened when the view named the backup: its meta part (taken
   * then) waits for the link (`begun` false), the data streams once it is up; `sent`
   * xfer-data so far, `acked` of them acknowledged.
   */
  | { state: 'streaming'; index: number; revision: number; cursor: TransferCursor; meta: SnapshotChunk[]; begun: boolean; sent: number; acked: number }
  | { state: 'sent'; index: number } //     xfer-end sent; waiting for xferack
  | { state: 'acked'; index: number }; //   the backup installed it

/** A transfer being received (backup side): the state it builds, and the chunks so far. */
interface Staging { viewnum: number; peer: PeerIdentity; store: KvState; chunks: number }

/**
 * Chunks of a streaming transfer sent and not yet acknowledged, at most. With 256 KiB
 * chunks a forwarded op queues behind at most about 1 MiB of snapshot. @default 4
 */
export const TRANSFER_WINDOW = 2;
/** Default chunk size of a streaming transfer: small enough to encode in about a millisecond. */
const TRANSFER_CHUNK_BYTES = 128 * 1024;

const NO_EFFECTS: readonly ReplicaEffect[] = Object.freeze([]);

/** Room for the fwd frame's own fields beside its ops. */
const FWD_OVERHEAD = 1024;

export function toRes(seq: number, r: StoredResult): ResMsg {
  return r.ok
    ? { type: 'res', seq, ok: true, value: r.value, rev: r.rev }
    : { type: 'res', seq, ok: false, code: r.code, message: r.message };
}

export function notPrimary(seq: number, view: View): ResMsg {
  return {
    type: 'res', seq, ok: false, code: 'NOT_PRIMARY',
    message: `not the primary of view ${view.viewnum} (its primary is ${view.primary ?? 'nobody'})`,
    view,
  };
}

/** A watch refused or ended because this replica is not (or no longer) the primary. */
export function watchNotPrimary(id: number, view: View): ErrorMsg {
  return {
    type: 'error', code: 'NOT_PRIMARY', id, view,
    message: `watch ${id}: not the primary of view ${view.viewnum} (its primary is ${view.primary ?? 'nobody'})`,
  };
}

export class ReplicaMachine {
  readonly me: ReplicaId;
  readonly incarnation: string;
  private readonly limits: Limits;
  private readonly chunkBytes: number;
  private _store: KvState;
  private readonly watches: WatchRegistry;
  private effects: ReplicaEffect[] = [];

  private _view: View = VIEW0;
  /** null: learned without holders (from a reject); a view-service message fills them in. */
  private holders: ViewHolders | null = NO_HOLDERS;
  private _role: Role = 'idle';
  private pingNum = 0;

  // primary
  private pending: Pending[] = [];
  private head = 0; // pending[head] is the oldest waiting request
  private pendingMem = 0; // approxBytes of pending[head…], for the shell's byte bound
  private xfer: Transfer = { state: 'none' };
  private sentUpTo = 0; // last log index sent on the current link (or covered by the transfer)
  private ackedIndex = 0; // last log index the backup acknowledged in this view
  private linkUp = false;
  private _backupTarget: ReplicaId | null = null;

  // backup
  private installed = 0; // viewnum whose transfer is installed (0: none)
  private staging: Staging | null = null;

  constructor(o: ReplicaMachineOptions) {
    this.me = o.me;
    this.incarnation = o.incarnation;
    this.limits = o.limits ?? DEFAULT_LIMITS;
    this.chunkBytes = o.chunkBytes ?? TRANSFER_CHUNK_BYTES;
    this._store = new KvState(this.limits, o.storeBounds ?? DEFAULT_STORE_BOUNDS, o.history ?? DEFAULT_HISTORY_BOUNDS);
    this.watches = new WatchRegistry(o.maxWatchesPerConn ?? DEFAULT_MAX_WATCHES_PER_CONN);
  }

  get role(): Role { return this._role; }
  get view(): View { return this._view; }
  /** The state (a backup swaps in the store its transfer built, at xfer-end). */
  get store(): KvState { return this._store; }
  /** The viewnum for the next ping: a primary withholds a view until its backup has the state (SPEC §3.4). */
  get pingViewnum(): number { return this.pingNum; }
  /** The replica the shell keeps one /peer link to (while primary of a view with a backup). */
  get backupTarget(): ReplicaId | null { return this._backupTarget; }
  /**
   * What the pings report beside `pingViewnum` (docs/VIEW-SERVICE-RESTART.md): the view I
   * know with its holders, my role, and whether my state counts for that view (its primary,
   * or its backup with that view's transfer installed). A view service that lost its state
   * learns the current view from these reports.
   */
  report(): ReplicaReport {
    const role = this._role;
    const initialised = role === 'primary' || (role === 'backup' && this.installed === this._view.viewnum);
    return { view: this._view, holders: this.holders, role, initialised };
  }
  /** True when a `flush` would send something: call it once per event-loop turn. */
  get wantsFlush(): boolean {
    return this._role === 'primary' && this.canForward() && this.pending.length > this.head
      && this.pending[this.pending.length - 1].index > this.sentUpTo;
  }
  /** A state transfer is being received (backup side: between xfer-begin and xfer-end). */
  get receivingTransfer(): boolean { return this.staging !== null; }
  /** True when a `pump` would send a transfer chunk: call it once per event-loop turn. */
  get wantsPump(): boolean {
    const x = this.xfer;
    return this._role === 'primary' && this.linkUp && x.state === 'streaming' && x.begun && x.sent - x.acked < TRANSFER_WINDOW;
  }
  /** Forwarded ops awaiting the backup's acknowledgement (forwardState().inFlight, without the object). */
  get inFlight(): number { return Math.max(0, this.sentUpTo - this.ackedIndex); }
  /** Requests ordered but not yet answered (the shell applies backpressure on it). */
  pendingCount(): number { return this.pending.length - this.head; }
  /**
   * How forwarding to the backup stands, for the shell's suspicion check and flush timing:
   * `synced` once the current view's transfer is acknowledged; `ackedIndex` moves with every
   * acknowledgement; `inFlight` ops were sent and await their acknowledgement.
   */
  forwardState(): { synced: boolean; ackedIndex: number; pending: number; inFlight: number } {
    return { synced: this.xfer.state === 'acked', ackedIndex: this.ackedIndex, pending: this.pendingCount(), inFlight: this.inFlight };
  }
  /**
   * About how much memory the unanswered requests hold (keys and values, UTF-16 units, plus
   * a fixed cost each): 100 000 of them may be 100 GB when each carries 1 MiB, so the shell
   * bounds this too.
   */
  pendingBytes(): number { return this.pendingMem; }
  /** Watches registered on client connections (pending or active). */
  watchCount(): number { return this.watches.size; }

  takeEffects(): readonly ReplicaEffect[] {
    const out = this.effects;
    if (out.length === 0) return NO_EFFECTS; // most steps of a busy primary (no new array per step)
    this.effects = [];
    return out;
  }

  step(input: ReplicaInput): void {
    // Inputs that may change the view come first, whatever the role.
    if (input.kind === 'view') {
      this.onViewFromService(input.view, input.holders);
      return;
    }
    if (input.kind === 'fromPrimary' && input.msg.type === 'xfer-begin') this.maybeAdoptFromTransfer(input.peer, input.msg);
    if (input.kind === 'backupLinkUp') this.linkUp = true;
    if (input.kind === 'backupLinkDown') this.linkUp = false;
    if (input.kind === 'unwatch') return this.watches.unregister(input.conn, input.msg.id);
    if (input.kind === 'connClosed') return this.watches.dropConn(input.conn);
    switch (this._role) {
      case 'primary': this.stepPrimary(input); break;
      case 'backup': this.stepBackup(input); break;
      default: this.stepIdle(input);
    }
  }

  // ───────────────────────────── views ─────────────────────────────

  private onViewFromService(view: View, holders: ViewHolders): void {
    const newer = view.viewnum > this._view.viewnum;
    const fillsHolders = view.viewnum === this._view.viewnum && this.holders === null;
    if (!newer && !fillsHolders) return;
    this.adoptView(view, holders);
    if (this._role !== 'primary' || !view.backup) this.pingNum = view.viewnum;
  }

  /** xfer-begin carries the view (and holders) the primary got from the view service. */
  private maybeAdoptFromTransfer(peer: PeerIdentity, m: XferBeginMsg): void {
    if (m.view.viewnum <= this._view.viewnum) return;
    const namesMe = m.view.backup === this.me;
    const fromItsPrimary = peer.id === m.view.primary && peer.incarnation === m.holders.primary;
    if (!namesMe || !fromItsPrimary) return;
    this.adoptView(m.view, m.holders);
    this.pingNum = m.view.viewnum;
  }

  private roleIn(view: View, holders: ViewHolders | null): Role {
    if (!holders) return 'idle';
    if (view.primary === this.me && holders.primary === this.incarnation) return 'primary';
    // The backup slot is NOT tied to my incarnation. A backup that restarted before the
    // primary's transfer reached it must still be able to take that transfer: otherwise
    // the primary could never acknowledge the view and, by SPEC §2.3, the view service
    // could never leave it (a permanent stall). Taking it is safe: the transfer gives this
    // process the whole state before it acknowledges any forward, and the view service
    // already counts the old incarnation as dead, so it never promotes this one from it.
    if (view.backup === this.me) return 'backup';
    return 'idle';
  }

  private adoptView(view: View, holders: ViewHolders | null): void {
    const prev = this._role;
    this._view = view;
    this.holders = holders;
    this._role = this.roleIn(view, holders);
    if (this.staging && this.staging.viewnum !== view.viewnum) this.staging = null;
    this.log('info', `view ${view.viewnum}: ${this._role}`, { view, was: prev });
    if (prev === 'primary' && this._role !== 'primary') this.stepDown();
    if (this._role === 'primary') this.enterPrimaryView(prev);
  }

  // ───────────────────────────── primary ─────────────────────────────

  private stepPrimary(input: Exclude<ReplicaInput, { kind: 'view' }>): void {
    switch (input.kind) {
      case 'clientOp': return this.order(input.conn, input.req, input.raw);
      case 'watch': return this.registerWatch(input.conn, input.msg);
      case 'flush': return this.flush();
      case 'pump': return this.pump();
      case 'backupLinkUp': return this.onLinkUp();
      case 'backupLinkDown': return;
      case 'fromBackup': return this.onFromBackup(input.msg);
      case 'fromPrimary': return this.reject(input.msg, `${this.me} is the primary of view ${this._view.viewnum}`);
    }
  }

  /** A view where I am primary: (re)start the transfer, or complete everything if there is no backup. */
  private enterPrimaryView(prev: Role): void {
    if (prev !== 'primary') {
      this.pending = [];
      this.head = 0;
      this.pendingMem = 0;
      this.sentUpTo = this.ackedIndex = this._store.index;
    }
    const target = this._view.backup;
    if (target !== this._backupTarget) {
      this._backupTarget = target;
      this.linkUp = false;
    }
    if (!target) {
      this.setXfer({ state: 'none' });
      this.sentUpTo = this.ackedIndex = this._store.index;
      this.pingNum = this._view.viewnum;
      this.completeUpTo(this._store.index);
      return;
    }
    // A new view, even with the same backup, gets a transfer: views can be skipped, so
    // "same backup as before" does not prove it has the state. The snapshot is taken now,
    // not when the link is up: the ops ordered meanwhile are after it, forwarded and
    // answered as soon as the link is up, instead of waiting for the whole transfer.
    this.openSnapshot();
    if (this.linkUp) this.beginTransfer();
  }

  /**
   * No longer primary: every waiting request is answered NOT_PRIMARY, and every watch
   * (pending or active) ends with a NOT_PRIMARY error; clients retry at the new primary.
   */
  private stepDown(): void {
    for (let i = this.head; i < this.pending.length; i++) {
      const p = this.pending[i];
      if (!p.watch) this.effects.push({ kind: 'reply', conn: p.conn, msg: notPrimary(p.req.seq, this._view) });
    }
    for (const w of this.watches.clear()) this.effects.push({ kind: 'push', conn: w.conn, msg: watchNotPrimary(w.id, this._view) });
    this.pending = [];
    this.head = 0;
    this.pendingMem = 0;
    this.setXfer({ state: 'none' });
    this._backupTarget = null;
    this.linkUp = false;
  }

  private order(conn: ConnId, req: ReqMsg, raw?: string): void {
    const revision = this._store.revision;
    const res = toRes(req.seq, this._store.apply(req));
    const event = this._store.revision > revision ? this._store.lastWrite : null;
    if (this.xfer.state === 'none') {
      this.sentUpTo = this.ackedIndex = this._store.index;
      this.effects.push({ kind: 'reply', conn, msg: res });
      if (event) this.publish(event);
      return;
    }
    this.pending.push(raw === undefined ? { index: this._store.index, conn, req, res, event } : { index: this._store.index, conn, req, raw, res, event });
    this.pendingMem += approxBytes(req) + (raw === undefined ? 0 : raw.length);
  }

  /**
   * A watch is ordered like a read: it takes a log slot, its replay is what the store holds
   * at that slot, and both go out only once the slot is committed (completeUpTo), i.e. once
   * the backup has proved this replica is still the primary.
   */
  private registerWatch(conn: ConnId, msg: WatchMsg): void {
    const w = this.watches.register(conn, msg.id, msg.pattern);
    if (!('active' in w)) {
      this.effects.push({ kind: 'push', conn, msg: w });
      return;
    }
    this._store.apply(WATCH_MARK);
    const watch = { w, batch: replayBatch(this._store, w, msg.from) };
    if (this.xfer.state === 'none') {
      this.sentUpTo = this.ackedIndex = this._store.index;
      this.startWatch(watch);
      return;
    }
    this.pending.push({ index: this._store.index, conn, req: WATCH_MARK, res: null, watch });
    this.pendingMem += approxBytes(WATCH_MARK);
  }

  /** The registration is committed: send its replay and `synced`, and make it live. */
  private startWatch({ w, batch }: { w: Watch; batch: WatchPush[] }): void {
    if (!this.watches.activate(w)) return; // replaced or unwatched meanwhile
    for (const msg of batch) this.effects.push({ kind: 'push', conn: w.conn, msg });
  }

  /** A committed write: its event to every active watch it matches. */
  private publish(e: WriteEvent): void {
    for (const w of this.watches.matching(e.key)) this.effects.push({ kind: 'push', conn: w.conn, msg: eventMsg(w, e) });
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
    const x = this.xfer;
    return this.linkUp && ((x.state === 'streaming' && x.begun) || x.state === 'sent' || x.state === 'acked');
  }

  /**
   * One fwd frame with every unsent op (split only to stay under the message limit). During
   * a streaming transfer the keys those ops pulled ahead go first.
   */
  private flush(): void {
    if (!this.canForward()) return;
    if (this.xfer.state === 'streaming') this.sendChunks(this.xfer, this.xfer.cursor.takePulled(this.chunkBytes));
    const budget = this.limits.maxMessageBytes - FWD_OVERHEAD;
    const viewnum = this._view.viewnum;
    let i = this.head + Math.max(0, this.sentUpTo + 1 - (this.pending[this.head]?.index ?? 0));
    while (i < this.pending.length) {
      const ops: ReqMsg[] = [];
      const texts: string[] = [];
      const index = this.pending[i].index;
      let bytes = 0;
      for (; i < this.pending.length; i++) {
        const p = this.pending[i];
        const n = p.raw === undefined ? reqBytes(p.req) : 16 + utf8Length(p.raw);
        if (ops.length > 0 && bytes + n > budget) break;
        ops.push(p.req);
        texts.push(p.raw ?? JSON.stringify(p.req));
        bytes += n;
      }
      // The frame is built from the clients' own frames (same JSON as encode(msg), field order aside).
      const text = `{"type":"fwd","viewnum":${viewnum},"index":${index},"ops":[${texts.join(',')}]}`;
      this.effects.push({ kind: 'toBackup', msg: { type: 'fwd', viewnum, index, ops }, text });
      this.sentUpTo = index + ops.length - 1;
    }
  }

  private onLinkUp(): void {
    const x = this.xfer;
    if (x.state === 'streaming' && !x.begun) {
      this.beginTransfer();
    } else if (x.state === 'streaming' || x.state === 'sent') {
      this.openSnapshot(); // a fresh transfer on a fresh link, at the current index
      this.beginTransfer();
    } else if (this.xfer.state === 'acked') {
      this.sentUpTo = this.ackedIndex; // resend everything unacknowledged on the next flush
    }
  }

  /**
   * Take the snapshot of the state as of the current index: the at-most-once table and the
   * history now, the data through a copy-on-write cursor (see the top). Sent by beginTransfer.
   */
  private openSnapshot(): void {
    const cursor = this._store.openTransfer();
    const index = this._store.index;
    this.setXfer({ state: 'streaming', index, revision: this._store.revision, cursor, meta: cursor.meta(this.chunkBytes), begun: false, sent: 0, acked: 0 });
    this.sentUpTo = index;
  }

  /** The link is up: xfer-begin and the meta part now, the data chunk by chunk (`pump`). */
  private beginTransfer(): void {
    const x = this.xfer;
    if (x.state !== 'streaming' || x.begun) return;
    const view = this._view;
    x.begun = true;
    this.effects.push({ kind: 'toBackup', msg: { type: 'xfer-begin', view, holders: this.holders as ViewHolders, index: x.index, revision: x.revision } });
    this.sendChunks(x, x.meta);
    x.meta = [];
    this.log('info', `state transfer to ${view.backup} for view ${view.viewnum}`, { index: x.index, keys: this._store.size });
    this.pump();
  }

  /** The next chunk of the data (within the window); xfer-end once every key is sent. */
  private pump(): void {
    const x = this.xfer;
    if (x.state !== 'streaming' || !x.begun || !this.linkUp) return;
    while (x.sent - x.acked < TRANSFER_WINDOW) {
      const chunks = x.cursor.next(this.chunkBytes);
      this.sendChunks(x, chunks);
      if (x.cursor.done) {
        this.sendChunks(x, x.cursor.takePulled(this.chunkBytes));
        this.sendChunks(x, x.cursor.historyChunks(this.chunkBytes));
        this.effects.push({ kind: 'toBackup', msg: { type: 'xfer-end', viewnum: this._view.viewnum } });
        this.setXfer({ state: 'sent', index: x.index });
        this.log('info', `state transfer to ${this._view.backup} sent`, { index: x.index, chunks: x.sent, pulledAhead: x.cursor.handledCount });
        return;
      }
      if (chunks.length > 0) return; // one chunk per turn: clients are served between chunks
    }
  }

  private sendChunks(x: Extract<Transfer, { state: 'streaming' }>, chunks: SnapshotChunk[]): void {
    const viewnum = this._view.viewnum;
    for (const c of chunks) {
      const msg: XferDataMsg = { type: 'xfer-data', viewnum, data: c.data, dedup: c.dedup };
      if (c.events) msg.events = c.events;
      this.effects.push({ kind: 'toBackup', msg });
      x.sent++;
    }
  }

  private onFromBackup(m: FromBackupMsg): void {
    const v = this._view.viewnum;
    switch (m.type) {
      case 'chunkack':
        if (m.viewnum === v && this.xfer.state === 'streaming' && m.n <= this.xfer.sent) this.xfer.acked = Math.max(this.xfer.acked, m.n);
        return;
      case 'xferack':
        // The backup's index covers the snapshot and every fwd it applied during the transfer.
        if (m.viewnum !== v || this.xfer.state !== 'sent' || m.index < this.xfer.index || m.index > this._store.index) {
          this.log('debug', 'stale xferack ignored', { msg: m });
          return;
        }
        this.setXfer({ state: 'acked', index: this.xfer.index });
        this.ackedIndex = Math.max(this.ackedIndex, m.index);
        this.pingNum = v; // now the view may be acknowledged to the view service
        this.log('info', `backup ${this._view.backup} installed view ${v}`, { index: m.index });
        this.completeUpTo(this.ackedIndex);
        return;
      case 'fwdack':
        if (m.viewnum !== v || !this.canForwardState()) return;
        if (m.index > this.ackedIndex) {
          this.ackedIndex = Math.min(m.index, this._store.index);
          this.completeUpTo(this.ackedIndex);
        }
        return;
      case 'reject':
        return this.onReject(m);
    }
  }

  private onReject(m: RejectMsg): void {
    if (m.view.viewnum <= this._view.viewnum) {
      // The backup could not take what was sent: frames lost on a link that stayed up (a
      // gap), a backup that restarted and has no transfer installed, one that had not
      // learned the view. Keep every request; start over on a fresh link with a fresh
      // transfer, whose xferack covers them all. Without this a link that silently lost
      // frames would stall the primary until the view changed (found by `npm run chaos`,
      // a blackhole on primary → backup). Rejects from the old socket that arrive before
      // the new link is up are ignored, and the link's backoff bounds how often this runs.
      this.log('warn', `backup rejected: ${m.reason}`, { backupView: m.view, view: this._view });
      if (this.linkUp && this._view.backup !== null) {
        this.linkUp = false;
        this.openSnapshot();
        this.effects.push({ kind: 'relinkBackup', reason: m.reason });
      }
      return;
    }
    if (m.view.primary === this.me) {
      // A newer view that names me primary: the view service will tell me (with holders).
      this.log('info', `backup knows newer view ${m.view.viewnum} naming me primary; waiting for the view service`, { reason: m.reason });
      return;
    }
    this.log('warn', `replaced: backup knows view ${m.view.viewnum}`, { view: m.view, reason: m.reason });
    this.adoptView(m.view, null);
  }

  /** Reply to every waiting request with index ≤ upTo, in order. */
  private completeUpTo(upTo: number): void {
    while (this.head < this.pending.length && this.pending[this.head].index <= upTo) {
      const p = this.pending[this.head++];
      this.pendingMem -= approxBytes(p.req) + (p.raw === undefined ? 0 : p.raw.length);
      if (p.watch) this.startWatch(p.watch);
      if (p.res) this.effects.push({ kind: 'reply', conn: p.conn, msg: p.res });
      if (p.event) this.publish(p.event);
    }
    if (this.head === this.pending.length) {
      this.pending = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.pending.length) {
      this.pending = this.pending.slice(this.head);
      this.head = 0;
    }
  }

  // ───────────────────────────── backup ─────────────────────────────

  private stepBackup(input: Exclude<ReplicaInput, { kind: 'view' }>): void {
    switch (input.kind) {
      case 'clientOp': return this.refuse(input.conn, input.req);
      case 'watch': return this.refuseWatch(input.conn, input.msg);
      case 'fromPrimary': return this.onFromPrimary(input.peer, input.msg);
      default: return; // flush, link events and backup frames mean nothing to a backup
    }
  }

  private isMyPrimary(peer: PeerIdentity): boolean {
    return peer.id === this._view.primary && this.holders !== null && peer.incarnation === this.holders.primary;
  }

  private onFromPrimary(peer: PeerIdentity, m: FromPrimaryMsg): void {
    const v = this._view.viewnum;
    const viewnum = m.type === 'xfer-begin' ? m.view.viewnum : m.viewnum;
    if (viewnum !== v) return this.reject(m, `${m.type} for view ${viewnum}, but my view is ${v}`);
    if (!this.isMyPrimary(peer)) return this.reject(m, `${peer.id} is not the primary of view ${v}`);
    switch (m.type) {
      case 'xfer-begin': {
        // The state is built in a staging store as the chunks arrive (and the fwds behind
        // them are applied to it); it replaces mine at xfer-end. Mine counts for nothing
        // until then: a backup never serves, and acknowledges only what the staging applied.
        const store = this._store.emptyLike();
        store.beginInstall({ index: m.index, revision: m.revision });
        this.staging = { viewnum: v, peer, store, chunks: 0 };
        return;
      }
      case 'xfer-data':
      case 'xfer-end': {
        const s = this.staging;
        if (!s || s.peer.incarnation !== peer.incarnation) return this.reject(m, `${m.type} without xfer-begin`);
        if (m.type === 'xfer-data') {
          s.store.receive(m.events ? { data: m.data, dedup: m.dedup, events: m.events } : { data: m.data, dedup: m.dedup });
          this.effects.push({ kind: 'toPrimary', msg: { type: 'chunkack', viewnum: v, n: ++s.chunks } });
          return;
        }
        s.store.finishInstall();
        this._store = s.store;
        this.staging = null;
        this.installed = v;
        this.log('info', `installed state transfer for view ${v}`, { index: s.store.index, keys: s.store.size, chunks: s.chunks });
        this.effects.push({ kind: 'toPrimary', msg: { type: 'xferack', viewnum: v, index: s.store.index } });
        return;
      }
      case 'fwd':
        return this.onForward(peer, m);
    }
  }

  /**
   * Apply forwarded ops in index order; ops already applied (a resend) are skipped. During
   * a transfer they go to the staging store, behind the snapshot's meta part: the primary
   * sent every key they touch (as of the snapshot) before them.
   */
  private onForward(peer: PeerIdentity, m: FwdMsg): void {
    const s = this.staging;
    let store: KvState;
    if (s !== null && s.viewnum === this._view.viewnum && s.peer.incarnation === peer.incarnation) {
      store = s.store; // a transfer under way (perhaps a fresh one over an installed one) takes them
    } else if (this.installed === this._view.viewnum) store = this._store;
    else return this.reject(m, `no state transfer installed for view ${this._view.viewnum}`);
    const last = store.index;
    if (m.index > last + 1) return this.reject(m, `fwd starts at index ${m.index}, expected at most ${last + 1}`);
    for (let i = Math.max(0, last + 1 - m.index); i < m.ops.length; i++) store.apply(m.ops[i]);
    this.effects.push({ kind: 'toPrimary', msg: { type: 'fwdack', viewnum: this._view.viewnum, index: store.index } });
  }

  // ───────────────────────────── idle ─────────────────────────────

  private stepIdle(input: Exclude<ReplicaInput, { kind: 'view' }>): void {
    switch (input.kind) {
      case 'clientOp': return this.refuse(input.conn, input.req);
      case 'watch': return this.refuseWatch(input.conn, input.msg);
      case 'fromPrimary': return this.reject(input.msg, `${this.me} is not a backup in view ${this._view.viewnum}`);
      default: return;
    }
  }

  // ───────────────────────────── shared ─────────────────────────────

  private refuse(conn: ConnId, req: ReqMsg): void {
    this.effects.push({ kind: 'reply', conn, msg: notPrimary(req.seq, this._view) });
  }

  private refuseWatch(conn: ConnId, msg: WatchMsg): void {
    this.effects.push({ kind: 'push', conn, msg: watchNotPrimary(msg.id, this._view) });
  }

  private reject(m: FromPrimaryMsg, reason: string): void {
    this.log('debug', `rejected ${m.type}: ${reason}`);
    this.effects.push({ kind: 'toPrimary', msg: { type: 'reject', view: this._view, reason } });
  }

  private log(level: 'info' | 'warn' | 'debug', msg: string, data?: object): void {
    this.effects.push(data ? { kind: 'log', level, msg, data } : { kind: 'log', level, msg });
  }
}

/** What a waiting request holds, roughly: O(1), unlike reqBytes (which walks the strings). */
function approxBytes(r: ReqMsg): number {
  return 128 + r.client.length + r.key.length + (r.value === undefined ? 0 : r.value.length);
}

/** Upper bound of a req's JSON size in a fwd frame, without encoding it. */
function reqBytes(r: ReqMsg): number {
  return 128 + jsonStringBytes(r.client) + jsonStringBytes(r.key) + (r.value === undefined ? 0 : jsonStringBytes(r.value));
}
