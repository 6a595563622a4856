/**
 * The replica's SHELL (STYLE §4): sockets, timers and logs around the ReplicaMachine.
 * It translates socket events into machine inputs and machine effects into sends, and
 * decides nothing about replication itself.
 *
 *   ws "/"       clients: req ─▶ clientOp            reply ─▶ res on that socket
 *   ws "/peer"   a primary's link: peer hello (cluster token), then
 *                xfer-*, fwd ─▶ fromPrimary           toPrimary ─▶ back on that socket
 *   Link ─▶ VS   ping {viewnum: machine.pingViewnum} every pingInterval (the replica's only
 *                timer) and at once when pingViewnum changes; view ─▶ view input
 *   Link ─▶ backup/peer   one link to machine.backupTarget: open ─▶ backupLinkUp,
 *                down ─▶ backupLinkDown, frames ─▶ fromBackup; toBackup ─▶ send (dropped
 *                while down: the machine resends on link-up)
 *   flush        setImmediate once per event-loop turn while machine.wantsFlush
 *   pump         setImmediate once per event-loop turn while machine.wantsPump (the next
 *                chunk of a streaming transfer; client I/O is served between chunks)
 *   HTTP         /healthz, /metrics, /digest
 *
 * Graceful shutdown (`shutdown()`, on SIGTERM): hold new requests, finish those in flight,
 * `leave` the view service (failover at once), answer the held ones NOT_PRIMARY with the
 * new view, close every link with 1012. /readyz says 503 from its start.
 *
 * Backpressure: with `pendingCount()` at PAUSE_PENDING, or `pendingBytes()` at
 * PAUSE_PENDING_BYTES, the shell stops reading client sockets (TCP pushes back on the
 * clients) and resumes at RESUME_PENDING and RESUME_PENDING_BYTES, so the ordered but
 * unanswered requests stay bounded, in number and in memory, without an extra error code.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import WebSocket from 'ws';
import { nanoid } from 'nanoid';
import type { ReplicaOptions } from '../../common/config';
import type { Logger } from '../../common/logger';
import type { ErrorMsg, PeerHelloMsg, PingMsg, ResMsg, ToClient } from '../../common/messages';
import { CloseCodes } from '../../common/errors';
import type { LeaveMsg } from '../../common/messages';
import type { BackoffPolicy } from '../../common/backoff';
import { decode, encode, isProtocolError, TRUSTED } from '../../common/protocol';
import { startWsServer, tokenMatches, sendJson, frameText, type WsServer } from '../net/ws-server';
import { Link } from '../net/link';
import { createLogger, childLogger } from '../log';
import { createMetricsRegistry, metricsHandler, pathOf } from '../metrics';
import { RateLimitedLog } from '../rate-limited-log';
import { ReplicaMetrics, type Inflight } from './replica-metrics';
import { PeerHold } from './peer-hold';
import { receivingTransfer } from './heap-policy';
import { ReplicaMachine, notPrimary, type ConnId, type PeerIdentity, type ReplicaInput } from './replica-machine';
import type { HistoryBounds } from './write-history';

/** A running replica. */
/** Ping intervals without any acknowledgement from a stalled backup before the primary reports it (1 s by default). */
const SUSPECT_AFTER_PINGS = 10;

export interface Replica {
  /** The advertised URL: the replica's id in views. */
  readonly id: string;
  /** The bound port (useful with port 0). */
  readonly port: number;
  /** This process's incarnation (a fresh nanoid). */
  readonly incarnation: string;
  /** The core, for status and tests; the shell owns all its inputs. */
  readonly machine: ReplicaMachine;
  /** Close the view-service link first (the VS declares this replica dead at once), then everything else. */
  close(): Promise<void>;
  /**
   * Graceful shutdown (SIGTERM): finish the requests in flight, tell the view service this
   * replica leaves (failover at once), redirect held requests to the new primary, close every
   * link with 1012. Resolves within SHUTDOWN_MS (+ the server's close).
   */
  shutdown(): Promise<void>;
  /** Null when ready (GET /readyz 200), else why not. */
  notReady(): string | null;
}

export type StartReplicaOptions = ReplicaOptions & {
  /** How many writes the replica keeps for watch replays. @default 10000 events, 16 MiB */
  history?: HistoryBounds;
  /** Parent logger; the replica logs through `child({ role: 'replica', id })`. @default a pino root at options.logLevel */
  log?: Logger;
};

/**
 * Peer frames carry a client's req inside a fwd, so they may exceed the client limit by
 * the wrapper: the server's maxPayload is maxMessageBytes + this, and client frames are
 * held to maxMessageBytes by the '/' route itself. @default 64 KiB
 */
