/**
 * The replica's SHELL (STYLE §4): plumbing around the ReplicaMachine. It turns socket events
 * into machine inputs and applies the machine's one Ready per step; it decides nothing about
 * replication itself.
 *
 *   ws "/"       client-endpoint.ts: req ─▶ clientOp      reply ─▶ res on that socket
 *   ws "/peer"   peer-endpoint.ts: peer hello (cluster token), then
 *                xfer-*, fwd ─▶ fromPrimary (tagged with the link)   toPrimary ─▶ back on it
 *   Link ─▶ VS   view-service-link.ts: open/down ─▶ vsLinkUp/Down, view ─▶ view input,
 *                Ready.ping ─▶ ping
 *   Link ─▶ backup/peer   backup-link.ts: one link to Ready.backupTarget: open ─▶ backupLinkUp,
 *                down ─▶ backupLinkDown, frames ─▶ fromBackup; toBackup ─▶ send (fwd frames
 *                built from the clients' raw frames, forward-frames.ts)
 *   tick         machine.tick(Date.now()) every pingInterval: the replica's only timer (and wake-timer.ts: SPEC §10)
 *   flush        Ready.flush: process.nextTick ('soon') or setImmediate ('turn')
 *   pump         Ready.pump: setImmediate (the next chunk of a streaming transfer; client I/O
 *                is served between chunks)
 *   HTTP         http-routes.ts: /healthz, /readyz, /info, /digest; /metrics
 *
 * Graceful shutdown (`shutdown()`, on SIGTERM): hold new requests, finish those in flight,
 * `leave` the view service (failover at once), answer the held ones NOT_PRIMARY with the
 * new view, close every link with 1012. /readyz says 503 from its start. It waits on the
 * machine's Ready (drained) and on link events, not on a poll.
 */
import { nanoid } from 'nanoid';
import type { ReplicaOptions } from '../../common/config';
import type { Logger } from '../../common/logger';
import { CloseCodes } from '../../common/errors';
import { encode } from '../../common/protocol';
import { startWsServer, type WsServer } from '../net/ws-server';
import { createLogger, childLogger } from '../log';
import { createMetricsRegistry, metricsHandler } from '../metrics';
import { RateLimitedLog } from '../rate-limited-log';
import { ReplicaMetrics, LATENCY_BOUNDS_MS } from './replica-metrics';
import { StatsRules, type StatsSample } from './ping-rules';
import type { PingOut } from './replica-io';
import { receivingTransfer } from './heap-policy';
import { ReplicaMachine, type ReplicaInput, type ReplicaEffect, type ReplicaReady } from './replica-machine';
import type { HistoryBounds } from './write-history';
import { ClientEndpoint } from './client-endpoint';
import { PeerEndpoint, MAX_PEER_LINKS } from './peer-endpoint';
import { ViewServiceLink } from './view-service-link';
import { BackupLink } from './backup-link';
import { replicaHttp } from './http-routes';
import { fwdFrameText } from './forward-frames';
import { WakeTimer } from './wake-timer';
import type { Auth } from '../auth/load';
import { Durability } from './durability';
import { registerDiskMetrics } from './disk-metrics';
import type { FwdMsg } from '../../common/messages';

export type StartReplicaOptions = ReplicaOptions & {
  /** How many writes the replica keeps for watch replays. @default 10000 events, 16 MiB */
  history?: HistoryBounds;
  /** Parent logger; the replica logs through `child({ role: 'replica', id })`. @default a pino root at options.logLevel */
  log?: Logger;
  /** SPEC §11: the loaded --jwt-* key and --rules (server/auth/load.ts); absent: no JWTs. */
  auth?: Auth;
};

/** Peer frames wrap a client's req in a fwd: maxPayload is maxMessageBytes + this ('/' holds clients to maxMessageBytes). @default 64 KiB */
export const PEER_FRAME_ALLOWANCE = 64 * 1024;
/**
 * Graceful shutdown: how long to wait for the requests in flight (and a pending transfer) to
 * be acknowledged, then for the view service's new view after `leave`. Together well under
 * the 25 s after which the CLI exits anyway. @default 10 s, 5 s
 */
export const DRAIN_MS = 10_000;
export const HANDOFF_MS = 5_000;
const FLUSH: ReplicaInput = Object.freeze({ kind: 'flush' });
const PUMP: ReplicaInput = Object.freeze({ kind: 'pump' });
/** The shell's own inputs: time passes (machine.tick), and the wake-up at Ready.wakeAt (a `time` step, no ping). */
const TICK = 'tick';
const WAKE = 'wake';
type ShellInput = ReplicaInput | typeof TICK | typeof WAKE;

