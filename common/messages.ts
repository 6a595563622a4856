/**
 * Every wire message of Understudy, as one discriminated union per link (STYLE §5/§6).
 * JSON text frames. The view-service messages are fixed by SPEC §6; replica↔replica and
 * client↔primary are ours and are written out in docs/PROTOCOL.md.
 *
 *   replica ──ping──▶ view service ──view──▶ replicas, subscribers
 *   client ──subscribe──▶ view service
 *   client ──req──▶ primary ──fwd (batched, pipelined)──▶ backup
 *   client ◀──res── primary ◀──fwdack (cumulative)── backup
 *   primary ──xfer-begin, xfer-data…, xfer-end──▶ new backup ──xferack──▶ primary
 *   client ──watch / unwatch──▶ primary ──event…, synced──▶ client   (committed writes only)
 */
import type { View, ViewHolders, ReplicaId } from './view';
import type { ReplyErrorCode } from './errors';

// ───────────────────────── view service (SPEC §6) ─────────────────────────

/**
 * replica → VS, every pingInterval. `view`, `holders`, `role` and `initialised` are the
 * replica's report (common/recovery.ts ReplicaReport): optional, all or none; a SPEC §6 ping
 * without them works as before. A view service that lost its state learns the view from them.
 */
export interface PingMsg {
  type: 'ping';
  id: ReplicaId;
  incarnation: string;
  viewnum: number;
  token?: string;
  /** The latest view the replica knows. */
  view?: View;
  /** That view's holders as the replica learned them; null: learned without them. */
  holders?: ViewHolders | null;
  role?: 'primary' | 'backup' | 'idle';
  /** Holds state that counts for `view` (its primary, or its backup with the transfer installed). */
  initialised?: boolean;
  /**
   * Sent by a primary whose backup has not applied anything it forwarded for a while (the
   * link is down, or acknowledgements stopped): replace that backup. Believed only from the
   * primary holder of the current, acknowledged view (docs/PROTOCOL.md §1).
   */
  suspect?: ReplicaId;
  /** At most once a second: load and replication progress for the dashboard (ReplicaStats). */
  stats?: ReplicaStats;
}

/**
 * What a replica tells the view service about its load, for the dashboard (issue #15): a
 * few numbers, at most once a second, beside a ping (server/replica/replica-stats.ts decides
 * them; server/viewservice/stats-ring.ts keeps the last minutes; `GET /stats` serves them).
 */
export interface ReplicaStats {
  /** Operations answered per second since the previous stats. */
  opsPerSec: number;
  /** 99th percentile of ordering → reply latency over the same span, in ms; null: no operation. */
  p99Ms: number | null;
  /** As primary with a backup: what the backup has not acknowledged yet (operations, approximate bytes). */
  lag?: { ops: number; bytes: number };
  /** As primary, a state transfer under way: keys and bytes sent of the totals (bytes: estimated), ms left (null: not known yet). */
  transfer?: { keys: number; keysTotal: number; bytes: number; bytesTotal: number; etaMs: number | null };
  /** With --data-dir (SPEC §9): the last operation index on this replica's disk. */
  durableIndex?: number;
}

/**
 * replica → VS on a graceful shutdown (SIGTERM): this incarnation is leaving; treat it as
 * dead now, so a failover starts at once instead of after deadPings.
 */
export interface LeaveMsg {
  type: 'leave';
  id: ReplicaId;
  incarnation: string;
  token?: string;
}

/** client (or dashboard) → VS: push me every view. */
export interface SubscribeMsg {
  type: 'subscribe';
  token?: string;
}

/** VS → replicas and subscribers. `holders` is sent to replicas (see ViewHolders). */
export interface ViewMsg {
  type: 'view';
  view: View;
  holders?: ViewHolders;
  /**
   * With several view services on etcd (SPEC §12): sent by a follower, the URL of the
   * instance that leads (the leader hint, PROTOCOL §1.1). Absent from the leader itself,
   * while no leader is known, and without --etcd.
   */
  leader?: string;
}

/** Anyone → anyone, on a message it could not take. */
export interface ErrorMsg {
  type: 'error';
  code: ReplyErrorCode;
  message: string;
  /** The watch this error ends (a refused or dropped `watch`). */
  id?: number;
  /** With NOT_PRIMARY: the view the replica knows. */
  view?: View;
}

export type ToViewService = PingMsg | SubscribeMsg | LeaveMsg;

// ───────────────────────── client ↔ primary ─────────────────────────

export type OpName = 'get' | 'put' | 'append' | 'delete' | 'getEntry' | 'list' | 'atomic';

/** One write of an atomic commit on the wire: `['put'|'append', key, value]` or `['delete', key]`. */
export type AtomicOpWire = ['put' | 'append', string, string] | ['delete', string];

