/**
 * A message-aware, fault-injecting WebSocket proxy for tests (chaos harness, split-brain
 * tests). Put one in front of every server a test talks to: the client connects to
 * `proxy.url` instead of the server, the proxy opens its own `ws` connection to `target` with
 * the same path and query string, and relays every frame, per direction, in order.
 *
 *   client ──► proxy ──► target        "toTarget"   (what the client sends)
 *   client ◄── proxy ◄── target        "fromTarget" (what the target sends back)
 *
 * Relaying
 * - Text stays text, binary stays binary; ping/pong frames are relayed end to end (auto-pong is
 *   off on both of the proxy's sockets), so a WebSocket-level heartbeat measures the whole path
 *   and sees the faults.
 * - Closing: a close from one side is forwarded to the other with the same code and reason when
 *   that code may be sent (1000–1003, 1007–1014, 3000–4999); 1005 (no code) is forwarded as a
 *   close without a code; an abnormal end (1006, a socket error) terminates the other side; any
 *   other code becomes 1011. The close travels in the same queue as the messages, so it arrives
 *   after them (it is delayed, held and throttled like a message; a blackhole defers it until
 *   healed, as TCP would retransmit a FIN).
 * - Plain HTTP requests (GET /healthz, /digest, /view…) are forwarded too; of the faults only
 *   cut / closed-proxy apply to them.
 *
 * Handshake modes (`handshake` option)
 * - 'transparent' (default): the proxy first opens the upstream connection and only then
 *   accepts the client's upgrade, choosing the subprotocol the target chose. When the target
 *   refuses the upgrade the client gets the same HTTP status (401, 404, 503…) and when the
 *   target is unreachable (refused, timeout) the client gets HTTP 502 — killing a server behind
 *   a proxy looks to its clients like killing the server.
 * - 'eager': the client's upgrade is accepted at once; messages it sends before the upstream is
 *   open are queued (bounded by maxQueuedBytes / maxQueuedMessages) and flushed in order once it
 *   opens. If the upstream upgrade fails the client's socket is closed with 4401 when the target
 *   answered 401, otherwise with 1011. The subprotocol chosen is the client's first offer.
 *
 * Faults (combinable; `heal()` clears all of them)
 * - cut(durationMs?)     terminate every link (both sides see 1006) and refuse new TCP
 *                        connections (accepted, then destroyed) until heal() or the duration ends.
 * - blackhole(dir)       keep links up, silently drop every message in that direction.
 * - delay({fixedMs, randomMs, direction})  each message waits fixedMs + random()*randomMs after
 *                        it arrived, and never overtakes the previous one in its direction.
 * - hold(dir) / release(dir?)  buffer everything in that direction until released (in order).
 * - flaky({closeProbabilityPerMessage, refuseProbabilityPerConnection, direction})
 *                        per relayed message, with that probability, terminate the link (the
 *                        message and everything in flight is lost); per new connection, refuse it.
 * - slow({bytesPerSecond, direction})  bandwidth limit: a message of n bytes occupies its
 *                        direction for n/bytesPerSecond seconds (serialised, in order, no burst).
 * - closeAll(code?)      a "link restart": end all current links now (terminate, or close with
 *                        `code` on both sides), new connections are accepted as usual.
 *
 * Randomness comes only from `opts.random` (default Math.random; use `seededRandom(seed)` for
 * reproducible runs). It is drawn, in message-arrival order, once per message for flaky (when
 * a close probability is set for that direction) then once for delay (when randomMs > 0), and
 * once per new connection for refuseProbabilityPerConnection.
 *
 * No global state: any number of proxies may run in one process. close() terminates every
 * socket, aborts pending upstream connects and HTTP requests, clears every timer, and resolves
 * once the listening server is closed. There is no backpressure: the proxy buffers (bounded by
 * maxQueuedBytes/maxQueuedMessages per link and direction; beyond them the link is terminated).
 */
import * as http from 'node:http';
import type { Duplex } from 'node:stream';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { mulberry32 } from './random';

export type Direction = 'both' | 'toTarget' | 'fromTarget';
type Dir = 'toTarget' | 'fromTarget';

