/**
 * The replica's client endpoint, WebSocket "/" (SPEC §7, docs/PROTOCOL.md §2): decodes
 * client frames into machine inputs (req ─▶ clientOp with its raw frame, watch, unwatch),
 * sends replies and watch traffic back, holds clients to SPEC §8's message limit, checks the
 * client token, and stops reading every client socket while the core says so (backpressure).
 * Decides nothing about replication.
 */
import type { IncomingMessage } from 'node:http';
import type WebSocket from 'ws';
import type { Limits } from '../../common/limits';
import type { ErrorMsg, ResMsg, ToClient } from '../../common/messages';
import { CloseCodes } from '../../common/errors';
import { decode, encode, isProtocolError } from '../../common/protocol';
import { tokenMatches, frameText } from '../net/ws-server';
import { GuardedSocket, GuardPolicy, remoteOf, rawLength } from '../net/guarded-socket';
import type { RateLimitedLog } from '../rate-limited-log';
import type { ReplicaMetrics, Inflight } from './replica-metrics';
import type { Auth } from '../auth/load';
import { LinkAuth } from '../auth/link-auth';
import { deniedRight } from '../auth/core/rules';
import type { ConnId, ReplicaInput } from './replica-io';

/**
 * A client socket with more than this queued is a slow consumer: closed with 4408. Room for
 * over a dozen of the largest replies (a 1 MiB value) waiting for a reader. @default 16 MiB
 */
const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;

interface ClientConn {
  readonly id: ConnId;
  readonly socket: GuardedSocket;
  authed: boolean;
  /** seq → ordering time and op, for the operation metrics (see replica-metrics.ts). */
  readonly inflight: Inflight;
  /** SPEC §11: the link's token and what the rules let it do; null without --jwt-*. */
  readonly auth: LinkAuth | null;
}

export interface ClientEndpointOptions {
  limits: Limits;
  clientToken: string | null;
  /** SPEC §11: JWTs and rules (then the cluster's client token is not used on this route). */
  auth?: Auth | null;
  metrics: ReplicaMetrics;
  warnings: () => RateLimitedLog;
  /** Step the machine with an input. */
  run(input: ReplicaInput): void;
  /** A handler threw: a bug must not take the process down (SPEC §1). */
  failed(err: unknown): void;
}

export class ClientEndpoint {
  private readonly conns = new Map<ConnId, ClientConn>();
  private nextConn = 1;
  private paused = false;
  /** Client sockets corked in this turn (see cork()). */
  private readonly corked = new Set<WebSocket>();
  private readonly uncorkAll = (): void => {
    for (const ws of this.corked) (ws as unknown as { _socket?: { uncork(): void } })._socket?.uncork();
    this.corked.clear();
  };
  private readonly policy: GuardPolicy;

  constructor(private readonly o: ClientEndpointOptions) {
    this.policy = {
      maxBufferedBytes: MAX_BUFFERED_BYTES,
      slowConsumer: (s) => {
        o.metrics.slowConsumers.inc();
        o.warnings().warn('slow-consumer', { remote: s.remote, buffered: s.ws.bufferedAmount }, 'closing a slow client (4408)');
      },
      unauthorized: (s) => {
        o.metrics.unauthorized.inc();
        o.warnings().warn('client-unauthorized', { remote: s.remote }, 'client link: wrong or missing token; closing with 4401'); // never log the token
      },
    };
  }

  get size(): number { return this.conns.size; }