/**
 * A client operation. `(client, seq)` identifies it for exactly-once retries; `ack` is the
 * lowest seq the client still waits for, so the store may forget results below it.
 */
export interface ReqMsg {
  type: 'req';
  client: string;
  seq: number;
  ack: number;
  op: OpName;
  key: string;
  /** put and append only. */
  value?: string;
  /** put and delete only (SPEC §10): applied only if the key's revision is this (0: the key must not exist); else CONFLICT. */
  ifRevision?: number;
  /** list only (SPEC §10; `key` is the prefix): at most this many entries, 1..10000. */
  limit?: number;
  /** list only: start after this key. */
  after?: string;
  /** list only: keys and revisions, no values. */
  keysOnly?: boolean;
  /** atomic only (SPEC §10): every key must be at its revision, or nothing is written. */
  checks?: [string, number][];
  /** atomic only: the writes, in order, all under one revision; at most 1000 with the checks. */
  ops?: AtomicOpWire[];
  /** put only (SPEC §10): the store deletes the key this long after the put, 1..MAX_TTL_MS; a put without it clears an earlier one. */
  ttlMs?: number;
  /** put only: the key belongs to the session of `client` and is deleted when that session ends (server/replica/sessions.ts). */
  ephemeral?: true;
  /** with ephemeral: the session ends after this long without a link to the primary. @default 10000 */
  sessionTtlMs?: number;
}

/** One entry of a list page on the wire: `[key, rev]` (keysOnly) or `[key, rev, value]`. */
export type ListEntryWire = [string, number] | [string, number, string];

/** The result of an operation: get → string|null, put → null, append → new length, delete → existed. */
export type OpResult = string | number | boolean | null;

export interface ResOk {
  type: 'res';
  seq: number;
  ok: true;
  value: OpResult;
  /** The store revision after this operation (writes) or at it (reads). */
  rev?: number;
  /** getEntry: the key's revision (its last write; 0: never written or deleted). */
  krev?: number;
  /** list: the page, in key order, and whether more keys follow it. */
  entries?: ListEntryWire[];
  more?: boolean;
}

export interface ResErr {
  type: 'res';
  seq: number;
  ok: false;
  code: ReplyErrorCode;
  message: string;
  /** With NOT_PRIMARY: the view the replica knows. */
  view?: View;
  /** With CONFLICT: the key's current revision. */
  revision?: number;
  /** With CONFLICT of an atomic commit: the key whose check failed. */
  key?: string;
}

export type ResMsg = ResOk | ResErr;

/** Optional first message of a client link, for browsers that cannot set headers. */
export interface HelloMsg {
  type: 'hello';
  token?: string;
  /** SPEC §10: this link belongs to the session of this client id (it keeps the client's ephemeral keys alive). */
  client?: string;
}

/**
 * client → replica (SPEC §11): a fresh JWT for this open link, sent before the current one
 * expires; watches keep running. A refused one gets an `error` UNAUTHORIZED and the previous
 * token still applies until its `exp`.
 */
export interface AuthMsg {
  type: 'auth';
  token: string;
}

/**
 * client → primary: send me the committed writes to `pattern` — one key, or every key
 * starting with the text before a trailing `*` ("user:*"; "*" is every key). `id` is the
 * client's name for the watch on this connection (a second `watch` with the same id
 * replaces the first). `from`: replay every write with a revision above it first (from the
 * history, or a resync of current values when the history no longer reaches back);
 * absent: start with the writes ordered after this registration.
 */
export interface WatchMsg {
  type: 'watch';
  id: number;
  pattern: string;
  from?: number;
}

/** client → primary: stop watch `id` on this connection. No reply. */
export interface UnwatchMsg {
  type: 'unwatch';
  id: number;
}

/**
 * primary → client: a committed write to a watched key. `value` is the whole new value
 * (null: deleted); `rev` the store revision of the write. With `resync: true`, the key's
 * current value at revision `rev`, sent instead of a replay the history no longer holds
 * (intermediate values were skipped).
 */
export interface EventMsg {
  type: 'event';
  id: number;
  key: string;
  value: string | null;
  rev: number;
  resync?: true;
  /**
   * More events of the same atomic commit (same `rev`) follow for this watch: deliver them
   * together, on the last one (the one without `more`), or none if the link drops before it.
   */
  more?: true;
}

/** primary → client: the replay (or resync) for watch `id` is complete up to revision `rev`; live events follow. */
export interface SyncedMsg {
  type: 'synced';
  id: number;
  rev: number;
}

export type ToReplicaFromClient = ReqMsg | HelloMsg | WatchMsg | UnwatchMsg | AuthMsg;
export type ToClient = ResMsg | ErrorMsg | EventMsg | SyncedMsg;

// ───────────────────────── primary ↔ backup (path /peer) ─────────────────────────

