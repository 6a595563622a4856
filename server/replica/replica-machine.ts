/**
 * The replica's DETERMINISTIC CORE (SPEC §3, docs/PROTOCOL.md §3), in the manner of etcd's
 * raft: inputs go in through `step(input)`, time through `tick(now)` (the shell's only timer,
 * every pingInterval), and after each, `ready()` hands over everything the core wants done
 * (replies, frames, the ping, the backup link's target, when to flush and pump, …) in one
 * reused object, which the shell applies before `advance()`. It imports only from common/ and
 * the other core modules: no timers, no sockets, no node:*, no wall clock.
 *
 * The rules, restated:
 *  - Role comes from the latest view (only higher viewnums are adopted): primary iff the
 *    view names me primary AND the holders name my incarnation; backup iff the view names
 *    me backup (any incarnation of mine: see below); else idle.
 *    Only the primary serves; the others answer NOT_PRIMARY with their view (§3.1).
 *  - Primary (§3.2, §3.4): ordering, forwarding and the streaming transfer: primary-role.ts.
 *  - Backup: installs a transfer only from the primary of its view (with its holder
 *    incarnation) and accepts `fwd` only for that view, from that peer, after the install,
 *    in index order; anything else is rejected with its view (§3.3). A rejection with a
 *    newer view tells the primary it was replaced: its waiting requests get NOT_PRIMARY.
 *  - Idle: keeps whatever state it has, never serves, never acknowledges forwards.
 *  - Watches (issue #4, PROTOCOL §2.1): every replica keeps a bounded history of its writes
 *    (a new primary replays it); only the primary holds watches. A `watch` takes a log slot
 *    like a read; its replay and the events of writes go out when their slot is committed.
 *  - Views come only from the view service: a frame for a view it has not announced yet is
 *    held (peer-hold.ts), never adopted; a backup's reject naming a newer view deposes the
 *    primary (its waiting requests get NOT_PRIMARY with that view) without adopting it.
 *  - Pings (ping-rules.ts): every tick, and at once when the viewnum to acknowledge changes;
 *    at most one viewnum-0 ping in flight; a stalled backup is named in the ping.
 */
import type { ReqMsg, WatchMsg, RejectMsg } from '../../common/messages';
import { VIEW0, NO_HOLDERS } from '../../common/view';
import type { View, ViewHolders, ReplicaId } from '../../common/view';
import type { ReplicaReport } from '../../common/recovery';
import { CloseCodes } from '../../common/errors';
import { DEFAULT_LIMITS, Limits } from '../../common/limits';
import { KvState, StoreBounds, DEFAULT_STORE_BOUNDS } from './kv-state';
import { HistoryBounds, DEFAULT_HISTORY_BOUNDS } from './write-history';
import { WatchRegistry, DEFAULT_MAX_WATCHES_PER_CONN } from './watch-registry';
import { PrimaryRole } from './primary-role';
import { BackupRole } from './backup-role';
import { PingRules } from './ping-rules';
import { PeerHolds, holdMs } from './peer-hold';
import { clientsPaused } from './backpressure';
import { DurableGate } from './durable-gate';
import { CatchUp, counterIds, type LineageEntry } from './catch-up';
import { ShutdownHold } from './shutdown-hold';
import { Expiry, INTERNAL_CONN } from './expiry';
import {
  notPrimary, watchNotPrimary,
  type ConnId, type FromPrimaryMsg, type PeerIdentity, type PeerLinkId, type ReplicaEffect, type ReplicaInput,
  type ReplicaReady, type Role, type RoleContext,
} from './replica-io';

export * from './replica-io';
export { TRANSFER_WINDOW, WATCH_CLIENT } from './primary-role';
export { PAUSE_PENDING, RESUME_PENDING, PAUSE_PENDING_BYTES, RESUME_PENDING_BYTES } from './backpressure';

