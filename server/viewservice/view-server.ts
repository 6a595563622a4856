/**
 * The view service's shell (STYLE §4): sockets, the one timer and HTTP around the
 * deterministic ViewMachine. It translates socket events into machine inputs (ping,
 * linkClosed, tick) and the machine's outbox into one broadcast: encoded once, the same
 * string to every linked replica and every subscriber (SPEC §2.9, §6).
 *
 *   ws "/"  ping ──▶ token check ──▶ vm.ping ──▶ new view? broadcast : reply
 *           subscribe ──▶ token check ──▶ current view, then every new one
 *           close ──▶ vm.linkClosed (only for the link that owns that replica id)
 *   timer   every pingInterval ──▶ vm.tick ──▶ new view? broadcast
 *   HTTP    /healthz, /view, /view/history, /metrics, / (dashboard)
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { WebSocket } from 'ws';
import { Counter, Gauge } from 'prom-client';
import { decode, encode, isProtocolError } from '../../common/protocol';
import type { PingMsg, SubscribeMsg, ViewMsg, ErrorMsg } from '../../common/messages';
import type { ViewOptions } from '../../common/config';
import type { Logger } from '../../common/logger';
import { systemClock, type Clock } from '../../common/clock';
import { CloseCodes } from '../../common/errors';
import type { ReplicaId } from '../../common/view';
import { startWsServer, tokenMatches, sendJson, frameText, type WsServer } from '../net/ws-server';
import { createMetricsRegistry, metricsHandler, pathOf } from '../metrics';
import { createLogger } from '../log';
import { ViewMachine, type ViewMachineEvent } from './view-machine';
import { dashboardHtml, dashboardCsp } from './dashboard';

/** A running view service. */
export interface ViewService {
  /** Where replicas and clients connect: `ws://HOST:PORT` (127.0.0.1 when bound to all interfaces). */
  readonly url: string;
  /** The bound port (useful with port 0). */
  readonly port: number;
  /** The core, for status and tests; the shell owns all its inputs. */
  readonly machine: ViewMachine;
  /** Close every link (1001) and the HTTP server; stop the timer. */
  close(): Promise<void>;
}

export type ViewServiceOptions = ViewOptions & {
  /** Parent logger; the service logs through `child({ role: 'view' })`. @default a pino root at options.logLevel */
  log?: Logger;
  /** @default systemClock */
  clock?: Clock;
};

/**
 * The view service only takes pings and subscriptions, each a few hundred bytes: a small
 * frame limit keeps a hostile peer from making it buffer megabytes (SPEC §8's 2 MiB is for
 * the data path).
 * @default 64 KiB
 */
const MAX_FRAME_BYTES = 64 * 1024;
/** A socket with more than this queued is a slow consumer: closed (4408), never buffered without bound. */
const MAX_BUFFERED_BYTES = 1024 * 1024;
/** This many undecodable messages in a row close the link (1008 policy violation). */
const MAX_BAD_IN_ROW = 20;
const POLICY_VIOLATION = 1008;
/** View changes kept for the dashboard's timeline (`GET /view/history`). */
const HISTORY_LENGTH = 200;

interface LinkState {
  readonly remote: string;
  /** The `?token=` of the upgrade request, if any. */
  readonly urlToken: string | null;
  /** The replica this link pings for (the id and incarnation of its last ping). */
  replica: { id: ReplicaId; incarnation: string } | null;
  /** A ping on this link carried the right cluster token. */
  clusterAuthed: boolean;
  badInRow: number;
}

interface HistoryEntry { viewnum: number; primary: ReplicaId | null; backup: ReplicaId | null; at: number }

