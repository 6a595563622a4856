/**
 * What goes into the replica's core and what comes out of it (STYLE §1, etcd raft's
 * `Step`/`Tick` in and one `Ready` out): the inputs, the effects, the Ready the shell applies
 * after every step, and the small message builders the roles share. Pure types and
 * functions: no timers, no sockets.
 */
import type {
  ReqMsg, ResMsg, StoredResult, XferBeginMsg, XferDataMsg, XferEndMsg, FwdMsg,
  XferAckMsg, ChunkAckMsg, FwdAckMsg, RejectMsg, XferPosMsg, WatchMsg, UnwatchMsg, EventMsg, SyncedMsg, ErrorMsg, PingMsg,
} from '../../common/messages';
import type { View, ViewHolders, ReplicaId } from '../../common/view';
import type { KvState } from './kv-state';
import type { CatchUp, LineageEntry } from './catch-up';

/** The shell's handle of a client connection. */
export type ConnId = number;
/** The shell's handle of an incoming /peer link (a primary's link to me). */
export type PeerLinkId = number;
export type Role = 'primary' | 'backup' | 'idle';
export interface PeerIdentity { id: string; incarnation: string }

export type FromPrimaryMsg = XferBeginMsg | XferDataMsg | XferEndMsg | FwdMsg;
export type FromBackupMsg = XferAckMsg | ChunkAckMsg | FwdAckMsg | RejectMsg | XferPosMsg;

export type ReplicaInput =
  /** A view from the view service (pushed, or the answer to a ping). Views come from nowhere else. */
  | { kind: 'view'; view: View; holders: ViewHolders }
  /**
   * A client's request. `raw`: the frame it was decoded from, if the shell has it; the core
   * only carries it to the fwd effect, whose frame the shell builds from the raw texts
   * (forward-frames.ts). The backup decodes it with the same rules, so it applies exactly `req`.
   */
  | { kind: 'clientOp'; conn: ConnId; req: ReqMsg; raw?: string }
  /** When Ready.flush says so: forward every unsent op. */
  | { kind: 'flush' }
  /** When Ready.pump says so: send the next chunk of a streaming transfer. */
  | { kind: 'pump' }
  /** The shell's link to Ready.backupTarget opened / closed. */
  | { kind: 'backupLinkUp' }
  | { kind: 'backupLinkDown' }
  /** The link to the view service opened / closed (pings go out only while it is up). */
  | { kind: 'vsLinkUp' }
  | { kind: 'vsLinkDown' }
  /**
   * A frame on an incoming /peer link `link` (I am, maybe, the backup). `text`: the frame as
   * received; a durable backup logs a fwd as it came (docs/DURABILITY.md §8), never re-encoded.
   */
  | { kind: 'fromPrimary'; link: PeerLinkId; peer: PeerIdentity; msg: FromPrimaryMsg; text?: string }
  /** Durable (--data-dir): the log is on disk up to op `index` and view `viewnum` (Wal.onDurable). */
  | { kind: 'logged'; index: number; viewnum: number }
  /** Durable: the state a transfer installed (persistState) is on disk as a snapshot at op `index`. */
  | { kind: 'stateLogged'; viewnum: number; index: number }
  /** An incoming /peer link closed: frames held for it are dropped. */
  | { kind: 'peerClosed'; link: PeerLinkId }
  /** A frame on my link to the backup (I am, maybe, the primary). */
  | { kind: 'fromBackup'; msg: FromBackupMsg }
  /** A client registers (or replaces) a watch on its connection. */
  | { kind: 'watch'; conn: ConnId; msg: WatchMsg }
  | { kind: 'unwatch'; conn: ConnId; msg: UnwatchMsg }
  /** A client connection closed: its watches die with it, and its session has one link fewer (SPEC §10). */
  | { kind: 'connClosed'; conn: ConnId }
  /** SPEC §10: `hello {client}` on a client link: the link belongs to that client's session (sessions.ts). */
  | { kind: 'hello'; conn: ConnId; client: string }
  /** SPEC §10: time passes for the expiry rules only (the shell's wake-up at Ready.wakeAt; no ping is due). */
  | { kind: 'time'; now: number }
  /** Graceful shutdown begins: client requests are held from now on (neither ordered nor refused yet). */
  | { kind: 'shutdown' }
  /** Graceful shutdown: the shell sent (or is sending) `leave`; no more pings from now on. */
  | { kind: 'leave' }
  /** Graceful shutdown: the hand-off is over; the held requests (and any later one) get NOT_PRIMARY. */
  | { kind: 'releaseHeld' };