export interface FaultProxyOptions {
  /** Where to relay, e.g. 'ws://127.0.0.1:7101' (a path, if any, prefixes the client's path). */
  target: string;
  /** @default 0 (an ephemeral port; read proxy.port / proxy.url) */
  port?: number;
  /** @default '127.0.0.1' */
  host?: '127.0.0.1' | 'localhost' | '::1';
  /** A PRNG in [0,1) for delay jitter and flaky; @default Math.random */
  random?: () => number;
  /** Shown in stats() (e.g. 'client→vs', 'p→b'). */
  name?: string;
  /** @default 'transparent' (see the module comment) */
  handshake?: 'transparent' | 'eager';
  /** Largest frame relayed, both sides. @default 256 MiB (must exceed any server limit under test) */
  maxPayload?: number;
  /** Per link and direction, bytes queued in the proxy before the link is terminated. @default 64 MiB */
  maxQueuedBytes?: number;
  /** Per link and direction, messages queued in the proxy before the link is terminated. @default 100000 */
  maxQueuedMessages?: number;
  /** Upstream opening handshake timeout. @default 5000 */
  connectTimeoutMs?: number;
}

export interface DelayOptions {
  fixedMs: number;
  /** A uniform extra delay in [0, randomMs). @default 0 */
  randomMs?: number;
  /** @default 'both' */
  direction?: Direction;
}

export interface FlakyOptions {
  /** Per relayed (data) message, the probability that the link is terminated instead. @default 0 */
  closeProbabilityPerMessage?: number;
  /** Per new incoming connection, the probability that it is refused (socket destroyed). @default 0 */
  refuseProbabilityPerConnection?: number;
  /** Which messages draw for closeProbabilityPerMessage. @default 'both' */
  direction?: Direction;
}

export interface SlowOptions {
  bytesPerSecond: number;
  /** @default 'both' */
  direction?: Direction;
}

export interface DirectionStats {
  /** Data messages delivered to the other side. */
  messages: number;
  /** Bytes of those messages. */
  bytes: number;
  /** Data messages dropped (blackhole, flaky, cut/closeAll/close with messages in flight, dead peer). */
  dropped: number;
  /** Ping/pong frames delivered. */
  control: number;
}

export interface FaultProxyStats {
  name: string;
  /** Client connections accepted (links created). */
  connections: number;
  /** Connections refused (cut, flaky refuse, closed proxy). */
  refused: number;
  /** Upstream handshakes that failed. */
  upstreamFailures: number;
  /** Links currently alive (same as links()). */
  live: number;
  /** Links ended by a fault (cut, flaky, closeAll, queue overflow). */
  injectedCloses: number;
  toTarget: DirectionStats;
  fromTarget: DirectionStats;
}

export interface FaultState {
  cut: boolean;
  blackhole: Dir[];
  hold: Dir[];
  delay: Partial<Record<Dir, { fixedMs: number; randomMs: number }>>;
  slow: Partial<Record<Dir, number>>;
  flaky: { closeProbabilityPerMessage: Partial<Record<Dir, number>>; refuseProbabilityPerConnection: number };
}

export interface FaultProxy {
  /** 'ws://127.0.0.1:PORT' */
  readonly url: string;
  readonly port: number;
  readonly name: string;
  readonly target: string;
  close(): Promise<void>;
  stats(): FaultProxyStats;
  /** The faults in force now (for logs of a chaos run). */
  faults(): FaultState;
  cut(durationMs?: number): void;
  blackhole(direction: Direction): void;
  delay(opts: DelayOptions): void;
  hold(direction: Direction): void;
  /** Stop holding (default both directions) and flush what was held, in order. */
  release(direction?: Direction): void;
  flaky(opts: FlakyOptions): void;
  slow(opts: SlowOptions): void;
  /** Clear every fault, release held messages, accept new connections again. */
  heal(): void;
  /** Live links (accepted client connections not yet fully closed). */
  links(): number;
  /** End every current link once; returns how many. Without a code: terminate (1006). */
  closeAll(code?: number): number;
}

/** A small seeded PRNG (mulberry32) in [0, 1), for reproducible fault runs. */
export const seededRandom: (seed: number) => () => number = mulberry32;

/** Close codes `ws` lets an endpoint send (and the proxy therefore mirrors). */
export function isSendableCloseCode(code: number): boolean {
  return (
    (code >= 1000 && code <= 1003) ||
    (code >= 1007 && code <= 1014) ||
    (code >= 3000 && code <= 4999)
  );
}

