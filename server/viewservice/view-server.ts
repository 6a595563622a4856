/**
 * The view service's shell (STYLE §4): sockets, the one timer and HTTP around the
 * deterministic ViewMachine. It translates socket events into machine inputs (ping,
 * linkClosed, tick) and the machine's outbox into one broadcast: encoded once, the same
 * string to every linked replica and every subscriber (SPEC §2.9, §6).
 *
 *   ws "/"  ping ──▶ token check ──▶ vm.ping ──▶ new view? broadcast : reply
 *           subscribe ──▶ token check ──▶ current view, then every new one
 *           close ──▶ vm.linkClosed (only for the link that owns that replica id)
 *           leave ──▶ token check ──▶ vm.leave (a graceful shutdown: failover at once)
 *   timer   every pingInterval ──▶ vm.tick ──▶ new view? broadcast
 *   HTTP    /healthz, /readyz, /view, /view/history, /stats, /metrics, / (dashboard): view-http.ts
 *
 * With `dataDir`, the machine saves every view to <dataDir>/view.json before it commits it
 * (so before this shell can announce it); without, a restart learns the view from the
 * replicas' reports (docs/VIEW-SERVICE-RESTART.md).
 *
 * With `etcd` (SPEC §12), several instances share the view (etcd/view-ha.ts): the leader
 * runs the machine over the view etcd holds and announces a view only once etcd committed
 * it; a follower has no machine, answers pings and subscriptions with etcd's view, and
 * feeds nothing. Losing the lead closes every link with 1012.
 */
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import { decode, encode, isProtocolError } from '../../common/protocol';
import type { PingMsg, SubscribeMsg, ViewMsg, ErrorMsg, LeaveMsg } from '../../common/messages';
import type { ViewOptions } from '../../common/config';
import type { Logger } from '../../common/logger';
import { systemClock, type Clock } from '../../common/clock';
import { CloseCodes } from '../../common/errors';
import { VIEW0, NO_HOLDERS, type ReplicaId, type View, type ViewHolders } from '../../common/view';
import { reportOf, type PersistedView, type ViewStorage } from '../../common/recovery';
import { startWsServer, tokenMatches, frameText, publicHost, type WsServer } from '../net/ws-server';
import { GuardedSocket, remoteOf, POLICY_VIOLATION, type GuardPolicy } from '../net/guarded-socket';
import { createMetricsRegistry } from '../metrics';
import { RateLimitedLog } from '../rate-limited-log';
import { ViewMachine } from './view-machine';
import { FileViewStorage } from './view-store';
import { viewMetrics, type ViewMetrics } from './view-metrics';
import { viewHttpHandlers, ViewHistory, StatsRings, type ViewReader } from './view-http';
import { startViewHa, haReader, type ViewHa } from './etcd/view-ha';
import { logEvent, viewLogger } from './view-log';
import { judgeSubscription } from '../auth/subscription';
import type { Auth } from '../auth/load';

/** A running view service. */
export interface ViewService {
  /** Where replicas and clients connect: `ws://HOST:PORT` (127.0.0.1 when bound to all interfaces). */
  readonly url: string;
  /** The bound port (useful with port 0). */
  readonly port: number;
  /** The core, for status and tests; the shell owns all its inputs. With --etcd it exists only while leading (throws otherwise). */
  readonly machine: ViewMachine;
  /**
   * Stop: the timer first, then close every link with 1012 (service restart: reconnect) and
   * the HTTP server. The view is already on disk (saved before it was announced).
   */
  close(): Promise<void>;
}

export type ViewServiceOptions = ViewOptions & {
  /** Parent logger; the service logs through `child({ role: 'view' })`. @default a pino root at options.logLevel */
  log?: Logger;
  /** @default systemClock */
  clock?: Clock;
  /** Without a saved view, how long to collect the replicas' reports first. @default deadPings × pingIntervalMs */
  recoveryWindowMs?: number;
  /** Close a link that neither pinged nor subscribed within this long. @default IDLE_LINK_MS (10 s) */
  idleLinkMs?: number;
  auth?: Auth; // SPEC §11: JWTs for subscriptions (server/auth/load.ts)
};

