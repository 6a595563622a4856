/**
 * An outgoing, reconnecting WebSocket link for the servers (replica → view service,
 * primary → backup), STYLE §9/§11. It owns one socket at a time, reconnects with a capped
 * exponential backoff (common/backoff.ts) until `close()`, and names its status:
 *
 *   connecting ──open──▶ open ──socket closed──▶ reconnecting ──open──▶ open …
 *        │                                            │
 *        └────────────── close() ──▶ closed ◀─────────┘
 *
 * Every transition goes through `setStatus`, which logs `from -> to` at debug and emits
 * 'status'. Frames are JSON text; binary frames are ignored (logged). Nothing is queued
 * while the link is down: `send` returns false and the caller (the replica machine)
 * decides what to resend on 'open'.
 */
import WebSocket from 'ws';
import { Emitter } from '../../common/emitter';
import { backoffDelay, BackoffPolicy, DEFAULT_BACKOFF } from '../../common/backoff';
import type { Logger } from '../../common/logger';
import { frameText } from './ws-server';

export type LinkStatus = 'connecting' | 'open' | 'reconnecting' | 'closed';

export type LinkEvents = {
  status: (status: LinkStatus, previous: LinkStatus) => void;
  /** The socket is open: send any hello first. */
  open: () => void;
  /** A text frame. */
  message: (text: string) => void;
  /** An open socket closed (the link will reconnect unless closed). */
  down: (code: number, reason: string) => void;
};

/** Fills the 4-byte masking key with zeros (see connect()); by hand: Buffer#fill is a native call. */
function zeroMask(mask: Buffer): Buffer {
  mask[0] = mask[1] = mask[2] = mask[3] = 0;
  return mask;
}

/** A ping queued behind at least this much of our own data may be answered late. */
const QUEUED_EXCUSE_BYTES = 64 * 1024;

export interface LinkOptions {
  url: string;
  log: Logger;
  /** What the link is for, in logs ("view service", "backup"). @default 'link' */
  name?: string;
  /** @default DEFAULT_BACKOFF (50 ms … 2 s, ×2, 50% jitter) */
  backoff?: BackoffPolicy;
  /** @default Math.random */
  random?: () => number;
  /** Largest frame accepted from the other end. @default 2 MiB */
  maxPayload?: number;
  /** An attempt that has not opened after this long is abandoned. @default 5000 */
  handshakeTimeoutMs?: number;
  /**
   * Send a WebSocket ping this often and drop the socket when the previous one got no pong,
   * so a half-open TCP connection is noticed. 0 turns it off. @default 0
   */
  heartbeatMs?: number;
  /**
   * Several URLs for one peer (the view-service instances, SPEC §12): called when the socket
   * closed or could not open, returns the URL of the next attempt. @default the same URL
   */
  failover?: () => string;
}

export class Link extends Emitter<LinkEvents> {
  private target: string;
  /** moveTo() is closing the socket: reconnect at once to the new target, not through failover. */
  private moving = false;
  private readonly failover: (() => string) | undefined;
  private readonly log: Logger;
  private readonly name: string;
  private readonly policy: BackoffPolicy;
  private readonly random: () => number;
  private readonly maxPayload: number;
  private readonly handshakeTimeoutMs: number;
  private readonly heartbeatMs: number;
  private ws: WebSocket | null = null;
  private _status: LinkStatus = 'connecting';
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private alive = true;

  constructor(o: LinkOptions) {
    super();
    this.target = o.url;
    this.failover = o.failover;
    this.name = o.name ?? 'link';
    this.log = o.log;
    this.policy = o.backoff ?? DEFAULT_BACKOFF;
    this.random = o.random ?? Math.random;
    this.maxPayload = o.maxPayload ?? 2 * 1024 * 1024;
    this.handshakeTimeoutMs = o.handshakeTimeoutMs ?? 5000;
    this.heartbeatMs = o.heartbeatMs ?? 0;
    this.connect();
  }

  get status(): LinkStatus { return this._status; }

  /** Where the link connects (or is connected). */
  get url(): string { return this.target; }