const DIRS: readonly Dir[] = ['toTarget', 'fromTarget'];
function dirsOf(d: Direction): Dir[] {
  if (d === 'both') return ['toTarget', 'fromTarget'];
  if (d === 'toTarget' || d === 'fromTarget') return [d];
  throw new TypeError(`direction must be 'both', 'toTarget' or 'fromTarget', got ${String(d)}`);
}
function checkNonNegative(name: string, v: number): void {
  if (!Number.isFinite(v) || v < 0) throw new RangeError(`${name} must be a finite number >= 0, got ${v}`);
}
function checkProbability(name: string, v: number): void {
  if (!(v >= 0 && v <= 1)) throw new RangeError(`${name} must be in [0, 1], got ${v}`);
}

/** Request headers not forwarded upstream (hop-by-hop, or set by the upstream handshake itself). */
const SKIP_HEADERS = new Set([
  'host', 'connection', 'upgrade', 'keep-alive', 'proxy-connection', 'proxy-authorization',
  'te', 'trailer', 'transfer-encoding', 'content-length',
  'sec-websocket-key', 'sec-websocket-version', 'sec-websocket-extensions', 'sec-websocket-protocol',
]);
function forwardHeaders(h: http.IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined || SKIP_HEADERS.has(k)) continue;
    out[k] = v;
  }
  return out;
}