/**
 * The view service only takes pings and subscriptions, each a few hundred bytes: a small frame
 * limit keeps a hostile peer from making it buffer megabytes (SPEC §8's 2 MiB is the data path's).
 * @default 64 KiB
 */
const MAX_FRAME_BYTES = 64 * 1024;
/** A socket with more than this queued is a slow consumer: closed (4408), never buffered without bound. */
const MAX_BUFFERED_BYTES = 1024 * 1024;
/** A link that neither pinged nor subscribed this long after opening is closed (1008): idle sockets must not hold slots replicas need. @default 10 s */
const IDLE_LINK_MS = 10_000;

interface LinkState {
  /** The link, with the shared guards: bounded sends, bad-message counting, 4401 closes. */
  readonly socket: GuardedSocket;
  /** The `?token=` of the upgrade request, if any. */
  readonly urlToken: string | null;
  /** The replica this link pings for (the id and incarnation of its last ping). */
  replica: { id: ReplicaId; incarnation: string } | null;
  /** A ping on this link carried the right cluster token. */
  clusterAuthed: boolean;
  /** Closes the link unless a ping or subscribe arrives first (IDLE_LINK_MS). */
  idleTimer: ReturnType<typeof setTimeout> | null;
}

/** Start the view service: WebSocket `/` and HTTP on one port (SPEC §4–§6). */
export async function startViewService(options: ViewServiceOptions): Promise<ViewService> {
  const vs = new ViewServer(options);
  await vs.listen();
  return vs;
}

class ViewServer implements ViewService {
  /** The core; null only with --etcd while not leading. */
  private vm: ViewMachine | null = null;
  /** What GET /view, /readyz and the metrics read: the machine, or with --etcd the committed view. */
  private readonly reader: ViewReader;
  private ha: ViewHa | null = null;
  /** The view replicas and subscribers have been told: never one that is not committed (saved, or in etcd). */
  private announced: { view: View; holders: ViewHolders } = { view: VIEW0, holders: NO_HOLDERS };
  private readonly log: Logger;
  /** Warnings a flood could repeat (bad frames, refusals): rate-limited per kind. */
  private readonly warnings: RateLimitedLog;
  private readonly clock: Clock;
  private readonly links = new Map<WebSocket, LinkState>();
  /** The link that currently speaks for each replica id; only its close kills that replica. */
  private readonly owners = new Map<ReplicaId, LinkState>();
  private readonly subscribers = new Set<LinkState>();
  /** What the guards of every link report (one policy, no closure per socket). */
  private readonly guards: GuardPolicy = {
    maxBufferedBytes: MAX_BUFFERED_BYTES,
    slowConsumer: (s) => {
      this.metrics.slowConsumers.inc();
      this.warnings.warn('slow-consumer', { remote: s.remote, buffered: s.ws.bufferedAmount }, 'closing a slow consumer with 4408');
    },
    unauthorized: (s, what) => {
      // Never log the token itself.
      this.metrics.unauthorized.inc();
      this.warnings.warn('unauthorized', { remote: s.remote }, `${what}: wrong or missing token; closing with 4401`);
    },
  };
  /** The view changes, for the dashboard's timeline (`GET /view/history`). */
  private readonly history = new ViewHistory();
  private readonly stats = new StatsRings(); // each replica's last minutes of ping stats: GET /stats, the dashboard's charts
  private readonly registry = createMetricsRegistry();
  private readonly metrics: ViewMetrics;
  private server: WsServer | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;
  private closing = false;

  constructor(private readonly options: ViewServiceOptions) {
    this.log = viewLogger(options);
    this.warnings = new RateLimitedLog(this.log);
    this.clock = options.clock ?? systemClock;
    if (options.etcd === undefined) this.lead(options.dataDir ? new FileViewStorage(options.dataDir) : undefined);
    else if (options.dataDir) this.log.warn({ dataDir: options.dataDir }, '--data-dir is not used with --etcd: etcd keeps the view');
    this.reader = options.etcd === undefined ? (this.vm as ViewMachine) : haReader(() => this.vm, () => this.ha?.latest ?? null);
    this.metrics = viewMetrics(this.registry, this.reader, () => this.server?.connectionCount() ?? 0, () => this.subscribers.size,
      options.etcd === undefined ? undefined : () => this.ha?.leading ?? false);
  }