  /** Go to `url` now (a leader hint, PROTOCOL §1.1): the open socket is ended, no backoff. */
  moveTo(url: string): void {
    if (this._status === 'closed') return;
    this.target = url;
    this.attempt = 0;
    if (this.ws) {
      this.moving = true;
      this.ws.terminate();
    } else if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.connect();
    }
  }

  /** Bytes queued in the socket, not yet written. */
  get bufferedAmount(): number { return this.ws ? this.ws.bufferedAmount : 0; }

  /** Send a text frame if the link is open; false (nothing sent) otherwise. */
  send(text: string): boolean {
    const ws = this.ws;
    if (this._status !== 'open' || !ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(text);
    return true;
  }

  /** Close the current socket (e.g. after a protocol error): the link reconnects. */
  drop(code = 1000, reason = ''): void {
    this.ws?.close(code, reason);
  }

  /** End the current socket at once, without a closing handshake (which a broken path may never complete): the link reconnects with its backoff. */
  restart(): void {
    this.ws?.terminate();
  }

  /** Close for good: no more reconnects, no more events after 'status' closed. */
  close(code = 1000, reason = 'closing'): void {
    if (this._status === 'closed') return;
    this.setStatus('closed');
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.stopHeartbeat();
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      else ws.close(code, reason);
    }
    this.removeAllListeners();
  }

  private setStatus(next: LinkStatus): void {
    const prev = this._status;
    if (prev === next) return;
    this._status = next;
    this.log.debug({ link: this.name, url: this.url }, `${this.name} ${prev} -> ${next}`);
    this.emit('status', next, prev);
  }

  private connect(): void {
    this.retryTimer = null;
    if (this._status === 'closed') return;
    let ws: WebSocket;
    try {
      // A zero masking key (the MASK bit is still set, as RFC 6455 requires of clients): masking
      // guards proxies from frames a browser script crafted, which cannot happen on links
      // between our own processes, and XOR-ing every byte was a fifth of the primary's and the
      // backup's CPU at 10 KiB values (`npm run bench` profiles); ws skips it for a zero key.
      // No UTF-8 check of received frames either: a link goes to our own view service or backup,
      // whose frames are strings ws wrote as UTF-8, so the check cannot fail (broken bytes would
      // decode as U+FFFD, not close the link with 1007); one native call less per fwdack.
      ws = new WebSocket(this.target, {
        maxPayload: this.maxPayload, handshakeTimeout: this.handshakeTimeoutMs, perMessageDeflate: false,
        generateMask: zeroMask, skipUTF8Validation: true,
      });
    } catch (err) {
      this.log.warn({ link: this.name, url: this.url, err: (err as Error).message }, `${this.name}: cannot connect`);
      if (this.failover) this.target = this.failover();
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    ws.on('open', () => {
      if (this.ws !== ws) return;
      this.attempt = 0;
      this.alive = true;
      this.startHeartbeat(ws);
      this.setStatus('open');
      this.emit('open');
    });
    ws.on('message', (data, isBinary) => {
      if (this.ws !== ws) return;
      this.alive = true;
      const text = frameText(data, isBinary);
      if (text === null) {
        this.log.warn({ link: this.name }, `${this.name}: binary frame ignored`);
        return;
      }
      this.emit('message', text);
    });
    ws.on('pong', () => { this.alive = true; });
    ws.on('error', (err) => {
      this.log.debug({ link: this.name, url: this.url, err: err.message }, `${this.name} socket error`);
    });
    ws.on('close', (code, reason) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.closed(code, String(reason));
    });
  }

  /** The current socket closed (or never opened): tell the owner, then reconnect. */
  private closed(code: number, reason: string): void {
    this.stopHeartbeat();
    const wasOpen = this._status === 'open';
    if (this._status === 'closed') return;
    if (code === 4401) this.log.error({ link: this.name, url: this.url }, `${this.name}: refused with 4401 (wrong or missing cluster token)`);
    if (wasOpen) {
      this.setStatus('reconnecting');
      this.emit('down', code, reason);
    }
    if ((this._status as LinkStatus) === 'closed') return; // a 'down' listener may have closed the link
    if (this.moving) {
      this.moving = false;
      this.setStatus('reconnecting');
      this.connect();
      return;
    }
    if (this.failover) this.target = this.failover();
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this._status === 'closed') return;
    this.setStatus('reconnecting');
    const delay = backoffDelay(this.attempt++, this.policy, this.random);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  private startHeartbeat(ws: WebSocket): void {
    if (this.heartbeatMs <= 0) return;
    let lastTick = Date.now();
    let queuedAtPing = 0;
    this.heartbeat = setInterval(() => {
      const now = Date.now();
      const queued = ws.bufferedAmount;
      // A missing pong proves the path dead only if nothing else explains it:
      // - this process was busy (the timer fired late: a long turn, a big snapshot, GC), so
      //   the pong may be waiting unread in the socket: judge on the next, punctual tick;
      // - the ping went out behind a large queue of our own frames (a state transfer of many
      //   MB) that is still draining: the peer cannot have answered yet. Found by `npm run
      //   bench`: a 1M-key transfer was cut every second by this check and restarted forever.
      //   A queue that does not drain at all is judged as usual.
      const late = now - lastTick > 1.5 * this.heartbeatMs;
      const behindOwnFrames = queuedAtPing >= QUEUED_EXCUSE_BYTES && queued < queuedAtPing;
      lastTick = now;
      if (!this.alive && !late && !behindOwnFrames) {
        this.log.warn({ link: this.name, url: this.url }, `${this.name}: no pong within ${this.heartbeatMs} ms; dropping the socket`);
        ws.terminate();
        return;
      }
      this.alive = false;
      queuedAtPing = queued;
      try { ws.ping(); } catch { /* closing */ }
    }, this.heartbeatMs);
    this.heartbeat.unref?.();
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }
}