  accept(ws: WebSocket, req: IncomingMessage, url: URL): void {
    const socket = new GuardedSocket(ws, remoteOf(req), this.policy);
    const urlToken = url.searchParams.get('token');
    const auth = this.o.auth ?? null;
    const expected = auth ? null : this.o.clientToken;
    if (expected !== null && urlToken !== null && !tokenMatches(expected, urlToken)) return socket.refuse('wrong token');
    const conn: ClientConn = {
      id: this.nextConn++, socket, authed: auth ? !auth.tokenRequired : expected === null || urlToken !== null, inflight: new Map(),
      auth: auth ? new LinkAuth(auth) : null,
    };
    this.conns.set(conn.id, conn);
    if (conn.auth && urlToken !== null) this.present(conn, urlToken, true);
    if (this.paused) socket.pause();
    ws.on('message', (data, isBinary) => {
      try {
        this.onMessage(conn, data, isBinary);
      } catch (err) {
        this.o.failed(err);
      }
    });
    ws.on('close', () => {
      this.conns.delete(conn.id);
      conn.auth?.close();
      this.o.run({ kind: 'connClosed', conn: conn.id }); // its watches die with it
    });
  }

  private onMessage(conn: ClientConn, data: WebSocket.RawData, isBinary: boolean): void {
    const socket = conn.socket;
    if (!socket.open) return; // closing (4401, 1009, 1008): what follows is ignored
    if (rawLength(data) > this.o.limits.maxMessageBytes) {
      // The transport's maxPayload is raised for peer frames; clients keep SPEC §8's limit.
      this.o.metrics.bad('client', 'TOO_LARGE');
      this.o.warnings().warn('too-large', { remote: socket.remote, bytes: rawLength(data) }, 'client message over maxMessageBytes; closing with 1009');
      socket.close(CloseCodes.TooLarge, 'message too large');
      return;
    }
    if (conn.auth?.held) { conn.auth.held.push([data, isBinary]); return; } // a token is being checked
    const text = frameText(data, isBinary);
    const msg = text === null ? null : decode(text, this.o.limits);
    if (msg !== null && !isProtocolError(msg) && msg.type === 'hello' && msg.client !== undefined) this.o.run({ kind: 'hello', conn: conn.id, client: msg.client }); // SPEC §10: its session's link
    if (!conn.authed && conn.auth) {
      if (msg !== null && !isProtocolError(msg) && msg.type === 'hello' && msg.token !== undefined) this.present(conn, msg.token, true);
      else socket.refuse('no hello with a token');
      return;
    }
    if (!conn.authed) {
      if (msg !== null && !isProtocolError(msg) && msg.type === 'hello' && tokenMatches(this.o.clientToken, msg.token)) conn.authed = true;
      else socket.refuse('no hello with the token');
      return;
    }
    if (msg === null) return this.error(conn, 'BAD_REQUEST', 'binary frames are not accepted: send JSON text frames');
    if (isProtocolError(msg)) return this.error(conn, msg.code, msg.message, msg.seq, msg.id);
    socket.good();
    if (msg.type === 'req') {
      const denied = conn.auth === null ? null : deniedRight(conn.auth.access, msg);
      if (denied !== null) return this.deny(conn, denied, `${msg.op} ${JSON.stringify(msg.key)}`, msg.seq);
      this.o.metrics.request(msg.op);
      this.o.metrics.ordered(conn.inflight, msg);
      this.o.run({ kind: 'clientOp', conn: conn.id, req: msg, raw: text as string });
    } else if (msg.type === 'watch' && conn.auth && !conn.auth.access.watch(msg.pattern)) {
      this.deny(conn, 'watch', `watch ${JSON.stringify(msg.pattern)} (every key it matches must be readable)`, undefined, msg.id);
    } else if (msg.type === 'hello' && conn.auth && msg.token !== undefined) {
      this.present(conn, msg.token, true); // a link that may start without a token presents one
    } else if (msg.type === 'auth') {
      if (conn.auth) this.present(conn, msg.token, false);
      else this.error(conn, 'BAD_REQUEST', 'this replica takes no JWTs (start it with --jwt-secret or --jwt-public-key)');
    } else if (msg.type === 'watch' || msg.type === 'unwatch') {
      this.o.run(msg.type === 'watch' ? { kind: 'watch', conn: conn.id, msg } : { kind: 'unwatch', conn: conn.id, msg });
    } else if (msg.type !== 'hello') {
      this.error(conn, 'BAD_REQUEST', `a client link takes "req", "watch", "unwatch", "hello" and "auth" messages (got ${JSON.stringify(msg.type)})`);
    }
  }