  get machine(): ViewMachine {
    if (this.vm === null) throw new Error('this view service instance does not lead (--etcd): it has no view machine');
    return this.vm;
  }

  /** Run the machine (always without --etcd; with it, from the start of a term as leader). */
  private lead(storage: ViewStorage | undefined, initial: PersistedView | null = null): void {
    const o = this.options;
    this.vm = new ViewMachine({ pingIntervalMs: o.pingIntervalMs, deadPings: o.deadPings, clock: this.clock, storage, recoveryWindowMs: o.recoveryWindowMs });
    for (const e of this.vm.takeEvents()) logEvent(this.log, e); // resumed, or recovering
    if (o.etcd === undefined) this.announced = { view: this.vm.view, holders: this.vm.holders };
    else if (initial !== null) this.committed(initial);
  }

  /** --etcd: we lost the lead. Replicas and clients reconnect (1012) and find the leader. */
  private follow(): void {
    this.vm = null;
    for (const st of this.links.values()) st.socket.close(CloseCodes.ServiceRestart, 'view service leader changed');
  }

  /** --etcd: etcd committed this view (ours while leading, the leader's while following): announce it once. */
  private committed(s: PersistedView): void {
    const a = this.announced.view;
    if (s.view.viewnum === a.viewnum && s.view.primary === a.primary && s.view.backup === a.backup) return;
    this.announce(s.view, s.holders);
  }

  get port(): number { return this.server?.port ?? 0; }

  get url(): string { return `ws://${publicHost(this.options.host)}:${this.port}`; }

  async listen(): Promise<void> {
    const o = this.options;
    this.server = await startWsServer({
      port: o.port,
      host: o.host, tls: o.tls,
      maxPayload: Math.min(MAX_FRAME_BYTES, o.limits.maxMessageBytes),
      maxConnections: o.maxConnections,
      log: this.log,
      keepaliveMs: o.keepaliveMs,
      routes: { '/': (ws, req, url) => this.onConnection(ws, req, url) },
      http: viewHttpHandlers({
        machine: this.reader, history: this.history, stats: () => this.stats.toJSON(this.clock.now()), registry: this.registry, log: this.log,
        closing: () => this.closing, users: () => o.auth?.users.list() ?? [],
        ...(o.etcd === undefined ? {} : { ha: () => ({ leading: this.ha?.leading ?? false, leader: this.ha?.leader ?? null }), instances: () => this.ha?.instances() ?? Promise.reject(new Error('starting')) }),
      }),
    });
    if (o.etcd !== undefined) {
      const shell = { lead: (st: ViewStorage, initial: PersistedView | null) => this.lead(st, initial), follow: () => this.follow(), committed: (st: PersistedView) => this.committed(st) };
      this.ha = await startViewHa(o.etcd, o.etcd.advertiseUrl ?? this.url, shell, this.log);
    }
    // The view service's only timer (STYLE §2): deaths are found here (SPEC §2.6).
    this.timer = setInterval(() => this.onTick(), o.pingIntervalMs);
    this.timer.unref();
    this.log.debug({ port: this.port, pingIntervalMs: o.pingIntervalMs, deadPings: o.deadPings }, 'view service started');
  }

  /** Bound, so `const { close } = service` works too. */
  readonly close = async (): Promise<void> => {
    if (this.closing) return;
    this.closing = true; // from now on, link closes are ours, not replica deaths
    if (this.timer) clearInterval(this.timer);
    // Revoking our lease lets another instance lead at once instead of after the TTL.
    await this.ha?.stop().catch((err: Error) => this.log.warn({ err: err.message }, 'etcd: could not give up the lease'));
    await this.server?.close(CloseCodes.ServiceRestart, 'view service restarting');
  };

  // ── inputs ──

