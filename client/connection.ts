/**
 * The client's only socket code (STYLE §4/§10): `Connection`, a reconnecting WebSocket link
 * over an injected constructor (the server's links are server/net/link.ts). The store uses
 * two: the view-service subscription and the link to the current primary. A connection knows
 * nothing of the protocol; it turns socket events into callbacks, and never throws out of a
 * socket callback (it logs and goes on).
 *
 *   target(url) ──▶ connecting ──open──▶ open ──drop──▶ reconnecting ──backoff──▶ (again)
 *        ▲                                                   │
 *        └────── target(newUrl): close the old socket, connect AT ONCE (no backoff) ──┘
 *   close() ──▶ closed (terminal; every timer cleared)
 */
import type { Logger } from '../common/logger';
import { backoffDelay, BackoffPolicy } from '../common/backoff';

/** The status of one connection (STYLE §11). */
export type ConnectionStatus = 'connecting' | 'open' | 'reconnecting' | 'closed';

/**
 * The part of the WebSocket API the client uses: what browsers' WebSocket and `ws` both
 * offer. Handlers take `any` so both libraries' event types fit without casts.
 */
export interface WebSocketLike {
  readonly readyState: number;
  /* eslint-disable @typescript-eslint/no-explicit-any */
  onopen: ((event: any) => void) | null;
  onmessage: ((event: any) => void) | null;
  onclose: ((event: any) => void) | null;
  onerror: ((event: any) => void) | null;
  /* eslint-enable @typescript-eslint/no-explicit-any */
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** A WebSocket constructor: `globalThis.WebSocket` in browsers, `ws` in Node. */
export type WebSocketCtor = new (url: string) => WebSocketLike;

export interface ConnectionOptions {
  /** For logs: 'view' or 'primary'. */
  name: string;
  WebSocket: WebSocketCtor;
  logger: Logger;
  backoff: BackoffPolicy;
  /** @default Math.random */
  random?: () => number;
  /** The socket opened (status is already 'open'). */
  onOpen(): void;
  /** A text frame arrived. Binary frames are dropped (the protocol is JSON text). */
  onText(text: string): void;
  /**
   * The socket closed, not by us. Return false to stop reconnecting until the next
   * `target()` (e.g. after 4401: the same token will be refused again).
   */
  onDrop(code: number, reason: string): boolean | void;
  /** Every status transition. */
  onStatus?(to: ConnectionStatus, from: ConnectionStatus): void;
  /**
   * Several URLs for one peer (the view-service instances, SPEC §12): before each reconnect
   * (a drop, a failed attempt), the URL to try next. @default the same URL
   */
  failover?(): string;
}

const noop = (): void => {};

export class Connection {
  private ws: WebSocketLike | null = null;
  private url: string | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private attempt = 0;
  private everOpened = false;
  private current: ConnectionStatus = 'connecting';

  constructor(private readonly o: ConnectionOptions) {}

  get status(): ConnectionStatus {
    return this.current;
  }

  /** Whether a socket is open to the target. */
  get isOpen(): boolean {
    return this.current === 'open';
  }

  /**
   * Point the link at `url` and connect at once, dropping any socket or backoff wait
   * (a pushed view change is not a failure: no backoff). `null`: no target, stay idle.
   */
  target(url: string | null): void {
    if (this.current === 'closed') return;
    this.dropSocket();
    this.clearTimer();
    this.url = url;
    this.attempt = 0;
    if (url === null) this.setStatus(this.everOpened ? 'reconnecting' : 'connecting');
    else this.openSocket(url);
  }

  /**
   * Not open: drop any backoff wait or half-open attempt and connect to the target at once,
   * with the backoff reset (e.g. the network came back). Open, closed or no target: nothing.
   */
  reconnectNow(): void {
    if (this.current === 'open' || this.current === 'closed' || this.url === null) return;
    this.target(this.url);
  }

  /** Send a text frame on the open socket. Returns false (and sends nothing) when not open. */
  send(text: string): boolean {
    const ws = this.ws;
    if (!ws || this.current !== 'open') return false;
    try {
      ws.send(text);
      return true;
    } catch (err) {
      this.o.logger.warn({ link: this.o.name, err: errorText(err) }, `${this.o.name} link: send failed`);
      return false;
    }
  }

