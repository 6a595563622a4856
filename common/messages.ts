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
 */
import type { View, ViewHolders, ReplicaId } from './view';
import type { ReplyErrorCode } from './errors';

// ───────────────────────── view service (SPEC §6) ─────────────────────────

/** replica → VS, every pingInterval. */
export interface PingMsg {
  type: 'ping';
  id: ReplicaId;
  incarnation: string;
  viewnum: number;
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
}

/** Anyone → anyone, on a message it could not take. */
export interface ErrorMsg {
  type: 'error';
  code: ReplyErrorCode;
  message: string;
}

export type ToViewService = PingMsg | SubscribeMsg;

// ───────────────────────── client ↔ primary ─────────────────────────

export type OpName = 'get' | 'put' | 'append' | 'delete';

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
}

/** The result of an operation: get → string|null, put → null, append → new length, delete → existed. */
export type OpResult = string | number | boolean | null;

export interface ResOk {
  type: 'res';
  seq: number;
  ok: true;
  value: OpResult;
  /** The store revision after this operation (writes) or at it (reads). */
  rev?: number;
}

export interface ResErr {
  type: 'res';
  seq: number;
  ok: false;
  code: ReplyErrorCode;
  message: string;
  /** With NOT_PRIMARY: the view the replica knows. */
  view?: View;
}

export type ResMsg = ResOk | ResErr;

/** Optional first message of a client link, for browsers that cannot set headers. */
export interface HelloMsg {
  type: 'hello';
  token?: string;
}

export type ToReplicaFromClient = ReqMsg | HelloMsg;
export type ToClient = ResMsg | ErrorMsg;

// ───────────────────────── primary ↔ backup (path /peer) ─────────────────────────

/** First message on a primary → backup link. */
export interface PeerHelloMsg {
  type: 'peer';
  id: ReplicaId;
  incarnation: string;
  token?: string;
}

/** Start of a state transfer for `view` (SPEC §3.4). `index` is the log position the snapshot is at. */
export interface XferBeginMsg {
  type: 'xfer-begin';
  view: View;
  holders: ViewHolders;
  index: number;
  revision: number;
}

/** A chunk of the snapshot: data entries and at-most-once table entries. */
export interface XferDataMsg {
  type: 'xfer-data';
  viewnum: number;
  data: [string, string][];
  /** [clientId, low, [[seq, result], …]] */
  dedup: DedupEntry[];
}

export type DedupEntry = [string, number, [number, StoredResult][]];

/** A result kept for exactly-once: ok value or an error code. */
export type StoredResult = { ok: true; value: OpResult; rev: number } | { ok: false; code: ReplyErrorCode; message: string };

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
export type ToPrimary = XferAckMsg | FwdAckMsg | RejectMsg;

export type Message =
  | PingMsg | SubscribeMsg | ViewMsg | ErrorMsg
  | ReqMsg | ResMsg | HelloMsg
  | PeerHelloMsg | XferBeginMsg | XferDataMsg | XferEndMsg | FwdMsg
  | XferAckMsg | FwdAckMsg | RejectMsg;

export type MessageType = Message['type'];