  private onTick(): void {
    try {
      this.vm?.tick();
      this.flush();
    } catch (err) {
      this.log.error({ err }, 'tick failed');
    }
  }

  private onConnection(ws: WebSocket, req: IncomingMessage, url: URL): void {
    const st: LinkState = {
      socket: new GuardedSocket(ws, remoteOf(req), this.guards),
      urlToken: url.searchParams.get('token'),
      replica: null,
      clusterAuthed: false,
      idleTimer: null,
    };
    st.idleTimer = setTimeout(() => {
      st.idleTimer = null;
      if (!st.socket.open) return;
      this.metrics.idleClosed.inc();
      this.warnings.warn('idle', { remote: st.socket.remote }, 'link neither pinged nor subscribed in time; closing with 1008');
      st.socket.close(POLICY_VIOLATION, 'no ping or subscribe');
    }, this.options.idleLinkMs ?? IDLE_LINK_MS);
    st.idleTimer.unref?.();
    this.links.set(ws, st);
    ws.on('message', (data, isBinary) => {
      try {
        this.onMessage(st, data, isBinary);
      } catch (err) {
        // A bug must not take the process down with it (SPEC §1); it is logged loudly.
        this.log.error({ err, remote: st.socket.remote }, 'message handler failed');
      }
    });
    ws.on('close', () => {
      if (st.idleTimer) clearTimeout(st.idleTimer);
      this.links.delete(ws);
      this.subscribers.delete(st);
      if (this.closing) return;
      this.release(st);
      this.flush();
    });
  }

  private onMessage(st: LinkState, data: unknown, isBinary: boolean): void {
    if (!st.socket.open) return; // e.g. closed with 4401: what follows is ignored
    const text = frameText(data, isBinary);
    if (text === null) { this.sendError(st, 'BAD_REQUEST', 'binary frames are not accepted: send JSON text frames'); return; }
    const msg = decode(text, this.options.limits);
    if (isProtocolError(msg)) { this.sendError(st, msg.code, msg.message); return; }
    if (msg.type === 'ping') { st.socket.good(); this.onPing(st, msg); return; }
    if (msg.type === 'leave') { st.socket.good(); this.onLeave(st, msg); return; }
    if (msg.type === 'subscribe') { st.socket.good(); this.onSubscribe(st, msg); return; }
    this.sendError(st, 'BAD_REQUEST', `the view service takes only "ping" and "subscribe" messages (got ${JSON.stringify(msg.type)})`);
  }

  /**
   * SPEC §6: with a cluster token, it is in each ping (or leave), or in the link's first one
   * (or the upgrade URL's ?token=). A wrong one closes the link with 4401.
   */
  private clusterAuthed(st: LinkState, token: string | undefined, what: string): boolean {
    const expected = this.options.clusterToken;
    if (expected === null || (token === undefined && st.clusterAuthed)) return true;
    if (!tokenMatches(expected, token ?? st.urlToken)) { st.socket.refuse(what); return false; }
    st.clusterAuthed = true;
    return true;
  }

  private onPing(st: LinkState, msg: PingMsg): void {
    if (!this.clusterAuthed(st, msg.token, 'ping')) return;
    this.notIdle(st);
    const prev = st.replica;
    if (prev !== null && (prev.id !== msg.id || prev.incarnation !== msg.incarnation)) this.release(st);
    const owner = this.owners.get(msg.id);
    if (owner !== undefined && owner !== st) {
      // A newer link for the same replica (it reconnected; the old link may be half-open).
      // The old link's close must not kill the replica, so it stops owning the id now.
      owner.replica = null;
      this.log.info({ id: msg.id, remote: st.socket.remote }, 'replica link replaced by a newer one');
      owner.socket.close(CloseCodes.Replaced, 'replaced by a newer link');
    }
    st.replica = { id: msg.id, incarnation: msg.incarnation };
    this.owners.set(msg.id, st);
    if (msg.stats !== undefined) this.stats.record(msg.id, this.clock.now(), msg.stats);
    // A follower (--etcd) only tells the committed view: its pings count at the leader alone.
    this.vm?.ping(msg.id, msg.incarnation, msg.viewnum, reportOf(msg));
    if (msg.suspect !== undefined) this.vm?.suspect(msg.id, msg.incarnation, msg.suspect);
    // A new view goes to every link, this one included; otherwise answer this ping alone.
    if (!this.flush()) st.socket.send(this.viewText());
  }