export type ReplicaEffect =
  | { kind: 'reply'; conn: ConnId; msg: ResMsg }
  /**
   * A frame for the backup. For a fwd, `raws[i]` is the client's own frame of `msg.ops[i]`
   * when the shell gave one (undefined otherwise): the shell builds the frame from them.
   */
  | { kind: 'toBackup'; msg: FromPrimaryMsg; raws?: readonly (string | undefined)[] }
  /** Sent back on the /peer link `link`. */
  | { kind: 'toPrimary'; link: PeerLinkId; msg: FromBackupMsg }
  /** Watch traffic to a client: committed events, `synced`, or an error ending a watch. */
  | { kind: 'push'; conn: ConnId; msg: EventMsg | SyncedMsg | ErrorMsg }
  | { kind: 'log'; level: 'info' | 'warn' | 'debug'; msg: string; data?: object }
  /** Drop the backup link and connect again (with the link's backoff): a fresh transfer follows. */
  | { kind: 'relinkBackup'; reason: string }
  /**
   * Stop (`false`) or resume (`true`) reading the /peer link `link`: its frames are held in
   * the core until the view service announces their view (peer-hold.ts).
   */
  | { kind: 'readPeer'; link: PeerLinkId; on: boolean }
  /** Close the /peer link `link` (its held view was never announced, or too much was held). */
  | { kind: 'closePeer'; link: PeerLinkId; code: number; reason: string }
  /**
   * Durable: log these ops. The primary's: the frame is built from `raws` as for toBackup (the
   * same `msg` object, when a toBackup of this turn carries it, is encoded once); the backup's:
   * `text`, the frame as received.
   */
  | { kind: 'persistOps'; msg: FwdMsg; raws?: readonly (string | undefined)[]; text?: string }
  /** Durable: log a view before acting in it (the fence); answered by a `logged` whose viewnum covers it. */
  | { kind: 'persistView'; view: View; holders: ViewHolders }
  /** Durable (backup, xfer-end): write the whole store as a snapshot and restart the log after it; answered by `stateLogged`. */
  | { kind: 'persistState'; viewnum: number; lineage: LineageEntry[] }
  /** Durable: log my lineage list (catch-up.ts) before any op of the new lineage (logged with the view). */
  | { kind: 'persistLineage'; lineage: LineageEntry[] };

/** The ping the core wants sent now: everything but the shell's cluster token. */
export type PingOut = Omit<PingMsg, 'token'>;

/**
 * Everything one step (or tick) asks of the shell, handed over at once (raft's `Ready`). The
 * object and its `effects` array are reused: read them before `advance()`.
 */
export interface ReplicaReady {
  /** Replies, frames, pushes, log lines and link orders, in order. */
  readonly effects: ReplicaEffect[];
  /** A ping to send now, or null. */
  ping: PingOut | null;
  /** The replica the shell keeps one link to (primary of a view with a backup), or null. */
  backupTarget: ReplicaId | null;
  /**
   * When to step `flush`: 'soon' at the end of this callback (nothing in flight: a lone request
   * adds no latency), 'turn' at the end of the event-loop turn (requests arriving meanwhile on
   * every connection join the frame), or 'none'.
   */
  flush: 'none' | 'soon' | 'turn';
  /** Step `pump` at the end of the event-loop turn (the next transfer chunk). */
  pump: boolean;
  /** A state transfer is being received (backup side, between xfer-begin and xfer-end). */
  receivingTransfer: boolean;
  /** Stop reading client sockets: too many requests (or bytes) wait for the backup. */
  pauseClients: boolean;
  /** Nothing ordered is unanswered and, as primary, the view is acknowledged (graceful shutdown may leave). */
  drained: boolean;
  /** SPEC §10: step `{kind: 'time', now}` at this time (ms, the tick's clock; 0: at once), or −1: no need (expiry.ts). */
  wakeAt: number;
}

/** What the roles share with the machine that holds them. */
export interface RoleContext {
  readonly me: ReplicaId;
  readonly view: View;
  readonly holders: ViewHolders | null;
  readonly store: KvState;
  /** Durable (--data-dir): replies and acknowledgements wait for the log (docs/DURABILITY.md §8). */
  readonly durable: boolean;
  /** Durable: the last op index the log has on disk. */
  readonly loggedIndex: number;
  /** Durable: lineages and recent ops, for catch-up by log suffix (catch-up.ts); null otherwise. */
  readonly catchUp: CatchUp | null;
  /** The outbox (Ready.effects). */
  readonly out: ReplicaEffect[];
  log(level: 'info' | 'warn' | 'debug', msg: string, data?: object): void;
}

export function toRes(seq: number, r: StoredResult): ResMsg {
  // (the getEntry and CONFLICT fields only when present: the common replies keep the shape encodeRes writes by hand)
  if (r.ok) {
    if (r.entries !== undefined) return { type: 'res', seq, ok: true, value: null, rev: r.rev, entries: r.entries, more: r.more === true };
    return r.krev === undefined ? { type: 'res', seq, ok: true, value: r.value, rev: r.rev } : { type: 'res', seq, ok: true, value: r.value, rev: r.rev, krev: r.krev };
  }
  return r.revision === undefined
    ? { type: 'res', seq, ok: false, code: r.code, message: r.message }
    : r.key === undefined
      ? { type: 'res', seq, ok: false, code: r.code, message: r.message, revision: r.revision }
      : { type: 'res', seq, ok: false, code: r.code, message: r.message, revision: r.revision, key: r.key };
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