/** First message on a primary → backup link. */
export interface PeerHelloMsg {
  type: 'peer';
  id: ReplicaId;
  incarnation: string;
  token?: string;
}

/**
 * Start of a state transfer for `view` (SPEC §3.4). `index` is the log position the snapshot is at.
 * A durable primary (SPEC §9, docs/DURABILITY.md §9) first sends one with `probe` (answered by
 * `xfer-pos`), then either a full one or, with `from`, a suffix: the backup keeps its state as
 * of op `from` and the fwds that follow bring it to `index`. `lineage`: the primary's list.
 */
export interface XferBeginMsg {
  type: 'xfer-begin';
  view: View;
  holders: ViewHolders;
  index: number;
  revision: number;
  probe?: true;
  from?: number;
  lineage?: [string, number][];
}

/** backup → primary, the answer to a probe: its lineage (null: none to offer) and last op index. */
export interface XferPosMsg {
  type: 'xfer-pos';
  viewnum: number;
  lineage: string | null;
  index: number;
}

/**
 * A data entry of a transfer: `[key, value, 0, rev]` sets the key, whose last write had
 * revision `rev` (SPEC §10); `[key, piece, 1]` appends a piece to the value the entry before
 * set (a value larger than a chunk). `[key, value]` sets it with revision 0 (unknown).
 */
export type DataEntry = [string, string] | [string, string, 1] | [string, string, 0, number];

/**
 * A chunk of the snapshot: data entries and at-most-once table entries. The backup answers
 * every one with a `chunkack` (the primary keeps a few in flight: flow control that keeps
 * forwarded operations from queueing behind megabytes of snapshot).
 */
export interface XferDataMsg {
  type: 'xfer-data';
  viewnum: number;
  data: DataEntry[];
  /** [clientId, low, [[seq, result], …]] */
  dedup: DedupEntry[];
  /**
   * The newest part of the primary's write history (watch replays after a failover),
   * oldest first, consecutive revisions ending at the transfer's revision. Absent when empty.
   */
  events?: HistoryEntry[];
  /** SPEC §10: the keys' ttls and owners, in the last chunks (LeaseEntry). Absent when none. */
  leases?: LeaseEntry[];
}

/**
 * A key's lease in a transfer (server/replica/leases.ts): `[key, ttl left in ms | null]`, or
 * `[key, ttl left | null, owner client id, sessionTtlMs]` for an ephemeral key.
 */
export type LeaseEntry = [string, number | null] | [string, number | null, string, number];

/** One write of the history on the wire: [rev, key, value] (value null: deleted). */
export type HistoryEntry = [number, string, string | null];

export type DedupEntry = [string, number, [number, StoredResult][]];

/** A result kept for exactly-once: ok value or an error code. */
export type StoredResult =
  | { ok: true; value: OpResult; rev: number; krev?: number; entries?: ListEntryWire[]; more?: boolean }
  | { ok: false; code: ReplyErrorCode; message: string; revision?: number; key?: string };

export interface XferEndMsg {
  type: 'xfer-end';
  viewnum: number;
}

/** Forwarded operations, pipelined: ops[i] has log index `index + i`. */
export interface FwdMsg {
  type: 'fwd';
  viewnum: number;
  index: number;
  ops: ReqMsg[];
}

/** backup → primary: the transfer for `viewnum` is installed; the log is at `index`. */
export interface XferAckMsg {
  type: 'xferack';
  viewnum: number;
  index: number;
}

/** backup → primary: `n` xfer-data chunks of the current transfer have been received and applied (cumulative). */
export interface ChunkAckMsg {
  type: 'chunkack';
  viewnum: number;
  n: number;
}

/** backup → primary: every op up to and including `index` is applied (cumulative). */
export interface FwdAckMsg {
  type: 'fwdack';
  viewnum: number;
  index: number;
}

/** backup → primary: refused; `view` is the view the backup knows. */
export interface RejectMsg {
  type: 'reject';
  view: View;
  reason: string;
}

export type ToBackup = PeerHelloMsg | XferBeginMsg | XferDataMsg | XferEndMsg | FwdMsg;
export type ToPrimary = XferAckMsg | ChunkAckMsg | FwdAckMsg | RejectMsg | XferPosMsg;

export type Message =
  | PingMsg | SubscribeMsg | LeaveMsg | ViewMsg | ErrorMsg
  | ReqMsg | ResMsg | HelloMsg | AuthMsg | WatchMsg | UnwatchMsg | EventMsg | SyncedMsg
  | PeerHelloMsg | XferBeginMsg | XferDataMsg | XferEndMsg | FwdMsg
  | XferAckMsg | ChunkAckMsg | FwdAckMsg | RejectMsg | XferPosMsg;

export type MessageType = Message['type'];