  /**
   * A replica shutting down gracefully: its incarnation is dead now, so the failover starts
   * at once. The link keeps its ownership, so the leaving replica still hears the new view
   * (it answers its held requests NOT_PRIMARY with it); its later close changes nothing.
   */
  private onLeave(st: LinkState, msg: LeaveMsg): void {
    if (!this.clusterAuthed(st, msg.token, 'leave')) return;
    this.log.info({ id: msg.id, incarnation: msg.incarnation }, `replica ${msg.id} is leaving`);
    this.vm?.leave(msg.id, msg.incarnation);
    this.flush();
  }

  private onSubscribe(st: LinkState, msg: SubscribeMsg): void {
    judgeSubscription(this.options, msg.token ?? st.urlToken, () => { if (st.socket.open) this.subscribe(st); }, (why) => st.socket.refuse(why), st.socket.ws);
  }

  private subscribe(st: LinkState): void {
    if (!this.subscribers.has(st)) {
      if (this.subscribers.size >= this.options.maxSubscribers) {
        this.metrics.overloaded.inc();
        this.warnings.warn('overloaded', { remote: st.socket.remote, limit: this.options.maxSubscribers }, 'subscription refused: maxSubscribers reached; closing with 4429');
        st.socket.close(CloseCodes.Overloaded, 'too many subscriptions');
        return;
      }
      this.log.debug({ remote: st.socket.remote }, 'subscriber added');
    }
    this.notIdle(st);
    this.subscribers.add(st);
    st.socket.send(this.viewText());
  }

  private notIdle(st: LinkState): void {
    if (st.idleTimer) clearTimeout(st.idleTimer);
    st.idleTimer = null;
  }

  /** The link no longer speaks for its replica: if it owned the id, that incarnation is dead. */
  private release(st: LinkState): void {
    const r = st.replica;
    st.replica = null;
    if (r === null || this.owners.get(r.id) !== st) return;
    this.owners.delete(r.id);
    this.vm?.linkClosed(r.id, r.incarnation);
  }

  // ── effects ──

  /** Log what the machine reports, and push a new view to everyone at once (SPEC §2.9). */
  private flush(): boolean {
    const vm = this.vm;
    if (vm === null) return false;
    for (const e of vm.takeEvents()) logEvent(this.log, e);
    const next = vm.takeNewView();
    // With --etcd the view is announced when etcd has committed it (committed()), not now.
    if (next === null || this.options.etcd !== undefined) return false;
    this.announce(next.view, next.holders);
    return true;
  }

  private announce(view: View, holders: ViewHolders): void {
    this.announced = { view, holders };
    this.metrics.viewChanges.inc();
    this.history.add(view, this.clock.now());
    this.log.info({ viewnum: view.viewnum, primary: view.primary, backup: view.backup, holders },
      `view ${view.viewnum}: primary=${view.primary ?? '-'} backup=${view.backup ?? '-'}`);
    const text = this.viewText(); // encoded once, sent to all
    for (const st of new Set<LinkState>([...this.owners.values(), ...this.subscribers])) st.socket.send(text);
  }

  /** The announced view; from a follower (--etcd) with the leader hint, PROTOCOL §1.1. */
  private viewText(): string {
    const msg: ViewMsg = { type: 'view', view: this.announced.view, holders: this.announced.holders };
    const leader = this.ha !== null && !this.ha.leading ? this.ha.leader?.url : undefined;
    if (leader !== undefined) msg.leader = leader;
    return encode(msg);
  }

  private sendError(st: LinkState, code: ErrorMsg['code'], message: string): void {
    this.metrics.badMessages.inc();
    this.warnings.warn('bad-message', { remote: st.socket.remote, code, reason: message }, 'bad message');
    st.socket.send(encode({ type: 'error', code, message }));
    st.socket.bad();
  }
}
