/**
 * The transport shell shared by the view service and the replicas (STYLE §4): one
 * http.Server, one WebSocketServer in noServer mode with maxPayload, a connection bound,
 * routing by path, and constant-time token checks. Cores never see `ws`.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import * as fs from 'node:fs';
import { timingSafeEqual, createHash } from 'node:crypto';
import { WebSocketServer, WebSocket } from 'ws';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../common/logger';
import type { TlsOptions } from '../../common/config';
import { CloseCodes } from '../../common/errors';
import { RateLimitedLog } from '../rate-limited-log';

/** The three members the cores' shells use (STYLE §4). */
export interface WebSocketLike {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  readonly readyState: number;
}

export type HttpHandler = (req: http.IncomingMessage, res: http.ServerResponse) => boolean | void;
export type WsHandler = (ws: WebSocket, req: http.IncomingMessage, url: URL) => void;

export interface WsServerOptions {
  port: number;
  host: string;
  /** SPEC §11: serve https:// and wss:// with this certificate and key (PEM files). @default plain http/ws */
  tls?: TlsOptions;
  maxPayload: number;
  /** Most open WebSocket connections on each path, unless `routeLimits` names the path. */
  maxConnections: number;
  /**
   * Per-path bounds that replace maxConnections for that path, so one kind of link cannot
   * take the slots another needs (a replica's `/peer` keeps its own few slots however many
   * clients connect to `/`). @default none
   */
  routeLimits?: Record<string, number>;
  log: Logger;
  /** Path → handler for WebSocket upgrades. */
  routes: Record<string, WsHandler>;
  /** Tried in order for plain HTTP requests; the first that returns true answered. */
  http: HttpHandler[];
  /**
   * Keepalive: send a WebSocket ping to every connection this often; one that has not
   * answered the previous ping with a pong by then is half-open and is terminated (its
   * 'close' fires as for any other drop). Keeps routers with idle timeouts (55 s) from
   * cutting quiet links. 0 or absent: off.
   */
  keepaliveMs?: number;
}

export interface WsServer {
  readonly server: http.Server;
  readonly wss: WebSocketServer;
  /** The bound port (useful with port 0). */
  readonly port: number;
  /** Close every WebSocket with `code` (default 1001 going away; 1012 for a restart) and stop listening. */
  close(code?: number, reason?: string): Promise<void>;
  connectionCount(): number;
}

/** Constant-time token comparison (hashing first hides the length too). */
export function tokenMatches(expected: string | null, given: unknown): boolean {
  if (expected === null) return true;
  if (typeof given !== 'string') return false;
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(given).digest();
  return timingSafeEqual(a, b);
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(text);
}

export async function startWsServer(o: WsServerOptions): Promise<WsServer> {
  const server = createServer(o, (req, res) => {
    try {
      for (const h of o.http) if (h(req, res)) return;
      sendJson(res, 404, { error: 'not found' });
    } catch (err) {
      o.log.error({ err }, 'http handler failed');
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
      else res.end();
    }
  });
  server.keepAliveTimeout = 65_000;
  const wss = new WebSocketServer({ noServer: true, maxPayload: o.maxPayload, perMessageDeflate: false });
  server.on('upgrade', upgradeHandler(o, wss));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => { server.off('error', reject); resolve(); });
  });
  const port = (server.address() as AddressInfo).port;
  const keepalive = startKeepalive(wss, o.keepaliveMs ?? 0, o.log);
  return {
    server,
    wss,
    port,
    connectionCount: () => wss.clients.size,
    close: (code: number = CloseCodes.GoingAway, reason = 'shutting down') => new Promise<void>((resolve) => {
      if (keepalive) clearInterval(keepalive);
      for (const ws of wss.clients) ws.close(code, reason);
      wss.close();
      server.close(() => resolve());
      server.closeAllConnections?.();
      setTimeout(() => { for (const ws of wss.clients) ws.terminate(); }, 200).unref();
    }),
  };
}

/** http, or https when `o.tls` names a certificate and key (read once, at start). */
function createServer(o: WsServerOptions, handler: http.RequestListener): http.Server {
  if (!o.tls) return http.createServer(handler);
  return https.createServer({ cert: fs.readFileSync(o.tls.certFile), key: fs.readFileSync(o.tls.keyFile) }, handler);
}

/** Route WebSocket upgrades by path, within each path's connection bound (HTTP 404 / 503 otherwise). */
function upgradeHandler(o: WsServerOptions, wss: WebSocketServer): (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void {
  const warnings = new RateLimitedLog(o.log);
  const open = new Map<string, number>(); // path → open connections (keys: the fixed route paths)
  return (req, socket, head) => {
    // Until ws takes the socket over, a reset from the other end must not become an
    // unhandled 'error' (SPEC §1: bad input never kills the process).
    socket.on('error', () => socket.destroy());
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      socket.destroy();
      return;
    }
    const route = o.routes[url.pathname];
    if (!route) {
      socket.write('HTTP/1.1 404 Not Found\r\nconnection: close\r\n\r\n');
      socket.destroy();
      return;
    }
    const path = url.pathname;
    const limit = o.routeLimits?.[path] ?? o.maxConnections;
    if ((open.get(path) ?? 0) >= limit) {
      warnings.warn('max-connections', { path, limit }, `connection refused on ${path}: limit of ${limit} open connections reached (HTTP 503)`);
      socket.write('HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\n\r\n');
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      open.set(path, (open.get(path) ?? 0) + 1);
      ws.once('close', () => open.set(path, (open.get(path) ?? 1) - 1));
      ws.on('error', (err) => o.log.debug({ err: err.message }, 'websocket error'));
      route(ws, req, url);
    });
  };
}

/**
 * Ping every connection each `everyMs`; terminate one whose previous ping got no pong (a
 * half-open TCP connection, or a peer that stopped reading). Only a pong counts: it proves
 * the round trip, where an incoming message proves one direction only.
 */
function startKeepalive(wss: WebSocketServer, everyMs: number, log: Logger): NodeJS.Timeout | null {
  if (!(everyMs > 0)) return null;
  const waiting = new WeakSet<WebSocket>();
  const seen = new WeakSet<WebSocket>();
  const timer = setInterval(() => {
    for (const ws of wss.clients) {
      if (!seen.has(ws)) {
        seen.add(ws);
        ws.on('pong', () => waiting.delete(ws));
      } else if (waiting.has(ws)) {
        log.info({ keepaliveMs: everyMs }, `no pong within ${everyMs} ms: terminating a half-open link`);
        ws.terminate();
        continue;
      }
      waiting.add(ws);
      try { ws.ping(); } catch { /* closing */ }
    }
  }, everyMs);
  timer.unref();
  return timer;
}

/** Read a text frame; binary frames are refused (the protocol is JSON text). */
export function frameText(data: unknown, isBinary: boolean): string | null {
  if (isBinary) return null;
  if (typeof data === 'string') return data;
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data as Buffer[]).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return null;
}

/** The host to put in `url`: loopback when bound to every interface, brackets for IPv6. */
export function publicHost(host: string): string {
  if (host === '0.0.0.0' || host === '' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}