export const PEER_FRAME_ALLOWANCE = 64 * 1024;
/** Stop reading client sockets at this many unanswered requests. @default 100000 */
export const PAUSE_PENDING = 100_000;
/** Resume reading at this many. @default 50000 */
export const RESUME_PENDING = 50_000;
/** Stop reading client sockets when the unanswered requests hold this much (machine.pendingBytes). @default 64 MiB */
export const PAUSE_PENDING_BYTES = 64 * 1024 * 1024;
/** Resume at this much. @default 32 MiB */
export const RESUME_PENDING_BYTES = 32 * 1024 * 1024;
/**
 * A client socket with more than this queued is a slow consumer: closed with 4408. Room for
 * over a dozen of the largest replies (a 1 MiB value) waiting for a reader. @default 16 MiB
 */
const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;
/**
 * A /peer socket (a primary's link to me) with more than this queued is closed with 4408:
 * acks and rejects are small, so only a peer that stopped reading gets there. @default 16 MiB
 */
const MAX_PEER_BUFFERED_BYTES = 16 * 1024 * 1024;
/**
 * Open /peer links this replica accepts, apart from maxConnections (which bounds clients
 * on `/`): a crowd of clients must never lock out the primary's link. @default 128
 */
export const MAX_PEER_LINKS = 128;
/**
 * /peer links that have not sent their peer hello yet, at most: a newer one pushes the
 * oldest out (4401), so strangers that connect and say nothing can never fill the /peer
 * slots — a real primary says hello at once and is never among them. @default 16
 */
export const MAX_PEER_STRANGERS = 16;
/** A /peer link must send its peer hello within this long, or it is closed with 4401. @default 5 s */
const PEER_HELLO_MS = 5000;
/**
 * An xfer-begin for a view the view service has not announced to me is held this long
 * (peer-hold.ts), then its link is closed with 1013. @default max(1 s, 10 × pingInterval)
 */
const holdMs = (pingIntervalMs: number) => Math.max(1000, 10 * pingIntervalMs);
/**
 * Graceful shutdown: how long to wait for the requests in flight (and a pending transfer) to
 * be acknowledged, then for the view service's new view after `leave`. Together well under
 * the 25 s after which the CLI exits anyway. @default 10 s, 5 s
 */
export const DRAIN_MS = 10_000;
export const HANDOFF_MS = 5_000;
/**
 * The view-service link retries at least every pingInterval (never slower than 2 s): after a
 * view-service restart every replica must report within its recovery window (deadPings ×
 * pingInterval), docs/VIEW-SERVICE-RESTART.md.
 */
function viewServiceBackoff(pingIntervalMs: number): BackoffPolicy {
  return { minMs: Math.min(50, pingIntervalMs), maxMs: Math.max(50, Math.min(2000, pingIntervalMs)), factor: 2, jitter: 0.5 };
}
const FLUSH: ReplicaInput = Object.freeze({ kind: 'flush' });
const PUMP: ReplicaInput = Object.freeze({ kind: 'pump' });
/** This many undecodable messages in a row close a link (1008 policy violation). */
const MAX_BAD_IN_ROW = 20;
const POLICY_VIOLATION = 1008;

interface ClientConn {
  readonly id: ConnId;
  readonly ws: WebSocket;
  readonly remote: string;
  authed: boolean;
  badInRow: number;
  /** seq → ordering time and op, for the operation metrics (see replica-metrics.ts). */
  readonly inflight: Inflight;
}

/** Start a replica (SPEC §3, §4): listen, then link to the view service and ping. */
export async function startReplica(options: StartReplicaOptions): Promise<Replica> {
  const shell = new ReplicaShell(options);
  await shell.listen();
  return {
    id: shell.id,
    port: shell.port,
    incarnation: shell.incarnation,
    machine: shell.machine,
    close: () => shell.close(),
    shutdown: () => shell.shutdown(),
    notReady: () => shell.notReady(),
  };
}

/** sha256 over the sorted keys and values (SPEC §5): `JSON.stringify(key) ":" JSON.stringify(value) "\n"` each. */
export function digestOf(entries: Iterable<[string, string]>): string {
  const h = createHash('sha256');
  for (const [k, v] of entries) h.update(`${JSON.stringify(k)}:${JSON.stringify(v)}\n`);
  return h.digest('hex');
}