export class ReplicaShell {
  /** A fresh nanoid per start; with --data-dir, the one kept with the data (SPEC §9). */
  incarnation = nanoid();
  id = '';
  port = 0;
  machine!: ReplicaMachine;
  private log: Logger;
  private warnings: RateLimitedLog;
  private server: WsServer | null = null;
  private clients!: ClientEndpoint;
  private peers!: PeerEndpoint;
  private vs: ViewServiceLink | null = null;
  private backup!: BackupLink;
  /** --data-dir: the lock, the log, recovery (durability.ts); null: memory only. */
  private disk: Durability | null = null;
  /** The last fwd logged (persistOps) and its text: the same msg forwarded this turn is not encoded twice. */
  private loggedFwd: FwdMsg | null = null;
  private loggedFwdText = '';
  private tickTimer: NodeJS.Timeout | null = null;
  private readonly wakeTimer = new WakeTimer(() => this.run(WAKE));
  private flushScheduled = false;
  private pumpScheduled = false;
  private readonly flushNow = (): void => {
    this.flushScheduled = false;
    this.run(FLUSH);
  };
  private readonly pumpNow = (): void => {
    this.pumpScheduled = false;
    this.run(PUMP);
  };
  /** Inside run(): inputs arriving meanwhile wait in `backlog` (one Ready at a time). */
  private stepping = false;
  private readonly backlog: ShellInput[] = [];
  /** The machine was receiving a state transfer after the last Ready. */
  private receiving = false;
  /** The last Ready said drained (graceful shutdown waits for it). */
  private drained = true;
  private closing = false;
  /** shutdown() began (the machine holds new client requests). */
  private holding = false;
  private leaving = false;
  /** What shutdown() waits for, re-checked after every Ready and link event. */
  private waiter: (() => void) | null = null;
  private readonly registry = createMetricsRegistry();
  private readonly metrics = new ReplicaMetrics(this.registry);
  private readonly stats = new StatsRules(LATENCY_BOUNDS_MS);
  private readonly statsSample: StatsSample = { ops: 0, buckets: new Float64Array(LATENCY_BOUNDS_MS.length + 1), lag: null, transfer: null };
  /** What the last Ready left, to count view changes and failovers. */
  private lastViewnum = 0;
  private lastRole = 'idle';

  constructor(private readonly o: StartReplicaOptions) {
    this.log = childLogger(o.log ?? createLogger(o.logLevel), { role: 'replica' });
    this.warnings = new RateLimitedLog(this.log);
  }

  async listen(): Promise<void> {
    const o = this.o;
    const run = (input: ReplicaInput): void => this.run(input);
    const failed = (err: unknown): void => this.log.error({ err }, 'replica handler failed');
    const common = { limits: o.limits, metrics: this.metrics, warnings: () => this.warnings, run, failed };
    // Recovery comes before listening: nothing is served before the state is back (SPEC §9).
    if (o.dataDir !== null) await this.openDisk(o.dataDir);
    this.clients = new ClientEndpoint({ ...common, clientToken: o.clientToken, auth: o.auth ?? null });
    this.peers = new PeerEndpoint({ ...common, clusterToken: o.clusterToken, log: () => this.log });
    this.server = await startWsServer({
      port: o.port,
      host: o.host,
      tls: o.tls,
      maxPayload: o.limits.maxMessageBytes + PEER_FRAME_ALLOWANCE,
      keepaliveMs: o.keepaliveMs,
      maxConnections: o.maxConnections,
      routeLimits: { '/peer': MAX_PEER_LINKS },
      log: this.log,
      routes: {
        '/': (ws, req, url) => this.guard(() => this.clients.accept(ws, req, url)),
        '/peer': (ws, req, url) => this.guard(() => this.peers.accept(ws, req, url)),
      },
      http: [metricsHandler(this.registry, this.log), replicaHttp(() => this.machine, () => this.notReady())],
    });
    this.port = this.server.port;
    this.id = o.url ?? `${o.tls ? 'wss' : 'ws'}://127.0.0.1:${this.port}`;
    this.log = childLogger(this.log, { id: this.id });
    this.warnings = new RateLimitedLog(this.log);
    this.machine = new ReplicaMachine({ me: this.id, incarnation: this.incarnation, limits: o.limits, history: o.history, pingIntervalMs: o.pingIntervalMs, durable: this.disk !== null, newLineage: nanoid, cold: o.standby === 'cold' });
    this.disk?.restore(this.machine);
    this.disk?.start(run, () => this.machine.store);
    this.backup = new BackupLink({
      ...common, me: () => ({ id: this.id, incarnation: this.incarnation }), log: () => this.log,
      pingIntervalMs: o.pingIntervalMs, clusterToken: o.clusterToken,
      stepped: (msg) => { if (msg.type === 'xferack' && this.machine.pingViewnum === msg.viewnum) this.metrics.transferAcked(msg.viewnum); },
    });
    this.metrics.registerGauges(this.registry, () => this.machine, {
      clientConnections: () => this.clients.size,
      peerConnections: () => this.peers.size,
      backupLinkUp: () => this.backup.up,
      viewServiceLinkUp: () => this.vs?.up ?? false,
    });
    this.vs = new ViewServiceLink({ urls: o.viewUrls, log: this.log, limits: o.limits, pingIntervalMs: o.pingIntervalMs, clusterToken: o.clusterToken, run, failed });
    this.tickTimer = setInterval(() => this.run(TICK), o.pingIntervalMs);
    this.log.info({ incarnation: this.incarnation, view: o.viewUrls.join(',') }, `replica ${this.id} started`);
  }