function rawBytes(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

type Item =
  | { kind: 'msg'; data: Buffer; binary: boolean; readyAt: number; txDoneAt?: number }
  | { kind: 'ping' | 'pong'; data: Buffer; readyAt: number; txDoneAt?: number }
  | { kind: 'close'; code: number; reason: Buffer; readyAt: number; txDoneAt?: number }
  | { kind: 'terminate'; readyAt: number; txDoneAt?: number };

interface Pipe {
  readonly dir: Dir;
  queue: Item[];
  queuedBytes: number;
  timer: NodeJS.Timeout | null;
}

interface Link {
  readonly id: number;
  down: WebSocket | null;
  up: WebSocket | null;
  /** The source of a pipe has ended (its end item is queued or delivered). */
  ended: Record<Dir, boolean>;
  pipes: Record<Dir, Pipe>;
  finished: boolean;
}

function itemBytes(it: Item): number {
  return it.kind === 'msg' || it.kind === 'ping' || it.kind === 'pong' ? it.data.length : 0;
}

export async function startFaultProxy(opts: FaultProxyOptions): Promise<FaultProxy> {
  const targetUrl = new URL(opts.target);
  if (targetUrl.protocol !== 'ws:' && targetUrl.protocol !== 'wss:') {
    throw new TypeError(`target must be a ws:// or wss:// URL, got ${opts.target}`);
  }
  const targetBasePath = targetUrl.pathname.replace(/\/+$/, '');
  const random = opts.random ?? Math.random;
  const name = opts.name ?? `proxy→${targetUrl.host}`;
  const handshake = opts.handshake ?? 'transparent';
  const maxPayload = opts.maxPayload ?? 256 * 1024 * 1024;
  const maxQueuedBytes = opts.maxQueuedBytes ?? 64 * 1024 * 1024;
  const maxQueuedMessages = opts.maxQueuedMessages ?? 100_000;
  const connectTimeoutMs = opts.connectTimeoutMs ?? 5000;
  const host = opts.host ?? '127.0.0.1';

  // ---- fault state ----
  let closed = false;
  let cutActive = false;
  let cutTimer: NodeJS.Timeout | null = null;
  const blackholed = new Set<Dir>();
  const held = new Set<Dir>();
  const delays: Partial<Record<Dir, { fixedMs: number; randomMs: number }>> = {};
  const slowBps: Partial<Record<Dir, number>> = {};
  const flakyClose: Partial<Record<Dir, number>> = {};
  let flakyRefuse = 0;

  // ---- bookkeeping ----
  let nextId = 1;
  const links = new Set<Link>();
  /** Transparent mode: upstream connects whose client upgrade is not accepted yet. */
  const pending = new Set<{ up: WebSocket; socket: Duplex }>();
  const sockets = new Set<Socket>();
  const httpUpstreams = new Set<http.ClientRequest>();
  const newDirStats = (): DirectionStats => ({ messages: 0, bytes: 0, dropped: 0, control: 0 });
  const st = {
    connections: 0, refused: 0, upstreamFailures: 0, injectedCloses: 0,
    toTarget: newDirStats(), fromTarget: newDirStats(),
  };
  /** Downstream upgrade → subprotocol to accept (transparent: the one upstream chose). */
  const chosenProtocol = new WeakMap<http.IncomingMessage, string | false>();

  const now = () => performance.now();

  function upstreamUrl(reqUrl: string | undefined): string {
    const path = reqUrl && reqUrl.startsWith('/') ? reqUrl : `/${reqUrl ?? ''}`;
    return `${targetUrl.protocol}//${targetUrl.host}${targetBasePath}${path}`;
  }

  // ---- pipes ----
  function srcOf(link: Link, dir: Dir): WebSocket | null {
    return dir === 'toTarget' ? link.down : link.up;
  }
  function dstOf(link: Link, dir: Dir): WebSocket | null {
    return dir === 'toTarget' ? link.up : link.down;
  }

  function clearPipe(pipe: Pipe): void {
    if (pipe.timer) { clearTimeout(pipe.timer); pipe.timer = null; }
    for (const it of pipe.queue) if (it.kind === 'msg') st[pipe.dir].dropped++;
    pipe.queue = [];
    pipe.queuedBytes = 0;
  }

  function schedule(link: Link, pipe: Pipe, at: number): void {
    const ms = Math.max(1, Math.ceil(at - now()));
    pipe.timer = setTimeout(() => { pipe.timer = null; pump(link, pipe); }, ms);
    pipe.timer.unref();
  }

  function enqueue(link: Link, pipe: Pipe, item: Item): void {
    pipe.queue.push(item);
    pipe.queuedBytes += itemBytes(item);
    if (pipe.queuedBytes > maxQueuedBytes || pipe.queue.length > maxQueuedMessages) {
      killLink(link, true);
      return;
    }
    pump(link, pipe);
  }

  function pump(link: Link, pipe: Pipe): void {
    if (pipe.timer || link.finished) return;
    const dir = pipe.dir;
    while (pipe.queue.length > 0) {
      const dst = dstOf(link, dir);
      const item = pipe.queue[0];
      const isEnd = item.kind === 'close' || item.kind === 'terminate';
      if (!dst || dst.readyState === WebSocket.CONNECTING) {
        // Eager mode: the client left before the upstream opened — abort it.
        if (dst && isEnd) { pipe.queue.shift(); dst.terminate(); continue; }
        return; // pumped again on open / accept
      }
      if (held.has(dir)) return; // pumped again by release()/heal()
      if (isEnd && blackholed.has(dir)) return; // the FIN gets through after heal
      const t = now();
      if (item.readyAt > t) { schedule(link, pipe, item.readyAt); return; }
      const bps = slowBps[dir];
      if (item.txDoneAt === undefined && bps !== undefined && itemBytes(item) > 0) {
        item.txDoneAt = t + (itemBytes(item) / bps) * 1000;
      }
      if (item.txDoneAt !== undefined && item.txDoneAt > t) { schedule(link, pipe, item.txDoneAt); return; }
      pipe.queue.shift();
      pipe.queuedBytes -= itemBytes(item);
      deliver(dst, dir, item);
    }
  }

  function deliver(dst: WebSocket, dir: Dir, item: Item): void {
    const s = st[dir];
    if (dst.readyState !== WebSocket.OPEN) {
      if (item.kind === 'msg') s.dropped++;
      return;
    }
    switch (item.kind) {
      case 'msg':
        if (blackholed.has(dir)) { s.dropped++; return; }
        dst.send(item.data, { binary: item.binary });
        s.messages++;
        s.bytes += item.data.length;
        return;
      case 'ping':
      case 'pong':
        if (blackholed.has(dir)) return;
        if (item.kind === 'ping') dst.ping(item.data); else dst.pong(item.data);
        s.control++;
        return;
      case 'close':
        if (item.code === 1005) dst.close();
        else if (isSendableCloseCode(item.code)) dst.close(item.code, item.reason);
        else dst.close(1011, item.reason);
        return;
      case 'terminate':
        dst.terminate();
        return;
    }
  }

  /** Terminate both sides now, losing everything in flight. */
  function killLink(link: Link, injected: boolean): void {
    if (link.finished) return;
    if (injected) st.injectedCloses++;
    for (const d of DIRS) { clearPipe(link.pipes[d]); link.ended[d] = true; }
    link.down?.terminate();
    link.up?.terminate();
    // Both sockets are destroyed: the link is over now (their 'close' events come later).
    link.finished = true;
    links.delete(link);
  }

  function maybeFinish(link: Link): void {
    if (link.finished) return;
    const gone = (ws: WebSocket | null) => ws === null || ws.readyState === WebSocket.CLOSED;
    if (gone(link.down) && gone(link.up)) {
      link.finished = true;
      for (const d of DIRS) clearPipe(link.pipes[d]);
      links.delete(link);
    }
  }

  // ---- wiring one side of a link ----
  function wire(link: Link, ws: WebSocket, dir: Dir /* the direction this socket is the source of */): void {
    const pipe = link.pipes[dir];
    let errored = false;
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (link.finished || link.ended[dir]) return;
      const buf = rawBytes(data);
      if (blackholed.has(dir)) { st[dir].dropped++; return; }
      const p = flakyClose[dir];
      if (p !== undefined && p > 0 && random() < p) {
        st[dir].dropped++;
        killLink(link, true);
        return;
      }
      let readyAt = now();
      const d = delays[dir];
      if (d) readyAt += d.fixedMs + (d.randomMs > 0 ? random() * d.randomMs : 0);
      enqueue(link, pipe, { kind: 'msg', data: buf, binary: isBinary, readyAt });
    });
    const control = (kind: 'ping' | 'pong') => (data: Buffer) => {
      if (link.finished || link.ended[dir]) return;
      const d = delays[dir];
      enqueue(link, pipe, { kind, data, readyAt: now() + (d ? d.fixedMs : 0) });
    };
    ws.on('ping', control('ping'));
    ws.on('pong', control('pong'));
    ws.on('error', () => { errored = true; });
    ws.on('close', (code: number, reason: Buffer) => {
      if (!link.finished && !link.ended[dir]) {
        link.ended[dir] = true;
        const d = delays[dir];
        const readyAt = now() + (d ? d.fixedMs : 0);
        const item: Item = errored || code === 1006
          ? { kind: 'terminate', readyAt }
          : { kind: 'close', code, reason, readyAt };
        // Nothing more can be delivered to this socket: drop what was queued for it.
        clearPipe(link.pipes[dir === 'toTarget' ? 'fromTarget' : 'toTarget']);
        enqueue(link, pipe, item);
      }
      maybeFinish(link);
    });
  }

  function newLink(): Link {
    const mk = (dir: Dir): Pipe => ({ dir, queue: [], queuedBytes: 0, timer: null });
    return {
      id: nextId++,
      down: null,
      up: null,
      ended: { toTarget: false, fromTarget: false },
      pipes: { toTarget: mk('toTarget'), fromTarget: mk('fromTarget') },
      finished: false,
    };
  }

  function openUpstream(req: http.IncomingMessage): WebSocket {
    const offered = (req.headers['sec-websocket-protocol'] ?? '')
      .split(',').map((s) => s.trim()).filter((s) => s.length > 0);
    return new WebSocket(upstreamUrl(req.url), offered, {
      headers: forwardHeaders(req.headers),
      perMessageDeflate: false,
      maxPayload,
      autoPong: false,
      followRedirects: false,
      handshakeTimeout: connectTimeoutMs,
    });
  }

  function refuse(socket: Duplex): void {
    st.refused++;
    socket.destroy();
  }

  function rejectHttp(socket: Duplex, status: number, message: string): void {
    if (!socket.destroyed && socket.writable) {
      socket.end(`HTTP/1.1 ${status} ${message}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    }
    setTimeout(() => socket.destroy(), 50).unref();
  }

  // ---- servers ----
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload,
    perMessageDeflate: false,
    autoPong: false,
    clientTracking: false,
    handleProtocols: (protocols, req) => {
      const c = chosenProtocol.get(req);
      if (c !== undefined) return c;
      const first = protocols.values().next();
      return first.done ? false : first.value;
    },
  });

  function acceptDownstream(link: Link, req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    wss.handleUpgrade(req, socket, head, (down) => {
      if (closed || cutActive) { down.terminate(); killLink(link, false); return; }
      link.down = down;
      links.add(link);
      st.connections++;
      wire(link, down, 'toTarget');
      pump(link, link.pipes.fromTarget);
      pump(link, link.pipes.toTarget);
    });
  }

  function onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => { /* destroyed below or by ws */ });
    if (closed || cutActive) { refuse(socket); return; }
    if (flakyRefuse > 0 && random() < flakyRefuse) { refuse(socket); return; }
    const key = req.headers['sec-websocket-key'];
    if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket' || typeof key !== 'string') {
      rejectHttp(socket, 400, 'Bad Request');
      return;
    }
    const link = newLink();
    let up: WebSocket;
    try {
      up = openUpstream(req);
    } catch {
      rejectHttp(socket, 400, 'Bad Request');
      return;
    }
    link.up = up;
    wire(link, up, 'fromTarget');

    if (handshake === 'eager') {
      let failed = false;
      up.on('unexpected-response', (_r, res) => {
        failed = true;
        st.upstreamFailures++;
        const code = res.statusCode === 401 ? 4401 : 1011;
        res.resume();
        up.terminate();
        for (const d of DIRS) clearPipe(link.pipes[d]);
        link.ended.toTarget = true;
        if (link.down && link.down.readyState === WebSocket.OPEN) link.down.close(code, `upstream ${res.statusCode}`);
        else link.down?.terminate();
      });
      up.on('error', () => {
        if (up.readyState === WebSocket.OPEN || failed) return;
        failed = true;
        st.upstreamFailures++;
        if (link.down && link.down.readyState === WebSocket.OPEN) link.down.close(1011, 'upstream unreachable');
      });
      up.on('open', () => pump(link, link.pipes.toTarget));
      // The up 'close' (1006) queues a terminate for the client; the explicit close above wins
      // because it is sent first.
      acceptDownstream(link, req, socket, head);
      return;
    }

    // transparent: accept the client only once the upstream accepted us.
    const entry = { up, socket };
    pending.add(entry);
    const onSocketGone = () => {
      if (pending.delete(entry)) killLink(link, false);
    };
    socket.on('close', onSocketGone);
    up.on('unexpected-response', (_r, res) => {
      if (!pending.delete(entry)) return;
      st.upstreamFailures++;
      socket.off('close', onSocketGone);
      const status = res.statusCode ?? 502;
      res.resume();
      killLink(link, false);
      rejectHttp(socket, status, res.statusMessage || http.STATUS_CODES[status] || 'Error');
    });
    up.on('error', () => {
      if (!pending.delete(entry)) return;
      st.upstreamFailures++;
      socket.off('close', onSocketGone);
      killLink(link, false);
      rejectHttp(socket, 502, 'Bad Gateway');
    });
    up.on('open', () => {
      if (!pending.delete(entry)) { up.terminate(); return; }
      socket.off('close', onSocketGone);
      if (closed || cutActive || socket.destroyed) { killLink(link, false); refuse(socket); return; }
      chosenProtocol.set(req, up.protocol ? up.protocol : false);
      // If handleUpgrade rejects the request it destroys the socket; end the link then.
      socket.once('close', () => { if (!link.down) killLink(link, false); });
      acceptDownstream(link, req, socket, head);
    });
  }

  function onHttpRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const upReq = http.request(
      {
        protocol: 'http:',
        hostname: targetUrl.hostname.replace(/^\[|\]$/g, ''),
        port: targetUrl.port || 80,
        method: req.method,
        path: `${targetBasePath}${req.url ?? '/'}`,
        headers: { ...forwardHeaders(req.headers), host: targetUrl.host },
        agent: false,
      },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, upRes.headers);
        upRes.pipe(res);
      },
    );
    httpUpstreams.add(upReq);
    upReq.on('close', () => httpUpstreams.delete(upReq));
    upReq.on('error', () => {
      if (!res.headersSent) { res.writeHead(502, { 'content-type': 'text/plain' }); res.end('bad gateway'); }
      else res.destroy();
    });
    res.on('close', () => { if (!upReq.destroyed) upReq.destroy(); });
    req.pipe(upReq);
  }

  const server = http.createServer(onHttpRequest);
  server.on('connection', (socket: Socket) => {
    if (closed || cutActive) { refuse(socket); return; }
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('upgrade', onUpgrade);
  server.on('clientError', (_err, socket) => socket.destroy());

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => { server.off('error', reject); resolve(); });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;

  // ---- API ----
  function pumpAll(): void {
    for (const link of Array.from(links)) for (const d of DIRS) pump(link, link.pipes[d]);
  }
  function killAll(injected: boolean): number {
    let n = 0;
    for (const e of Array.from(pending)) { e.up.terminate(); e.socket.destroy(); }
    pending.clear();
    for (const link of Array.from(links)) { killLink(link, injected); n++; }
    return n;
  }

  const proxy: FaultProxy = {
    url: `ws://${urlHost}:${port}`,
    port,
    name,
    target: opts.target,
    async close() {
      if (closed) return;
      closed = true;
      if (cutTimer) { clearTimeout(cutTimer); cutTimer = null; }
      killAll(false);
      for (const r of Array.from(httpUpstreams)) r.destroy();
      httpUpstreams.clear();
      for (const s of Array.from(sockets)) s.destroy();
      sockets.clear();
      wss.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
    stats() {
      return {
        name,
        connections: st.connections,
        refused: st.refused,
        upstreamFailures: st.upstreamFailures,
        live: links.size,
        injectedCloses: st.injectedCloses,
        toTarget: { ...st.toTarget },
        fromTarget: { ...st.fromTarget },
      };
    },
    faults() {
      return {
        cut: cutActive,
        blackhole: Array.from(blackholed),
        hold: Array.from(held),
        delay: { ...delays },
        slow: { ...slowBps },
        flaky: { closeProbabilityPerMessage: { ...flakyClose }, refuseProbabilityPerConnection: flakyRefuse },
      };
    },
    cut(durationMs?: number) {
      if (durationMs !== undefined) checkNonNegative('durationMs', durationMs);
      if (closed) return;
      cutActive = true;
      if (cutTimer) { clearTimeout(cutTimer); cutTimer = null; }
      if (durationMs !== undefined) {
        cutTimer = setTimeout(() => { cutTimer = null; cutActive = false; }, durationMs);
        cutTimer.unref();
      }
      killAll(true);
      for (const s of Array.from(sockets)) s.destroy(); // also idle HTTP keep-alive connections
    },
    blackhole(direction: Direction) {
      for (const d of dirsOf(direction)) blackholed.add(d);
    },
    delay(o: DelayOptions) {
      checkNonNegative('fixedMs', o.fixedMs);
      const randomMs = o.randomMs ?? 0;
      checkNonNegative('randomMs', randomMs);
      for (const d of dirsOf(o.direction ?? 'both')) {
        if (o.fixedMs === 0 && randomMs === 0) delete delays[d];
        else delays[d] = { fixedMs: o.fixedMs, randomMs };
      }
    },
    hold(direction: Direction) {
      for (const d of dirsOf(direction)) held.add(d);
    },
    release(direction: Direction = 'both') {
      for (const d of dirsOf(direction)) held.delete(d);
      pumpAll();
    },
    flaky(o: FlakyOptions) {
      const p = o.closeProbabilityPerMessage ?? 0;
      const r = o.refuseProbabilityPerConnection ?? 0;
      checkProbability('closeProbabilityPerMessage', p);
      checkProbability('refuseProbabilityPerConnection', r);
      for (const d of dirsOf(o.direction ?? 'both')) {
        if (p > 0) flakyClose[d] = p; else delete flakyClose[d];
      }
      flakyRefuse = r;
    },
    slow(o: SlowOptions) {
      if (!(Number.isFinite(o.bytesPerSecond) && o.bytesPerSecond > 0)) {
        throw new RangeError(`bytesPerSecond must be > 0, got ${o.bytesPerSecond}`);
      }
      for (const d of dirsOf(o.direction ?? 'both')) slowBps[d] = o.bytesPerSecond;
    },
    heal() {
      cutActive = false;
      if (cutTimer) { clearTimeout(cutTimer); cutTimer = null; }
      blackholed.clear();
      held.clear();
      for (const d of DIRS) { delete delays[d]; delete slowBps[d]; delete flakyClose[d]; }
      flakyRefuse = 0;
      pumpAll();
    },
    links() {
      return links.size;
    },
    closeAll(code?: number) {
      if (code === undefined) return killAll(true);
      if (!isSendableCloseCode(code)) throw new RangeError(`close code ${code} cannot be sent`);
      let n = 0;
      for (const e of Array.from(pending)) { e.up.terminate(); e.socket.destroy(); }
      pending.clear();
      for (const link of Array.from(links)) {
        n++;
        st.injectedCloses++;
        for (const d of DIRS) { clearPipe(link.pipes[d]); link.ended[d] = true; }
        for (const ws of [link.down, link.up]) {
          if (ws?.readyState === WebSocket.OPEN) ws.close(code, 'proxy link restart');
          else ws?.terminate();
        }
        maybeFinish(link);
      }
      return n;
    },
  };
  return proxy;
}