export interface ReplicaMachineOptions {
  /** My id: the advertised URL. */
  me: ReplicaId;
  /** This process's incarnation (a fresh nanoid per start). */
  incarnation: string;
  /** @default DEFAULT_LIMITS */
  limits?: Limits;
  /** @default DEFAULT_STORE_BOUNDS */
  storeBounds?: StoreBounds;
  /** Target size of a transfer chunk, UTF-8 bytes of JSON. @default 131072 */
  chunkBytes?: number;
  /** How many writes the history keeps for watch replays. @default DEFAULT_HISTORY_BOUNDS (10000 events, 16 MiB) */
  history?: HistoryBounds;
  /** Watches one client connection may hold. @default 1000 */
  maxWatchesPerConn?: number;
  /** The ping interval (SPEC §2.1): suspicion and held-frame timeouts count in it. @default 100 */
  pingIntervalMs?: number;
  /** --data-dir: persist effects, replies and acks wait for `logged`, views are a fence (docs/DURABILITY.md §8). @default false */
  durable?: boolean;
  /** Durable: a fresh lineage id (catch-up.ts; the shell's are random). @default `${incarnation}.${n}` (tests) */
  newLineage?: () => string;
  cold?: boolean; // durable, --standby cold: as backup, log forwards and apply them only at a view change (backup-role.ts)
}

/** Default chunk size of a streaming transfer: small enough to encode in about a millisecond. */
const TRANSFER_CHUNK_BYTES = 128 * 1024;

export class ReplicaMachine implements RoleContext {
  readonly me: ReplicaId;
  readonly incarnation: string;
  readonly durable: boolean;
  readonly catchUp: CatchUp | null; // durable: catch-up by log suffix (catch-up.ts)
  private _store: KvState;
  /** Durable: what the log has on disk, and a view waiting to be (the fence). */
  private logged = new DurableGate();
  private readonly watches: WatchRegistry;
  private readonly primary: PrimaryRole;
  private readonly backup: BackupRole;
  private readonly pings: PingRules;
  private readonly holds = new PeerHolds();
  private readonly holdMs: number;
  private readonly rd: ReplicaReady = {
    effects: [], ping: null, backupTarget: null, flush: 'none', pump: false, receivingTransfer: false, pauseClients: false, drained: true, wakeAt: -1,
  };

  private _view: View = VIEW0;
  private _holders: ViewHolders = NO_HOLDERS;
  private _role: Role = 'idle';
  /** The viewnum pings acknowledge: a primary withholds a view until its backup has the state (SPEC §3.4). */
  private pingNum = 0;
  /** A newer view a backup's reject named (I was deposed): a hint for the clients I refuse, never adopted. */
  private newerView: View | null = null;
  private readonly shutdown = new ShutdownHold(); // graceful shutdown: the requests held meanwhile
  private readonly expiry = new Expiry(this, (req) => this.primary.order(INTERNAL_CONN, req)); // SPEC §10: ttlMs, ephemeral keys
  /** The time of the last tick (−1: none yet; time-based rules start counting at the first). */
  private now = -1;

  constructor(o: ReplicaMachineOptions) {
    this.me = o.me;
    this.incarnation = o.incarnation;
    this.durable = o.durable ?? false;
    this.catchUp = this.durable ? new CatchUp(o.newLineage ?? counterIds(o.incarnation)) : null;
    const limits = o.limits ?? DEFAULT_LIMITS;
    this._store = new KvState(limits, o.storeBounds ?? DEFAULT_STORE_BOUNDS, o.history ?? DEFAULT_HISTORY_BOUNDS);
    this.watches = new WatchRegistry(o.maxWatchesPerConn ?? DEFAULT_MAX_WATCHES_PER_CONN);
    this.primary = new PrimaryRole(this, this.watches, limits, o.chunkBytes ?? TRANSFER_CHUNK_BYTES, () => { this.pingNum = this._view.viewnum; });
    // Durable: the log restarts at the snapshot of the installed state (stateLogged).
    this.backup = new BackupRole(this, (store) => { this._store = store; if (this.durable) this.logged.index = 0; }, this.durable && o.cold === true);
    const pingIntervalMs = o.pingIntervalMs ?? 100;
    this.pings = new PingRules(pingIntervalMs);
    this.holdMs = holdMs(pingIntervalMs);
  }