/** Start the view service: WebSocket `/` and HTTP on one port (SPEC §4–§6). */
export async function startViewService(options: ViewServiceOptions): Promise<ViewService> {
  const log = viewLogger(options);
  const clock = options.clock ?? systemClock;
  const vm = new ViewMachine({ pingIntervalMs: options.pingIntervalMs, deadPings: options.deadPings, clock });
  const links = new Map<WebSocket, LinkState>();
  /** The link that currently speaks for each replica id; only its close kills that replica. */
  const owners = new Map<ReplicaId, WebSocket>();
  const subscribers = new Set<WebSocket>();
  const history: HistoryEntry[] = [];
  let closing = false;
  let server: WsServer | null = null;

  // ── metrics ──
  const registry = createMetricsRegistry();
  new Gauge({ name: 'understudy_viewnum', help: 'The current view number.', registers: [registry], collect() { this.set(vm.view.viewnum); } });
  new Gauge({ name: 'understudy_view_acked', help: '1 if the primary acknowledged the current view.', registers: [registry], collect() { this.set(vm.acked ? 1 : 0); } });
  new Gauge({
    name: 'understudy_replicas_alive', help: 'Replicas the view service considers alive.', registers: [registry],
    collect() { this.set(vm.status().servers.filter((s) => s.alive).length); },
  });
  new Gauge({ name: 'understudy_connections', help: 'Open WebSocket connections.', registers: [registry], collect() { this.set(server ? server.connectionCount() : 0); } });
  new Gauge({ name: 'understudy_subscribers', help: 'Subscribed clients.', registers: [registry], collect() { this.set(subscribers.size); } });
  const viewChanges = new Counter({ name: 'understudy_view_changes_total', help: 'View changes since start.', registers: [registry] });
  const badMessages = new Counter({ name: 'understudy_bad_messages_total', help: 'Messages answered with an error.', registers: [registry] });
  const slowClosed = new Counter({ name: 'understudy_slow_consumers_total', help: 'Links closed because their send buffer was over the bound.', registers: [registry] });

  // ── sending ──
  function sendText(ws: WebSocket, text: string): void {
    if (ws.readyState !== WebSocket.OPEN) return;
    if (ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      slowClosed.inc();
      log.warn({ remote: links.get(ws)?.remote, buffered: ws.bufferedAmount }, 'closing a slow consumer');
      ws.close(CloseCodes.SlowConsumer, 'send buffer full');
      return;
    }
    ws.send(text);
  }

  function viewText(): string {
    const msg: ViewMsg = { type: 'view', view: vm.view, holders: vm.holders };
    return encode(msg);
  }

  function sendError(ws: WebSocket, st: LinkState, code: ErrorMsg['code'], message: string): void {
    badMessages.inc();
    log.warn({ remote: st.remote, code, reason: message }, 'bad message');
    sendText(ws, encode({ type: 'error', code, message }));
    if (++st.badInRow >= MAX_BAD_IN_ROW) ws.close(POLICY_VIOLATION, 'too many bad messages');
  }

  /** Log what the machine reports, and push a new view to everyone at once (SPEC §2.9). */
  function flush(): boolean {
    for (const e of vm.takeEvents()) logEvent(log, e);
    const next = vm.takeNewView();
    if (next === null) return false;
    viewChanges.inc();
    const { view } = next;
    history.push({ viewnum: view.viewnum, primary: view.primary, backup: view.backup, at: clock.now() });
    if (history.length > HISTORY_LENGTH) history.shift();
    log.info({ viewnum: view.viewnum, primary: view.primary, backup: view.backup, holders: next.holders },
      `view ${view.viewnum}: primary=${view.primary ?? '-'} backup=${view.backup ?? '-'}`);
    const text = encode({ type: 'view', view, holders: next.holders });
    const targets = new Set<WebSocket>([...owners.values(), ...subscribers]);
    for (const ws of targets) sendText(ws, text);
    return true;
  }

  // ── inputs ──
  function unauthorized(ws: WebSocket, st: LinkState, what: string): void {
    // Never log the token itself.
    log.warn({ remote: st.remote }, `${what}: wrong or missing token; closing with 4401`);
    ws.close(CloseCodes.Unauthorized, 'unauthorized');
  }

  /** The link no longer speaks for its replica: if it owned the id, that incarnation is dead. */
  function release(ws: WebSocket, st: LinkState): void {
    const r = st.replica;
    st.replica = null;
    if (r === null || owners.get(r.id) !== ws) return;
    owners.delete(r.id);
    vm.linkClosed(r.id, r.incarnation);
  }

  function onPing(ws: WebSocket, st: LinkState, msg: PingMsg): void {
    // SPEC §6: the token is in each ping, or in the first (or the upgrade URL's ?token=).
    const token = options.clusterToken;
    if (token !== null && (msg.token !== undefined || !st.clusterAuthed)) {
      if (!tokenMatches(token, msg.token ?? st.urlToken)) { unauthorized(ws, st, 'ping'); return; }
      st.clusterAuthed = true;
    }
    const prev = st.replica;
    if (prev !== null && (prev.id !== msg.id || prev.incarnation !== msg.incarnation)) release(ws, st);
    const owner = owners.get(msg.id);
    if (owner !== undefined && owner !== ws) {
      // A newer link for the same replica (it reconnected; the old link may be half-open).
      // The old link's close must not kill the replica, so it stops owning the id now.
      const old = links.get(owner);
      if (old) old.replica = null;
      log.info({ id: msg.id, remote: st.remote }, 'replica link replaced by a newer one');
      owner.close(CloseCodes.Replaced, 'replaced by a newer link');
    }
    st.replica = { id: msg.id, incarnation: msg.incarnation };
    owners.set(msg.id, ws);
    vm.ping(msg.id, msg.incarnation, msg.viewnum);
    // A new view goes to every link, this one included; otherwise answer this ping alone.
    if (!flush()) sendText(ws, viewText());
  }

  function onSubscribe(ws: WebSocket, st: LinkState, msg: SubscribeMsg): void {
    if (options.clientToken !== null) {
      const given = msg.token ?? st.urlToken ?? undefined;
      const ok = tokenMatches(options.clientToken, given) || (options.clusterToken !== null && tokenMatches(options.clusterToken, given));
      if (!ok) { unauthorized(ws, st, 'subscribe'); return; }
    }
    if (!subscribers.has(ws)) log.debug({ remote: st.remote }, 'subscriber added');
    subscribers.add(ws);
    sendText(ws, viewText());
  }

  function onMessage(ws: WebSocket, st: LinkState, data: unknown, isBinary: boolean): void {
    const text = frameText(data, isBinary);
    if (text === null) { sendError(ws, st, 'BAD_REQUEST', 'binary frames are not accepted: send JSON text frames'); return; }
    const msg = decode(text, options.limits);
    if (isProtocolError(msg)) { sendError(ws, st, msg.code, msg.message); return; }
    if (msg.type === 'ping') { st.badInRow = 0; onPing(ws, st, msg); return; }
    if (msg.type === 'subscribe') { st.badInRow = 0; onSubscribe(ws, st, msg); return; }
    sendError(ws, st, 'BAD_REQUEST', `the view service takes only "ping" and "subscribe" messages (got ${JSON.stringify(msg.type)})`);
  }

  function onConnection(ws: WebSocket, req: IncomingMessage, url: URL): void {
    const st: LinkState = {
      remote: `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`,
      urlToken: url.searchParams.get('token'),
      replica: null,
      clusterAuthed: false,
      badInRow: 0,
    };
    links.set(ws, st);
    ws.on('message', (data, isBinary) => {
      try {
        onMessage(ws, st, data, isBinary);
      } catch (err) {
        // A bug must not take the process down with it (SPEC §1); it is logged loudly.
        log.error({ err, remote: st.remote }, 'message handler failed');
      }
    });
    ws.on('close', () => {
      links.delete(ws);
      subscribers.delete(ws);
      if (closing) return; // shutting down: links close because we close them
      release(ws, st);
      flush();
    });
  }

  // ── HTTP ──
  function onHttp(req: IncomingMessage, res: ServerResponse): boolean {
    const p = pathOf(req);
    if (p !== '/' && p !== '/healthz' && p !== '/view' && p !== '/view/history') return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
      res.end('method not allowed\n');
      return true;
    }
    if (p === '/healthz') sendJson(res, 200, { ok: true });
    else if (p === '/view') sendJson(res, 200, viewJson(vm));
    else if (p === '/view/history') sendJson(res, 200, { history });
    else {
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        'content-security-policy': dashboardCsp(),
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
      });
      res.end(req.method === 'HEAD' ? undefined : dashboardHtml());
    }
    return true;
  }

  server = await startWsServer({
    port: options.port,
    host: options.host,
    maxPayload: Math.min(MAX_FRAME_BYTES, options.limits.maxMessageBytes),
    maxConnections: options.maxConnections,
    log,
    routes: { '/': onConnection },
    http: [onHttp, metricsHandler(registry, log)],
  });

  // The view service's only timer (STYLE §2): deaths are found here (SPEC §2.6).
  const timer = setInterval(() => {
    try {
      vm.tick();
      flush();
    } catch (err) {
      log.error({ err }, 'tick failed');
    }
  }, options.pingIntervalMs);
  timer.unref();

  const port = server.port;
  const url = `ws://${publicHost(options.host)}:${port}`;
  const ws = server;
  log.debug({ port, pingIntervalMs: options.pingIntervalMs, deadPings: options.deadPings }, 'view service started');
  return {
    url,
    port,
    machine: vm,
    close: async () => {
      if (closing) return;
      closing = true;
      clearInterval(timer);
      await ws.close();
    },
  };
}