class ReplicaShell {
  readonly incarnation = nanoid();
  id = '';
  port = 0;
  machine!: ReplicaMachine;
  private log: Logger;
  private server: WsServer | null = null;
  private readonly conns = new Map<ConnId, ClientConn>();
  private nextConn = 1;
  private vsLink: Link | null = null;
  private backup: { target: string; link: Link } | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  /** Client sockets corked in this turn (see cork()). */
  private readonly corked = new Set<WebSocket>();
  /** Forwarding progress as last seen by suspectBackup(): view:ackedIndex and since when. */
  private progress: { key: string; since: number } | null = null;
  private flushScheduled = false;
  private pumpScheduled = false;
  private readonly flushNow = (): void => {
    this.flushScheduled = false;
    this.guard(() => this.run(FLUSH));
  };
  private readonly pumpNow = (): void => {
    this.pumpScheduled = false;
    this.guard(() => this.run(PUMP));
  };
  /** The machine was receiving a state transfer after the last run(). */
  private receiving = false;
  private paused = false;
  private lastPingViewnum = -1;
  /** A viewnum-0 ping is unanswered (see sendPing). */
  private zeroPingInFlight = false;
  private closing = false;
  /** shutdown() began: new client requests are held in `held`, not ordered. */
  private holding = false;
  private held: Extract<ReplicaInput, { kind: 'clientOp' }>[] = [];
  /** shutdown() sent `leave`: no more pings (one would make the view service take us back). */
  private leaving = false;
  private readonly registry = createMetricsRegistry();
  private readonly metrics = new ReplicaMetrics(this.registry);
  /** Warnings a flood could repeat (bad frames, refusals, slow consumers): rate-limited per kind. */
  private warnings: RateLimitedLog;
  /** Open /peer links past their peer hello. */
  private peerLinks = 0;
  /** /peer links before their hello, oldest first, with how to push each out. */
  private readonly strangers = new Map<WebSocket, () => void>();
  /** /peer links holding an xfer-begin for a view I do not know yet: each releases itself once I do. */
  private readonly holds = new Set<() => boolean>();
  /** What the last run() left, to count view changes and failovers. */
  private lastViewnum = 0;
  private lastRole = 'idle';

  constructor(private readonly o: StartReplicaOptions) {
    this.log = childLogger(o.log ?? createLogger(o.logLevel), { role: 'replica' });
    this.warnings = new RateLimitedLog(this.log);
  }

  async listen(): Promise<void> {
    const o = this.o;
    this.server = await startWsServer({
      port: o.port,
      host: o.host,
      maxPayload: o.limits.maxMessageBytes + PEER_FRAME_ALLOWANCE,
      keepaliveMs: o.keepaliveMs,
      maxConnections: o.maxConnections,
      routeLimits: { '/peer': MAX_PEER_LINKS },
      log: this.log,
      routes: {
        '/': (ws, req, url) => this.guard(() => this.onClient(ws, req, url)),
        '/peer': (ws, req, url) => this.guard(() => this.onPeer(ws, req, url)),
      },
      http: [metricsHandler(this.registry, this.log), (req, res) => this.onHttp(req, res)],
    });
    this.port = this.server.port;
    this.id = o.url ?? `ws://127.0.0.1:${this.port}`;
    this.log = childLogger(this.log, { id: this.id });
    this.warnings = new RateLimitedLog(this.log);
    this.machine = new ReplicaMachine({ me: this.id, incarnation: this.incarnation, limits: o.limits, history: o.history });
    this.metrics.registerGauges(this.registry, () => this.machine, {
      clientConnections: () => this.conns.size,
      peerConnections: () => this.peerLinks,
      backupLinkUp: () => this.backup?.link.status === 'open',
      viewServiceLinkUp: () => this.vsLink?.status === 'open',
    });
    this.vsLink = new Link({
      url: o.viewUrl, log: this.log, name: 'view service',
      heartbeatMs: Math.max(1000, 10 * o.pingIntervalMs), maxPayload: 64 * 1024,
      backoff: viewServiceBackoff(o.pingIntervalMs),
    });
    this.vsLink.on('open', () => {
      this.zeroPingInFlight = false; // answers on the old socket are lost
      this.sendPing();
    });
    this.vsLink.on('message', (text) => this.guard(() => this.onViewServiceMessage(text)));
    this.pingTimer = setInterval(() => this.sendPing(), o.pingIntervalMs);
    this.log.info({ incarnation: this.incarnation, view: o.viewUrl }, `replica ${this.id} started`);
  }