  get role(): Role { return this._role; }
  get view(): View { return this._view; }
  get holders(): ViewHolders { return this._holders; }
  /** The state (a backup swaps in the store its transfer built, at xfer-end). */
  get store(): KvState { return this._store; }
  get loggedIndex(): number { return this.logged.index; } // durable: the last op index on disk
  get out(): ReplicaEffect[] { return this.rd.effects; } // the outbox: Ready.effects
  /** The viewnum pings acknowledge (status and metrics; the ping itself comes in Ready). */
  get pingViewnum(): number { return this.pingNum; }
  /** The replica the shell keeps one /peer link to (status; Ready.backupTarget is the order). */
  get backupTarget(): ReplicaId | null { return this.primary.backupTarget; }
  /** Client requests held by a graceful shutdown. */
  heldCount(): number { return this.shutdown.count; }
  /** Requests ordered but not yet answered. */
  pendingCount(): number { return this._role === 'primary' ? this.primary.pendingCount : 0; }
  /**
   * About how much memory the unanswered requests hold (keys and values, UTF-16 units, plus
   * a fixed cost each): 100 000 of them may be 100 GB when each carries 1 MiB, so this is
   * bounded too (Ready.pauseClients).
   */
  pendingBytes(): number { return this._role === 'primary' ? this.primary.pendingBytes : 0; }
  /** Watches registered on client connections (pending or active). */
  watchCount(): number { return this.watches.size; }
  /**
   * What the pings report beside their viewnum (docs/VIEW-SERVICE-RESTART.md): the view I
   * know with its holders, my role, and whether my state counts for that view (its primary,
   * or its backup with that view's transfer installed). A view service that lost its state
   * learns the current view from these reports.
   */
  report(): ReplicaReport {
    const role = this._role;
    const initialised = role === 'primary' || (role === 'backup' && this.backup.installed === this._view.viewnum);
    return { view: this._view, holders: this._holders, role, initialised };
  }

  // ───────────────────────────── inputs ─────────────────────────────
  step(input: ReplicaInput): void {
    switch (input.kind) {
      case 'clientOp':
        if (this.shutdown.active) { if (!this.shutdown.hold(input)) this.refuse(input.conn, input.req); }
        else if (this._role === 'primary') this.primary.order(input.conn, input.req, input.raw);
        else this.refuse(input.conn, input.req);
        return;
      case 'flush': if (this._role === 'primary') this.primary.flush(); return;
      case 'pump': if (this._role === 'primary') this.primary.pump(); return;
      case 'fromBackup':
        if (this._role !== 'primary') return;
        if (input.msg.type === 'reject') this.onReject(input.msg);
        else this.primary.fromBackup(input.msg);
        return;
      case 'fromPrimary': return this.onFromPrimary(input.link, input.peer, input.msg, input.text);
      case 'logged': return this.onLogged(input.index, input.viewnum);
      case 'stateLogged':
        this.logged.index = input.index; // the log restarted at this snapshot
        return this.backup.onStateLogged(input.viewnum);
      case 'view': return this.onViewFromService(input.view, input.holders);
      case 'backupLinkUp': case 'backupLinkDown':
        if (this._role === 'primary') this.primary.setLink(input.kind === 'backupLinkUp');
        return;
      case 'vsLinkUp': return this.pings.linkUp();
      case 'vsLinkDown': return this.pings.linkDown();
      case 'shutdown': return this.shutdown.begin();
      case 'leave': return this.pings.leave();
      case 'releaseHeld':
        // Still primary: no successor (no backup) or no answer; refuse, never execute. Clients go to the new primary.
        for (const h of this.shutdown.release()) this.refuse(h.conn, h.req);
        return;
      case 'peerClosed': return this.holds.drop(input.link);
      case 'watch':
        if (this._role === 'primary') this.primary.registerWatch(input.conn, input.msg);
        else this.refuseWatch(input.conn, input.msg);
        return;
      case 'unwatch': return this.watches.unregister(input.conn, input.msg.id);
      case 'connClosed': this.expiry.closed(input.conn); return this.watches.dropConn(input.conn);
      case 'hello': return this.expiry.hello(input.conn, input.client);
      case 'time': return this.expiry.time(input.now);
    }
  }

  /** Time passes (every pingInterval): a ping is due; held frames whose view never came are dropped. */
  tick(now: number): void {
    this.now = now;
    this.pings.tick();
    this.expiry.time(now);
    if (this.holds.size === 0) return;
    for (const { link, viewnum, peer } of this.holds.expire(now, this.holdMs)) {
      this.log('warn', 'xfer-begin for a view the view service has not announced; closing the peer link with 1013', { peer, viewnum, myView: this._view.viewnum });
      this.out.push({ kind: 'readPeer', link, on: true }); // or the close handshake could not complete
      this.out.push({ kind: 'closePeer', link, code: CloseCodes.TryAgainLater, reason: 'view not announced' });
    }
  }

