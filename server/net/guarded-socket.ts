/**
 * One server-side WebSocket with the guards every endpoint needs (SPEC §1, §8): sends are
 * bounded (a peer that stops reading is closed with 4408, never buffered without bound),
 * bad messages are counted (MAX_BAD_IN_ROW in a row close it with 1008), and a peer without
 * the right token is closed with 4401. What each guard reports (metrics, rate-limited
 * warnings) is the endpoint's: one GuardPolicy per endpoint, shared by its sockets, so a
 * socket costs no closures. Used by the replica's client and peer endpoints and by the view
 * service's links.
 */
import WebSocket from 'ws';
import type { IncomingMessage } from 'node:http';
import { CloseCodes } from '../../common/errors';

/** This many undecodable messages in a row close a link (1008 policy violation). @default 20 */
export const MAX_BAD_IN_ROW = 20;
export const POLICY_VIOLATION = 1008;

export interface GuardPolicy {
  /** A socket with more than this queued is a slow consumer: closed with 4408. */
  readonly maxBufferedBytes: number;
  /** Called before a slow consumer is closed (count it, warn). */
  slowConsumer(s: GuardedSocket): void;
  /** Called before a socket is closed with 4401 (count it, warn; never log the token). */
  unauthorized(s: GuardedSocket, why: string): void;
}

export class GuardedSocket {
  private badInRow = 0;

  constructor(readonly ws: WebSocket, readonly remote: string, private readonly policy: GuardPolicy) {}

  /** Open: sends go out and messages count (a closing socket's are ignored). */
  get open(): boolean { return this.ws.readyState === WebSocket.OPEN; }

  /** Send unless closed; a socket whose peer stopped reading is closed with 4408 instead. */
  send(text: string): boolean {
    const ws = this.ws;
    if (ws.readyState !== WebSocket.OPEN) return false;
    if (ws.bufferedAmount > this.policy.maxBufferedBytes) {
      this.policy.slowConsumer(this);
      ws.close(CloseCodes.SlowConsumer, 'send buffer full');
      return false;
    }
    ws.send(text);
    return true;
  }

  /** A message that decoded: the bad-message run is over. */
  good(): void { this.badInRow = 0; }

  /** A bad message (already answered by the endpoint): the MAX_BAD_IN_ROW-th in a row closes the socket. */
  bad(): void {
    if (++this.badInRow >= MAX_BAD_IN_ROW) this.ws.close(POLICY_VIOLATION, 'too many bad messages');
  }

  /** Wrong or missing token: closed with 4401. */
  refuse(why: string): void {
    this.policy.unauthorized(this, why);
    this.ws.close(CloseCodes.Unauthorized, 'unauthorized');
  }

  close(code: number, reason: string): void { this.ws.close(code, reason); }
  /** ws ≥ 8 pauses the underlying socket: it stops reading (TCP backpressure to the peer). */
  pause(): void { this.ws.pause(); }
  resume(): void { this.ws.resume(); }
}

export function remoteOf(req: IncomingMessage): string {
  return `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
}

export function rawLength(data: WebSocket.RawData): number {
  if (Array.isArray(data)) return data.reduce((n, b) => n + b.length, 0);
  return (data as Buffer | ArrayBuffer).byteLength;
}