  async close(code: number = CloseCodes.GoingAway): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.vsLink?.close(code, 'shutting down');
    this.backup?.link.close(code, 'shutting down');
    this.backup = null;
    await this.server?.close(code, 'shutting down');
    this.log.info({}, `replica ${this.id} stopped`);
  }

  /**
   * Graceful shutdown (issue #5, docs/DEPLOYMENT.md):
   *
   *   1. hold new client requests (neither ordered nor refused yet)
   *   2. wait until every ordered request is acknowledged by the backup and, as primary,
   *      the view is acknowledged (a pending transfer done), at most DRAIN_MS
   *   3. stop pinging; send `leave`: the view service fails over at once (SPEC §2.1)
   *   4. wait, at most HANDOFF_MS, for a view that no longer names me
   *   5. answer the held requests NOT_PRIMARY with that view: clients go straight to the
   *      new primary (nothing held is executed here)
   *   6. close every link and the server with 1012 (service restart)
   */
  async shutdown(): Promise<void> {
    if (this.closing || this.holding) return;
    this.holding = true;
    const m = this.machine;
    const t0 = Date.now();
    this.log.info({ role: m.role, viewnum: m.view.viewnum, pending: m.pendingCount() }, 'graceful shutdown: finishing the requests in flight');
    const drained = await until(() => this.closing || (m.pendingCount() === 0 && (m.role !== 'primary' || m.pingViewnum === m.view.viewnum)), DRAIN_MS);
    if (this.closing) return;
    if (!drained) this.log.warn({ pending: m.pendingCount() }, `requests still unacknowledged after ${DRAIN_MS} ms; leaving anyway`);
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = null;
    this.leaving = true;
    const leave: LeaveMsg = { type: 'leave', id: this.id, incarnation: this.incarnation };
    if (this.o.clusterToken !== null) leave.token = this.o.clusterToken;
    const sent = this.vsLink?.send(encode(leave)) ?? false;
    const wasIn = m.role !== 'idle';
    const handedOff = sent && wasIn ? await until(() => this.closing || m.role === 'idle' || this.vsLink?.status !== 'open', HANDOFF_MS) : !wasIn;
    if (this.closing) return;
    const held = this.held;
    this.held = [];
    this.holding = false;
    for (const input of held) {
      // Still primary: no successor (no backup) or no answer; refuse, never execute.
      const c = this.conns.get(input.conn);
      if (m.role !== 'primary') this.run(input);
      else if (c) this.sendClient(c, notPrimary(input.req.seq, m.view));
    }
    this.log.info({ sent, handedOff, held: held.length, viewnum: m.view.viewnum, ms: Date.now() - t0 },
      `left the view service${handedOff ? '' : ' (no new view yet)'}; closing links with 1012`);
    await this.close(CloseCodes.ServiceRestart);
  }

  /** Null when ready: knows its role from the view service and, as primary, has a synced backup or none. */
  notReady(): string | null {
    const m = this.machine;
    if (this.closing || this.holding || this.leaving) return 'shutting down';
    if (m.view.viewnum === 0) return 'no view from the view service yet';
    if (m.role === 'primary' && m.view.backup !== null && m.pingViewnum !== m.view.viewnum) return `state transfer to the backup ${m.view.backup} not acknowledged yet`;
    return null;
  }

  /** A bug must not take the process down (SPEC §1): log it loudly and carry on. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.error({ err }, 'replica handler failed');
    }
  }

  // ───────────────────────── the machine ─────────────────────────

  /** Step the machine and carry out its effects. `via` is the /peer socket the input came on. */
  private run(input: ReplicaInput, via?: WebSocket): void {
    if (this.closing) return;
    if (this.holding && input.kind === 'clientOp') {
      // Shutting down: held until the view service names the next primary (bounded).
      if (this.held.length < RESUME_PENDING) { this.held.push(input); return; }
      const c = this.conns.get(input.conn);
      if (c) this.sendClient(c, notPrimary(input.req.seq, this.machine.view));
      return;
    }
    this.machine.step(input);
    for (const e of this.machine.takeEffects()) {
      switch (e.kind) {
        case 'reply': {
          const c = this.conns.get(e.conn);
          if (c) {
            this.metrics.replied(c.inflight, e.msg);
            this.sendClient(c, e.msg);
          }
          break;
        }
        case 'toBackup': {
          const text = e.text ?? encode(e.msg);
          if (e.msg.type === 'xfer-begin') this.metrics.transferStarted(e.msg.view.viewnum, this.machine.store.size);
          else if (e.msg.type === 'xfer-data') this.metrics.transferChunk(Buffer.byteLength(text));
          this.backup?.link.send(text); // false while down: the machine resends on link-up
          break;
        }
        case 'toPrimary':
          if (via) this.sendPeer(via, encode(e.msg));
          break;
        case 'push': {
          const c = this.conns.get(e.conn);
          if (c) this.sendClient(c, e.msg);
          break;
        }
        case 'log':
          this.log[e.level](e.data ?? {}, e.msg);
          break;
        case 'relinkBackup':
          this.log.warn({ reason: e.reason }, 'relinking to the backup for a fresh transfer');
          this.backup?.link.restart();
          break;
      }
    }
    this.countTransitions();
    this.syncBackupLink();
    if (this.machine.receivingTransfer !== this.receiving) {
      this.receiving = this.machine.receivingTransfer;
      receivingTransfer(this.receiving); // no heap compaction while the state comes in (heap-policy.ts)
    }
    if (this.machine.wantsFlush && !this.flushScheduled) {
      // Idle (every forwarded op acknowledged): forward as soon as this callback ends, adding
      // no latency to a lone request (a direct flush here measured no faster: 4 paired runs,
      // within noise), and the requests of the same socket read go out together. Busy: wait
      // for the end of the turn, so the requests that arrive meanwhile on every connection
      // go out in the same frame.
      const idle = this.machine.inFlight === 0;
      this.flushScheduled = true;
      if (idle) process.nextTick(this.flushNow);
      else setImmediate(this.flushNow);
    }
    if (this.machine.wantsPump && !this.pumpScheduled) {
      this.pumpScheduled = true;
      setImmediate(this.pumpNow);
    }
    this.applyBackpressure();
    if (this.machine.pingViewnum !== this.lastPingViewnum) this.sendPing();
  }

  /** View changes and failovers (became primary), for the metrics. */
  private countTransitions(): void {
    const m = this.machine;
    if (m.view.viewnum !== this.lastViewnum) {
      this.lastViewnum = m.view.viewnum;
      this.metrics.viewChanges.inc();
    }
    if (m.role !== this.lastRole) {
      if (m.role === 'primary') this.metrics.failovers.inc();
      this.lastRole = m.role;
    }
  }

  // ───────────────────────── view service link ─────────────────────────

  /**
   * Ping the view service. At most one viewnum-0 ping is in flight: the VS takes a 0 from
   * a replica it already put in a view as "restarted, state lost" (SPEC §2.1), so a second
   * 0 sent before the answer to the first arrived (slow start, short pingInterval) would
   * kill the view we were just given. The first answer always names a view ≥ 1.
   */
  private sendPing(): void {
    if (this.closing || this.leaving || !this.vsLink) return;
    const viewnum = this.machine.pingViewnum;
    if (viewnum === 0 && this.zeroPingInFlight) return;
    // With the report (view, holders, role, initialised) a restarted view service can learn the view.
    const msg: PingMsg = { type: 'ping', id: this.id, incarnation: this.incarnation, viewnum, ...this.machine.report() };
    if (this.o.clusterToken !== null) msg.token = this.o.clusterToken;
    const suspect = this.suspectBackup();
    if (suspect !== null) {
      msg.suspect = suspect;
      this.log.warn({ backup: suspect, stalledMs: Date.now() - this.progress!.since }, 'backup is not applying forwarded operations: asking the view service to replace it');
    }
    if (this.vsLink.send(encode(msg))) {
      this.lastPingViewnum = viewnum;
      if (viewnum === 0) this.zeroPingInFlight = true;
    }
  }

  /**
   * The backup to report as unable to apply forwards, or null. As primary of a view whose
   * transfer the backup acknowledged, with requests waiting or the link down, and no
   * acknowledgement for SUSPECT_AFTER_PINGS ping intervals: a partition between primary and
   * backup that the view service cannot see (both still ping it). Without this every
   * operation would stall until it healed; with it the view service replaces the backup
   * (docs/PROTOCOL.md §1). A slow backup still acknowledges, so it is not suspected.
   */
  private suspectBackup(): string | null {
    const m = this.machine;
    const backup = m.view.backup;
    if (m.role !== 'primary' || backup === null) { this.progress = null; return null; }
    const f = m.forwardState();
    const now = Date.now();
    const key = `${m.view.viewnum}:${f.ackedIndex}`;
    const stalled = f.synced && (f.pending > 0 || this.backup?.link.status !== 'open');
    if (!stalled || this.progress === null || this.progress.key !== key) {
      this.progress = { key, since: now };
      return null;
    }
    return now - this.progress.since >= SUSPECT_AFTER_PINGS * this.o.pingIntervalMs ? backup : null;
  }

  private onViewServiceMessage(text: string): void {
    const msg = decode(text, this.o.limits, TRUSTED); // the view service I was configured with
    if (isProtocolError(msg)) {
      this.log.warn({ code: msg.code, reason: msg.message }, 'undecodable message from the view service');
      return;
    }
    if (msg.type === 'view') {
      this.zeroPingInFlight = false;
      if (!msg.holders) {
        this.log.warn({ view: msg.view }, 'view without holders from the view service: ignored');
        return;
      }
      this.run({ kind: 'view', view: msg.view, holders: msg.holders });
      for (const release of this.holds) if (release()) this.holds.delete(release);
    } else if (msg.type === 'error') {
      this.log.warn({ code: msg.code, reason: msg.message }, 'the view service reported an error');
    } else {
      this.log.warn({ type: msg.type }, 'unexpected message from the view service');
    }
  }

  // ───────────────────────── backup link (I am primary) ─────────────────────────

  /** Keep exactly one link, to machine.backupTarget. */
  private syncBackupLink(): void {
    const target = this.machine.backupTarget;
    if ((this.backup?.target ?? null) === target) return;
    if (this.backup) {
      this.backup.link.close(CloseCodes.Normal, 'no longer my backup');
      this.backup = null;
    }
    if (target === null || this.closing) return;
    const link = new Link({
      url: `${target.replace(/\/+$/, '')}/peer`, log: this.log, name: 'backup',
      maxPayload: 64 * 1024, heartbeatMs: Math.max(1000, 10 * this.o.pingIntervalMs),
    });
    const current = () => this.backup?.link === link;
    link.on('open', () => this.guard(() => {
      if (!current()) return;
      const hello: PeerHelloMsg = { type: 'peer', id: this.id, incarnation: this.incarnation };
      if (this.o.clusterToken !== null) hello.token = this.o.clusterToken;
      link.send(encode(hello));
      this.run({ kind: 'backupLinkUp' });
    }));
    link.on('down', (code, reason) => this.guard(() => {
      if (!current()) return;
      this.log.info({ backup: target, code, reason }, 'backup link down');
      this.run({ kind: 'backupLinkDown' });
    }));
    link.on('message', (text) => this.guard(() => {
      if (!current()) return;
      const msg = decode(text, this.o.limits, TRUSTED); // my backup, on a link I opened
      if (isProtocolError(msg)) {
        this.warnings.warn('backup-bad-message', { backup: target, code: msg.code, reason: msg.message }, 'undecodable message from the backup');
        return;
      }
      if (msg.type === 'xferack' || msg.type === 'chunkack' || msg.type === 'fwdack' || msg.type === 'reject') {
        this.run({ kind: 'fromBackup', msg });
        if (msg.type === 'xferack' && this.machine.pingViewnum === msg.viewnum) this.metrics.transferAcked(msg.viewnum);
      } else {
        this.warnings.warn('backup-bad-message', { backup: target, type: msg.type }, 'unexpected message from the backup');
      }
    }));
    this.backup = { target, link };
  }

  // ───────────────────────── "/peer": a primary's link to me ─────────────────────────

  private onPeer(ws: WebSocket, req: IncomingMessage, url: URL): void {
    const remote = remoteOf(req);
    const urlToken = url.searchParams.get('token');
    let peer: PeerIdentity | null = null;
    let badInRow = 0;
    const refuse = (why: string): void => {
      this.metrics.unauthorized.inc();
      this.warnings.warn('peer-unauthorized', { remote }, `peer link ${why}; closing with 4401`);
      ws.close(CloseCodes.Unauthorized, 'unauthorized');
    };
    // A link that never says who it is must not hold one of the few /peer slots.
    const helloTimer = setTimeout(() => { if (peer === null && ws.readyState === WebSocket.OPEN) refuse('sent no peer hello in time'); }, PEER_HELLO_MS);
    helloTimer.unref?.();
    let hold: PeerHold | null = null;
    const release = (): boolean => {
      if (hold === null) return true;
      if (this.machine.view.viewnum < hold.viewnum) return false;
      const frames = hold.release();
      hold = null;
      for (const msg of frames) if (peer !== null) this.run({ kind: 'fromPrimary', peer, msg }, ws);
      return true;
    };
    this.strangers.set(ws, () => refuse('pushed out by newer links without a hello'));
    if (this.strangers.size > MAX_PEER_STRANGERS) {
      const [oldest, pushOut] = this.strangers.entries().next().value as [WebSocket, () => void];
      this.strangers.delete(oldest);
      pushOut();
    }
    ws.on('close', () => {
      this.strangers.delete(ws);
      clearTimeout(helloTimer);
      if (peer !== null) this.peerLinks--;
      hold?.dispose();
      this.holds.delete(release);
    });
    ws.on('message', (data, isBinary) => this.guard(() => {
      if (ws.readyState !== WebSocket.OPEN) return; // closing (e.g. 4401): what follows is ignored
      const text = frameText(data, isBinary);
      if (peer === null) {
        const hello = text === null ? null : decode(text, this.o.limits);
        if (hello === null || isProtocolError(hello) || hello.type !== 'peer' || !tokenMatches(this.o.clusterToken, hello.token ?? urlToken ?? undefined)) {
          refuse('without a valid peer hello or cluster token');
          return;
        }
        clearTimeout(helloTimer);
        this.strangers.delete(ws);
        peer = { id: hello.id, incarnation: hello.incarnation };
        this.peerLinks++;
        this.log.debug({ remote, peer }, 'peer link from a primary');
        return;
      }
      if (text === null) return this.peerError(ws, remote, 'BAD_REQUEST', 'binary frames are not accepted', ++badInRow);
      // A peer that showed the cluster token is a replica: its large batches skip the depth scan.
      const msg = decode(text, this.o.limits, this.o.clusterToken !== null ? TRUSTED : undefined);
      if (isProtocolError(msg)) return this.peerError(ws, remote, msg.code, msg.message, ++badInRow);
      badInRow = 0;
      switch (msg.type) {
        case 'xfer-begin': case 'xfer-data': case 'xfer-end': case 'fwd':
          if (hold === null && msg.type === 'xfer-begin' && msg.view.viewnum > this.machine.view.viewnum) {
            // Views come from the view service only (peer-hold.ts): wait for it to announce this one.
            const viewnum = msg.view.viewnum;
            hold = new PeerHold(viewnum, ws, holdMs(this.o.pingIntervalMs), () => {
              this.metrics.bad('peer', 'UNANNOUNCED_VIEW');
              this.warnings.warn('peer-unannounced-view', { remote, peer, viewnum, myView: this.machine.view.viewnum },
                'xfer-begin for a view the view service has not announced; closing the peer link with 1013');
              hold?.release(); // resume reading, or the close handshake could not complete; the frames are dropped
              hold = null;
              this.holds.delete(release);
              ws.close(CloseCodes.TryAgainLater, 'view not announced');
            });
            this.holds.add(release);
          }
          if (hold !== null) { hold.push(msg); return; }
          this.run({ kind: 'fromPrimary', peer, msg }, ws);
          return;
        default:
          this.peerError(ws, remote, 'BAD_REQUEST', `a peer link takes xfer-begin, xfer-data, xfer-end and fwd (got ${JSON.stringify(msg.type)})`, ++badInRow);
      }
    }));
  }

  private peerError(ws: WebSocket, remote: string, code: ErrorMsg['code'], message: string, badInRow: number): void {
    this.metrics.bad('peer', code);
    this.warnings.warn('peer-bad-message', { remote, code, reason: message }, 'bad message on a peer link');
    this.sendPeer(ws, encode({ type: 'error', code, message }));
    if (badInRow >= MAX_BAD_IN_ROW) ws.close(POLICY_VIOLATION, 'too many bad messages');
  }

  /** Send on a /peer socket; one whose peer stopped reading is closed (4408), never buffered without bound. */
  private sendPeer(ws: WebSocket, text: string): void {
    if (ws.readyState !== WebSocket.OPEN) return;
    if (ws.bufferedAmount > MAX_PEER_BUFFERED_BYTES) {
      this.metrics.slowConsumers.inc();
      this.warnings.warn('slow-consumer', { buffered: ws.bufferedAmount }, 'closing a /peer link whose peer does not read (4408)');
      ws.close(CloseCodes.SlowConsumer, 'send buffer full');
      return;
    }
    ws.send(text);
  }

  // ───────────────────────── "/": clients ─────────────────────────

  private onClient(ws: WebSocket, req: IncomingMessage, url: URL): void {
    const remote = remoteOf(req);
    const urlToken = url.searchParams.get('token');
    const expected = this.o.clientToken;
    if (expected !== null && urlToken !== null && !tokenMatches(expected, urlToken)) {
      this.unauthorized(ws, remote);
      return;
    }
    const conn: ClientConn = { id: this.nextConn++, ws, remote, authed: expected === null || urlToken !== null, badInRow: 0, inflight: new Map() };
    this.conns.set(conn.id, conn);
    if (this.paused) pauseSocket(ws);
    ws.on('message', (data, isBinary) => this.guard(() => this.onClientMessage(conn, data, isBinary)));
    ws.on('close', () => {
      this.conns.delete(conn.id);
      this.guard(() => this.run({ kind: 'connClosed', conn: conn.id })); // its watches die with it
    });
  }

  private onClientMessage(conn: ClientConn, data: WebSocket.RawData, isBinary: boolean): void {
    if (conn.ws.readyState !== WebSocket.OPEN) return; // closing (4401, 1009, 1008): what follows is ignored
    if (rawLength(data) > this.o.limits.maxMessageBytes) {
      // The transport's maxPayload is raised for peer frames; clients keep SPEC §8's limit.
      this.metrics.bad('client', 'TOO_LARGE');
      this.warnings.warn('too-large', { remote: conn.remote, bytes: rawLength(data) }, 'client message over maxMessageBytes; closing with 1009');
      conn.ws.close(CloseCodes.TooLarge, 'message too large');
      return;
    }
    const text = frameText(data, isBinary);
    const msg = text === null ? null : decode(text, this.o.limits);
    if (!conn.authed) {
      if (msg !== null && !isProtocolError(msg) && msg.type === 'hello' && tokenMatches(this.o.clientToken, msg.token)) {
        conn.authed = true;
        return;
      }
      this.unauthorized(conn.ws, conn.remote);
      return;
    }
    if (msg === null) return this.clientError(conn, 'BAD_REQUEST', 'binary frames are not accepted: send JSON text frames');
    if (isProtocolError(msg)) return this.clientError(conn, msg.code, msg.message, msg.seq, msg.id);
    conn.badInRow = 0;
    if (msg.type === 'req') {
      this.metrics.request(msg.op);
      this.metrics.ordered(conn.inflight, msg);
      this.run({ kind: 'clientOp', conn: conn.id, req: msg, raw: text as string });
    } else if (msg.type === 'watch' || msg.type === 'unwatch') {
      this.run(msg.type === 'watch' ? { kind: 'watch', conn: conn.id, msg } : { kind: 'unwatch', conn: conn.id, msg });
    } else if (msg.type !== 'hello') {
      this.clientError(conn, 'BAD_REQUEST', `a client link takes "req", "watch", "unwatch" and "hello" messages (got ${JSON.stringify(msg.type)})`);
    }
  }

  /** A bad client message: a `res` error when its seq is known, else an `error` message (naming the watch id if known). */
  private clientError(conn: ClientConn, code: ErrorMsg['code'], message: string, seq?: number, id?: number): void {
    this.metrics.bad('client', code);
    this.warnings.warn('client-bad-message', { remote: conn.remote, code, reason: message, seq }, 'bad client message');
    const reply: ResMsg | ErrorMsg = seq !== undefined
      ? { type: 'res', seq, ok: false, code, message }
      : { type: 'error', code, message, ...(id !== undefined ? { id } : {}) };
    this.sendClient(conn, reply);
    if (++conn.badInRow >= MAX_BAD_IN_ROW) conn.ws.close(POLICY_VIOLATION, 'too many bad messages');
  }

  private unauthorized(ws: WebSocket, remote: string): void {
    this.metrics.unauthorized.inc();
    this.warnings.warn('client-unauthorized', { remote }, 'client link: wrong or missing token; closing with 4401'); // never log the token
    ws.close(CloseCodes.Unauthorized, 'unauthorized');
  }

  private sendClient(c: ClientConn, msg: ToClient): void {
    if (c.ws.readyState !== WebSocket.OPEN) return;
    if (c.ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      this.metrics.slowConsumers.inc();
      this.warnings.warn('slow-consumer', { remote: c.remote, buffered: c.ws.bufferedAmount }, 'closing a slow client (4408)');
      c.ws.close(CloseCodes.SlowConsumer, 'send buffer full');
      return;
    }
    this.cork(c.ws);
    c.ws.send(encode(msg));
  }

  /**
   * The replies one turn produces for one client (an fwdack completes many at once) go out
   * in one write: the socket is corked at its first reply of the turn and uncorked right
   * after the turn (process.nextTick: no added latency). Node's cork nests, so ws's own
   * cork/uncork per frame merges into ours. `npm run bench` profiles had writev at 30% of
   * the primary's CPU at 16 × 64 in flight.
   */
  private cork(ws: WebSocket): void {
    if (this.corked.has(ws)) return;
    const socket = (ws as unknown as { _socket?: { cork(): void; uncork(): void } })._socket;
    if (!socket) return;
    socket.cork();
    this.corked.add(ws);
    if (this.corked.size === 1) process.nextTick(() => this.uncorkAll());
  }

  private uncorkAll(): void {
    for (const ws of this.corked) (ws as unknown as { _socket?: { uncork(): void } })._socket?.uncork();
    this.corked.clear();
  }

  /** Stop reading client sockets while too many requests wait for the backup. */
  private applyBackpressure(): void {
    const n = this.machine.pendingCount();
    const bytes = this.machine.pendingBytes();
    if (!this.paused && (n >= PAUSE_PENDING || bytes >= PAUSE_PENDING_BYTES)) {
      this.paused = true;
      this.log.warn({ pending: n, pendingBytes: bytes }, 'too many requests waiting for the backup: pausing client reads');
      for (const c of this.conns.values()) pauseSocket(c.ws);
    } else if (this.paused && n <= RESUME_PENDING && bytes <= RESUME_PENDING_BYTES) {
      this.paused = false;
      this.log.info({ pending: n, pendingBytes: bytes }, 'resuming client reads');
      for (const c of this.conns.values()) resumeSocket(c.ws);
    }
  }

  // ───────────────────────── HTTP ─────────────────────────

  private onHttp(req: IncomingMessage, res: ServerResponse): boolean {
    const p = pathOf(req);
    if (p === '/healthz') {
      sendJson(res, 200, { ok: true });
      return true;
    }
    if (p === '/readyz') {
      const reason = this.notReady();
      const m = this.machine;
      sendJson(res, reason === null ? 200 : 503, { ready: reason === null, role: m.role, viewnum: m.view.viewnum, ...(reason === null ? {} : { reason }) });
      return true;
    }
    if (p === '/digest') {
      const m = this.machine;
      sendJson(res, 200, {
        viewnum: m.view.viewnum,
        role: m.role,
        revision: m.store.revision,
        keys: m.store.size,
        sha256: digestOf(m.store.sortedEntries()),
      });
      return true;
    }
    return false;
  }
}

/** Resolve true once `done()` holds (polled every 10 ms), false after `ms`. */
function until(done: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  return new Promise((resolve) => {
    const check = (): void => {
      if (done()) resolve(true);
      else if (Date.now() >= deadline) resolve(false);
      else setTimeout(check, 10);
    };
    check();
  });
}

function remoteOf(req: IncomingMessage): string {
  return `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
}

function rawLength(data: WebSocket.RawData): number {
  if (Array.isArray(data)) return data.reduce((n, b) => n + b.length, 0);
  return (data as Buffer | ArrayBuffer).byteLength;
}

/** ws ≥ 8 pauses the underlying socket: it stops reading (TCP backpressure to the client). */
function pauseSocket(ws: WebSocket): void {
  ws.pause();
}

function resumeSocket(ws: WebSocket): void {
  ws.resume();
}