  /** Everything the last steps want done (see ReplicaReady). Apply it, then call advance(). */
  ready(): ReplicaReady {
    const rd = this.rd;
    const p = this.primary;
    const primary = this._role === 'primary';
    rd.backupTarget = p.backupTarget;
    rd.flush = primary && p.wantsFlush ? (p.inFlight === 0 ? 'soon' : 'turn') : 'none';
    rd.pump = primary && p.wantsPump;
    rd.receivingTransfer = this.backup.receiving;
    const n = this.pendingCount();
    rd.drained = n === 0 && (!primary || this.pingNum === this._view.viewnum);
    if (n !== 0 || rd.pauseClients) this.applyBackpressure(n, this.pendingBytes());
    if (rd.ping === null) this.nextPing();
    rd.wakeAt = this.expiry.wakeAt();
    return rd;
  }

  /** The shell applied the last Ready: its effects and ping are consumed. */
  advance(): void {
    this.rd.effects.length = 0;
    this.rd.ping = null;
  }

  private applyBackpressure(n: number, bytes: number): void {
    const paused = clientsPaused(this.rd.pauseClients, n, bytes);
    if (paused === this.rd.pauseClients) return;
    this.rd.pauseClients = paused;
    this.log(paused ? 'warn' : 'info', paused ? 'too many requests waiting for the backup: pausing client reads' : 'resuming client reads', { pending: n, pendingBytes: bytes });
  }

  private nextPing(): void {
    const viewnum = this.pings.next(this.pingNum);
    if (viewnum < 0) return;
    const p = this.primary;
    const primary = this._role === 'primary';
    const suspect = this.pings.suspect({
      backup: primary ? this._view.backup : null, viewnum: this._view.viewnum, synced: p.synced,
      ackedIndex: p.ackedIndex, pending: p.pendingCount, linkUp: p.linkUp,
    }, this.now);
    // With the report (view, holders, role, initialised) a restarted view service can learn the view.
    this.rd.ping = { type: 'ping', id: this.me, incarnation: this.incarnation, viewnum, ...this.report() };
    if (suspect !== null) {
      this.rd.ping.suspect = suspect;
      this.log('warn', 'backup is not applying forwarded operations: asking the view service to replace it', { backup: suspect, stalledMs: this.pings.stalledMs(this.now) });
    }
  }

  // ───────────────────────────── views ─────────────────────────────
  private onViewFromService(view: View, holders: ViewHolders): void {
    this.pings.answered();
    if (view.viewnum <= this._view.viewnum) {
      if (this.holds.size !== 0) this.releaseHeld();
      return;
    }
    if (!this.durable) return this.enter(view, holders);
    // Views are a fence: entered only once on disk, so a replica restarted from its data never
    // goes back to a view it had left. Until then, as if it had not arrived (frames held, pings old).
    if (this.logged.fence(view, holders)) this.out.push({ kind: 'persistView', view, holders });
  }

  private enter(view: View, holders: ViewHolders): void {
    this.adoptView(view, holders);
    if (this._role !== 'primary' || !view.backup) this.pingNum = view.viewnum;
    if (this.holds.size !== 0) this.releaseHeld();
  }

  /** Durable: the log advanced; a fenced view now on disk is entered; replies and fwdacks catch up. */
  private onLogged(index: number, viewnum: number): void {
    const f = this.logged.logged(index, viewnum);
    if (f !== null) this.enter(f.view, f.holders);
    if (this._role === 'primary') this.primary.commit();
    else if (this._role === 'backup') this.backup.onLogged();
  }

  /** Restarted from a data dir: `store` holds the recovered state, on disk up to `index`; `view` is the last adopted, with my lineage list. */
  resume(view: View, holders: ViewHolders, index: number, lineage: readonly LineageEntry[] = []): void {
    this.catchUp?.adopt(lineage);
    this._view = view;
    this._holders = holders;
    this._role = this.roleIn(view, holders);
    this.logged.logged(index, view.viewnum);
    if (this._role === 'backup') this.backup.resume(view.viewnum);
    if (this._role === 'primary') this.primary.enterView(false);
    // A primary with a backup acknowledges its view only after the backup has the state again.
    this.pingNum = this._role === 'primary' && view.backup !== null ? view.viewnum - 1 : view.viewnum;
  }

  private roleIn(view: View, holders: ViewHolders): Role {
    if (view.primary === this.me && holders.primary === this.incarnation) return 'primary';
    // The backup slot is NOT tied to my incarnation: a backup restarted before the primary's
    // transfer reached it must take that transfer, or the view could never be acknowledged
    // (SPEC §2.3). Safe: it gets the whole state before acknowledging any forward, and the
    // view service, counting the old incarnation dead, never promotes this one from it.
    if (view.backup === this.me) return 'backup';
    return 'idle';
  }