  /**
   * SPEC §11: check a token (hello, ?token= or auth), holding the link's frames meanwhile. A
   * refused first token closes the link with 4401; a refused renewal gets an `error`
   * UNAUTHORIZED and the link keeps its previous token until that one's `exp`.
   */
  private present(conn: ClientConn, token: string, first: boolean): void {
    (conn.auth as LinkAuth).present(token, (refusal, held) => {
      if (refusal !== null) {
        this.o.metrics.tokensRefused.inc({ reason: refusal.reason });
        if (first) return conn.socket.refuse(refusal.message);
        this.deny(conn, 'token', `the new token (${refusal.message})`);
      } else {
        conn.authed = true;
      }
      try {
        for (const [data, isBinary] of held) this.onMessage(conn, data as WebSocket.RawData, isBinary);
      } catch (err) {
        this.o.failed(err);
      }
    });
  }

  /** SPEC §11: refused UNAUTHORIZED by the rules or an expired token; the link stays open (not a bad message). */
  private deny(conn: ClientConn, what: 'read' | 'write' | 'watch' | 'token', action: string, seq?: number, id?: number): void {
    const a = conn.auth as LinkAuth;
    this.o.metrics.accessDenied.inc({ what });
    this.o.warnings().warn('client-denied', { remote: conn.socket.remote, sub: a.sub, what }, 'refused UNAUTHORIZED (SPEC §11)');
    const message = what === 'token' ? `${action} is refused; the previous token applies until it expires`
      : a.expired ? `${action}: the token has expired; renew it (an "auth" message, or connect({ token }) with a function)`
        : `${action} is not allowed by the rules for this token`;
    this.send(conn, seq !== undefined
      ? { type: 'res', seq, ok: false, code: 'UNAUTHORIZED', message }
      : { type: 'error', code: 'UNAUTHORIZED', message, ...(id !== undefined ? { id } : {}) });
  }

  /** The `sub` of every client link with a valid token (the dashboard's list of users). */
  users(): string[] {
    const out: string[] = [];
    for (const c of this.conns.values()) if (c.auth?.sub && !c.auth.expired) out.push(c.auth.sub);
    return out;
  }

  /** A bad client message: a `res` error when its seq is known, else an `error` message (naming the watch id if known). */
  private error(conn: ClientConn, code: ErrorMsg['code'], message: string, seq?: number, id?: number): void {
    this.o.metrics.bad('client', code);
    this.o.warnings().warn('client-bad-message', { remote: conn.socket.remote, code, reason: message, seq }, 'bad client message');
    const reply: ResMsg | ErrorMsg = seq !== undefined
      ? { type: 'res', seq, ok: false, code, message }
      : { type: 'error', code, message, ...(id !== undefined ? { id } : {}) };
    this.send(conn, reply);
    conn.socket.bad();
  }

  /** A reply from the core (observed for the operation metrics). */
  reply(id: ConnId, msg: ResMsg): void {
    const c = this.conns.get(id);
    if (!c) return;
    this.o.metrics.replied(c.inflight, msg);
    this.send(c, msg);
  }

  /** Watch traffic, or a reply the shell makes itself (a held request refused at shutdown). */
  push(id: ConnId, msg: ToClient): void {
    const c = this.conns.get(id);
    if (c) this.send(c, msg);
  }

  private send(c: ClientConn, msg: ToClient): void {
    if (!c.socket.open) return;
    this.cork(c.socket.ws);
    c.socket.send(encode(msg));
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
    if (this.corked.size === 1) process.nextTick(this.uncorkAll);
  }

  /** Stop (or resume) reading every client socket: the core's backpressure (Ready.pauseClients). */
  setPaused(paused: boolean): void {
    if (paused === this.paused) return;
    this.paused = paused;
    for (const c of this.conns.values()) {
      if (paused) c.socket.pause();
      else c.socket.resume();
    }
  }
}