  /** Close for good: the socket, the backoff timer; status 'closed'. */
  close(): void {
    if (this.current === 'closed') return;
    this.dropSocket();
    this.clearTimer();
    this.url = null;
    this.setStatus('closed');
  }

  private openSocket(url: string): void {
    this.setStatus(this.everOpened ? 'reconnecting' : 'connecting');
    let ws: WebSocketLike;
    try {
      ws = new this.o.WebSocket(url);
    } catch (err) {
      // A malformed URL throws synchronously in both browsers and ws.
      this.o.logger.warn({ link: this.o.name, url, err: errorText(err) }, `${this.o.name} link: cannot open ${url}`);
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.attempt = 0;
      this.everOpened = true;
      this.setStatus('open');
      this.guard('open', () => this.o.onOpen());
    };
    ws.onmessage = (event: { data?: unknown }) => {
      if (this.ws !== ws) return;
      const data = event?.data;
      if (typeof data !== 'string') {
        this.o.logger.warn({ link: this.o.name }, `${this.o.name} link: dropped a binary frame`);
        return;
      }
      // guard(), inlined: no closure per frame.
      try {
        this.o.onText(data);
      } catch (err) {
        this.o.logger.error({ link: this.o.name, err: errorText(err) }, `${this.o.name} link: message handler threw`);
      }
    };
    ws.onerror = (event: { message?: string; error?: unknown }) => {
      // A close event always follows; only log here.
      if (this.ws === ws) this.o.logger.debug({ link: this.o.name, url, err: event?.message ?? errorText(event?.error) }, `${this.o.name} link: socket error`);
    };
    ws.onclose = (event: { code?: number; reason?: string }) => {
      if (this.ws !== ws) return;
      this.ws = null;
      const code = typeof event?.code === 'number' ? event.code : 1006;
      const reason = typeof event?.reason === 'string' ? event.reason : '';
      this.o.logger.debug({ link: this.o.name, url, code, reason }, `${this.o.name} link: closed`);
      let again = true;
      try {
        again = this.o.onDrop(code, reason) !== false;
      } catch (err) {
        this.o.logger.error({ link: this.o.name, err: errorText(err) }, `${this.o.name} link: close handler threw`);
      }
      // The handler may have closed or re-targeted the link meanwhile.
      if (this.current === 'closed' || this.url !== url || this.ws !== null || this.timer !== null) return;
      if (again) this.scheduleReconnect();
      else this.setStatus(this.everOpened ? 'reconnecting' : 'connecting');
    };
  }

  private scheduleReconnect(): void {
    if (this.o.failover && this.url !== null) this.url = this.o.failover();
    const url = this.url;
    if (url === null || this.current === 'closed') return;
    this.setStatus(this.everOpened ? 'reconnecting' : 'connecting');
    const delay = backoffDelay(this.attempt++, this.o.backoff, this.o.random);
    this.o.logger.debug({ link: this.o.name, url, delay, attempt: this.attempt }, `${this.o.name} link: reconnecting in ${delay} ms`);
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.url === url && this.current !== 'closed') this.openSocket(url);
    }, delay);
  }

  /** Detach and close the current socket; its late events are ignored. */
  private dropSocket(): void {
    const ws = this.ws;
    if (!ws) return;
    this.ws = null;
    ws.onopen = noop;
    ws.onmessage = noop;
    ws.onclose = noop;
    // Keep an error handler: ws emits 'error' when a CONNECTING socket is closed, and an
    // EventEmitter 'error' without a listener would throw.
    ws.onerror = noop;
    try {
      ws.close(1000, 'client switched or closed');
    } catch (err) {
      this.o.logger.debug({ link: this.o.name, err: errorText(err) }, `${this.o.name} link: close failed`);
    }
  }

  private clearTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  /** The one place the status changes: log `from -> to` at debug, then tell the owner. */
  private setStatus(to: ConnectionStatus): void {
    const from = this.current;
    if (from === to) return;
    this.current = to;
    this.o.logger.debug({ link: this.o.name, from, to }, `${this.o.name} link: ${from} -> ${to}`);
    const onStatus = this.o.onStatus;
    if (onStatus) this.guard('status', () => onStatus(to, from));
  }

  /** Never throw out of a socket callback: log and go on. */
  private guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.o.logger.error({ link: this.o.name, err: errorText(err) }, `${this.o.name} link: ${what} handler threw`);
    }
  }
}

function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