  private adoptView(view: View, holders: ViewHolders): void {
    const prev = this._role;
    this._view = view;
    this._holders = holders;
    this.newerView = null;
    this._role = this.roleIn(view, holders);
    this.backup.onView(view.viewnum);
    this.log('info', `view ${view.viewnum}: ${this._role}`, { view, was: prev });
    if (prev === 'primary' && this._role !== 'primary') this.primary.stepDown();
    if (this._role === 'primary') this.primary.enterView(prev === 'primary');
  }

  /** The frames held for views I now know, stepped in order; their links are read again. */
  private releaseHeld(): void {
    for (const [link, frames] of this.holds.release(this._view.viewnum)) {
      this.out.push({ kind: 'readPeer', link, on: true });
      for (const f of frames) this.dispatchFromPrimary(link, f.peer, f.msg);
    }
  }

  // ───────────────────────────── peers ─────────────────────────────
  /** A frame on a /peer link: held while its view is unannounced (peer-hold.ts), else stepped. */
  private onFromPrimary(link: PeerLinkId, peer: PeerIdentity, msg: FromPrimaryMsg, text?: string): void {
    if (this.holds.isHeld(link)) {
      if (!this.holds.push(link, { peer, msg })) this.dropHeld(link, 'too many frames held for an unannounced view');
      return;
    }
    if (msg.type === 'xfer-begin' && msg.view.viewnum > this._view.viewnum) {
      if (!this.holds.start(link, msg.view.viewnum, this.now, { peer, msg })) {
        this.log('warn', 'too many peer links wait for unannounced views; closing with 1013', { peer, viewnum: msg.view.viewnum });
        this.out.push({ kind: 'closePeer', link, code: CloseCodes.TryAgainLater, reason: 'view not announced' });
        return;
      }
      this.out.push({ kind: 'readPeer', link, on: false });
      return;
    }
    this.dispatchFromPrimary(link, peer, msg, text);
  }

  private dropHeld(link: PeerLinkId, why: string): void {
    this.holds.drop(link);
    this.log('warn', `${why}; closing the peer link with 1013`, { link });
    this.out.push({ kind: 'readPeer', link, on: true });
    this.out.push({ kind: 'closePeer', link, code: CloseCodes.TryAgainLater, reason: 'view not announced' });
  }

  private dispatchFromPrimary(link: PeerLinkId, peer: PeerIdentity, msg: FromPrimaryMsg, text?: string): void {
    if (this._role === 'backup') return this.backup.fromPrimary(link, peer, msg, text);
    const why = this._role === 'primary' ? `${this.me} is the primary of view ${this._view.viewnum}` : `${this.me} is not a backup in view ${this._view.viewnum}`;
    this.backup.reject(link, msg, why);
  }

  private onReject(m: RejectMsg): void {
    if (m.view.viewnum <= this._view.viewnum) return this.primary.onStaleReject(m);
    if (m.view.primary === this.me) {
      // A newer view that names me primary: the view service will tell me (with holders).
      this.log('info', `backup knows newer view ${m.view.viewnum} naming me primary; waiting for the view service`, { reason: m.reason });
      return;
    }
    // Replaced (SPEC §3.3: the sender learns it is no longer primary). The view is not
    // adopted (views come from the view service only): I step down within my view, and
    // the clients I answer are pointed at the newer view until the view service's arrives.
    this.log('warn', `replaced: backup knows view ${m.view.viewnum}`, { view: m.view, reason: m.reason });
    this.newerView = m.view;
    this._role = 'idle';
    this.primary.stepDown(m.view);
  }

  // ───────────────────────────── shared ─────────────────────────────
  private refuse(conn: ConnId, req: ReqMsg): void {
    this.out.push({ kind: 'reply', conn, msg: notPrimary(req.seq, this.newerView ?? this._view) });
  }

  private refuseWatch(conn: ConnId, msg: WatchMsg): void {
    this.out.push({ kind: 'push', conn, msg: watchNotPrimary(msg.id, this.newerView ?? this._view) });
  }

  log(level: 'info' | 'warn' | 'debug', msg: string, data?: object): void {
    this.out.push(data ? { kind: 'log', level, msg, data } : { kind: 'log', level, msg });
  }
}