/** `GET /view` (SPEC §5): exactly viewnum, primary, backup, acked, servers[{id, alive, lastPingMs}]. */
export function viewJson(vm: ViewMachine): { viewnum: number; primary: ReplicaId | null; backup: ReplicaId | null; acked: boolean; servers: { id: ReplicaId; alive: boolean; lastPingMs: number }[] } {
  const s = vm.status();
  return {
    viewnum: s.viewnum,
    primary: s.primary,
    backup: s.backup,
    acked: s.acked,
    servers: s.servers.map(({ id, alive, lastPingMs }) => ({ id, alive, lastPingMs })),
  };
}

function logEvent(log: Logger, e: ViewMachineEvent): void {
  const fields = { id: e.id, incarnation: e.incarnation };
  switch (e.kind) {
    case 'joined': log.info(fields, `replica ${e.id} joined`); break;
    case 'revived': log.info(fields, `replica ${e.id} pings again`); break;
    case 'dead': log.warn({ ...fields, reason: e.reason }, `replica ${e.id} dead (${e.reason})`); break;
    case 'forgotten': log.debug(fields, `replica ${e.id} forgotten`); break;
  }
}

/** The child logger `{ role: 'view' }`, unless the given logger already carries that binding. */
function viewLogger(options: ViewServiceOptions): Logger {
  const base = options.log ?? createLogger(options.logLevel);
  const bindings = (base as { bindings?: () => Record<string, unknown> }).bindings;
  if (typeof bindings === 'function' && bindings.call(base).role === 'view') return base;
  return base.child({ role: 'view' });
}

/** The host to put in `url`: loopback when bound to every interface, brackets for IPv6. */
function publicHost(host: string): string {
  if (host === '0.0.0.0' || host === '' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