  async close(code: number = CloseCodes.GoingAway): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.waiter?.();
    if (this.tickTimer) clearInterval(this.tickTimer);
    this.wakeTimer.cancel();
    this.vs?.close(code, 'shutting down');
    this.backup?.close(code, 'shutting down');
    await this.server?.close(code, 'shutting down');
    await this.disk?.close();
    this.log.info({}, `replica ${this.id} stopped`);
  }

  private async openDisk(dir: string): Promise<void> {
    const o = this.o;
    this.disk = await Durability.open({
      dir, fsync: o.fsync, resetData: o.resetData, id: o.url ?? `ws://127.0.0.1:${o.port}`, limits: o.limits, log: this.log,
      snapshotLogBytes: o.snapshotLogBytes, observe: registerDiskMetrics(this.registry, () => this.disk),
      fatal: (err) => {
        // A failed write or fsync is never retried ("fsyncgate"): stop rather than acknowledge what may be lost.
        this.log.error({ err, dir }, 'the data dir failed; stopping');
        process.exit(1);
      },
    });
    this.incarnation = this.disk.incarnation;
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
    this.run({ kind: 'shutdown' });
    const m = this.machine;
    const t0 = Date.now();
    this.log.info({ role: m.role, viewnum: m.view.viewnum, pending: m.pendingCount() }, 'graceful shutdown: finishing the requests in flight');
    const drained = await this.until(() => this.closing || this.drained, DRAIN_MS);
    if (this.closing) return;
    if (!drained) this.log.warn({ pending: m.pendingCount() }, `requests still unacknowledged after ${DRAIN_MS} ms; leaving anyway`);
    this.leaving = true;
    this.run({ kind: 'leave' }); // no more pings: one would make the view service take us back
    const sent = this.vs?.leave(this.id, this.incarnation) ?? false;
    const wasIn = m.role !== 'idle';
    const handedOff = sent && wasIn ? await this.until(() => this.closing || m.role === 'idle' || !this.vs?.up, HANDOFF_MS) : !wasIn;
    if (this.closing) return;
    const held = m.heldCount();
    this.run({ kind: 'releaseHeld' }); // NOT_PRIMARY with the view that names the next primary
    this.log.info({ sent, handedOff, held, viewnum: m.view.viewnum, ms: Date.now() - t0 },
      `left the view service${handedOff ? '' : ' (no new view yet)'}; closing links with 1012`);
    await this.close(CloseCodes.ServiceRestart);
  }

  /** Resolve true once `done()` holds (checked after every Ready and on close), false after `ms`. */
  private until(done: () => boolean, ms: number): Promise<boolean> {
    if (done()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        resolve(false);
      }, ms);
      this.waiter = () => {
        if (!done()) return;
        clearTimeout(timer);
        this.waiter = null;
        resolve(true);
      };
    });
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

  /** Step the machine (or tick it) and apply its Ready; inputs that arrive meanwhile wait their turn. */
  private run(input: ShellInput): void {
    if (this.closing) return;
    if (this.stepping) {
      this.backlog.push(input);
      return;
    }
    this.stepping = true;
    try {
      this.stepOne(input);
      while (this.backlog.length > 0) this.stepOne(this.backlog.shift() as ShellInput);
    } catch (err) {
      this.log.error({ err }, 'replica handler failed');
    } finally {
      this.stepping = false;
    }
  }

  private stepOne(input: ShellInput): void {
    const m = this.machine;
    if (input === TICK) m.tick(Date.now());
    else if (input === WAKE) m.step({ kind: 'time', now: Date.now() });
    else m.step(input);
    const rd = m.ready();
    try {
      for (let i = 0; i < rd.effects.length; i++) this.applyEffect(rd.effects[i]);
      this.applyReady(rd);
    } finally {
      m.advance();
    }
    this.countTransitions();
    this.waiter?.();
  }

  private applyEffect(e: ReplicaEffect): void {
    switch (e.kind) {
      case 'reply': return this.clients.reply(e.conn, e.msg);
      case 'push': return this.clients.push(e.conn, e.msg);
      case 'toBackup': {
        const text = e.msg.type !== 'fwd' ? encode(e.msg) : e.msg === this.loggedFwd ? this.loggedFwdText : fwdFrameText(e.msg, e.raws);
        if (e.msg.type === 'xfer-begin') this.metrics.transferStarted(e.msg.view.viewnum, this.machine.store.size);
        else if (e.msg.type === 'xfer-data') this.metrics.transferChunk(Buffer.byteLength(text), e.msg.data.length);
        this.backup.send(text); // false while down: the machine resends on link-up
        return;
      }
      case 'toPrimary': return this.peers.send(e.link, e.msg);
      case 'log': return this.log[e.level](e.data ?? {}, e.msg);
      case 'relinkBackup':
        this.log.warn({ reason: e.reason }, 'relinking to the backup for a fresh transfer');
        return this.backup.restart();
      case 'readPeer': return this.peers.read(e.link, e.on);
      case 'closePeer': return this.peers.close(e.link, e.code, e.reason);
      case 'persistOps': {
        const text = e.text ?? (e.raws !== undefined ? fwdFrameText(e.msg, e.raws) : encode(e.msg));
        this.loggedFwd = e.msg;
        this.loggedFwdText = text;
        return this.disk?.persistOps(e.msg.index, e.msg.ops.length, text);
      }
      case 'persistView': return this.disk?.persistView(e.view, e.holders);
      case 'persistState': return this.disk?.persistState(e.viewnum, this.machine.store, e.lineage);
      case 'persistLineage': return this.disk?.persistLineage(e.lineage);
    }
  }

  private applyReady(rd: ReplicaReady): void {
    if (rd.ping !== null) this.vs?.ping(this.withStats(rd.ping));
    this.backup.sync(rd.backupTarget);
    if (rd.receivingTransfer !== this.receiving) {
      this.receiving = rd.receivingTransfer;
      receivingTransfer(this.receiving); // no heap compaction while the state comes in (heap-policy.ts)
    }
    if (rd.flush !== 'none' && !this.flushScheduled) {
      // Idle (every forwarded op acknowledged): forward as soon as this callback ends, adding
      // no latency to a lone request (a direct flush here measured no faster: 4 paired runs,
      // within noise), and the requests of the same socket read go out together. Busy: wait
      // for the end of the turn, so the requests that arrive meanwhile on every connection
      // go out in the same frame.
      this.flushScheduled = true;
      if (rd.flush === 'soon') process.nextTick(this.flushNow);
      else setImmediate(this.flushNow);
    }
    if (rd.pump && !this.pumpScheduled) {
      this.pumpScheduled = true;
      setImmediate(this.pumpNow);
    }
    this.clients.setPaused(rd.pauseClients);
    this.drained = rd.drained;
    this.wakeTimer.ask(rd.wakeAt);
  }

  /** The dashboard's numbers go with at most one ping a second (replica-stats.ts decides; the counters are read only then). */
  private withStats(p: PingOut): PingOut {
    const now = Date.now();
    if (!this.stats.due(now)) return p;
    const s = this.statsSample;
    const m = this.machine;
    s.ops = this.metrics.latencyTotals(s.buckets);
    const withBackup = m.role === 'primary' && m.view.backup !== null;
    s.lag = withBackup ? { ops: m.pendingCount(), bytes: m.pendingBytes() } : null;
    // A transfer counts only while its view waits for it: one cut short (the backup gone) is never acknowledged.
    s.transfer = withBackup && m.pingViewnum !== m.view.viewnum ? this.metrics.transferProgress(m.view.viewnum) : null;
    const stats = this.stats.take(now, s);
    if (stats !== null && m.durable) stats.durableIndex = m.loggedIndex;
    if (stats !== null) p.stats = stats;
    return p;
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
}
