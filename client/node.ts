/**
 * Understudy client, Node entry (SPEC §7): the browser entry with `ws` as the WebSocket
 * constructor. The only client file that may import `ws`.
 *
 *   const { connect } = require('understudy/client');
 *   const store = await connect({ view: 'ws://127.0.0.1:7000' });
 */
import WebSocket from 'ws';
import { connectStore } from './store';
import type { ConnectOptions, Store } from './store';
import type { WebSocketCtor } from './connection';

export * from './index';

/**
 * `ws`, with the frames sent in one turn of the event loop written together: the socket is
 * corked at the first send of a turn and uncorked right after it (process.nextTick, so no
 * latency is added). A burst of operations then costs one write instead of one per
 * operation; writev was a fifth of the client's CPU at 16 × 64 in flight (`npm run bench`).
 */
class CorkingWebSocket extends WebSocket {
  /**
   * `onmessage` without ws's per-frame MessageEvent: the handler (client/connection.ts reads
   * `event.data` only) gets a plain `{ data }`, text as a string, binary as ws delivers it —
   * what ws's own `onmessage` wrapper passes, minus building an Event for every reply.
   */
  private messageHandler: ((event: { data: unknown }) => void) | null = null;
  private readonly dispatchMessage = (data: WebSocket.RawData, isBinary: boolean): void => {
    const handler = this.messageHandler;
    if (handler !== null) handler.call(this, { data: isBinary ? data : data.toString() });
  };

  private corkedSocket: { cork(): void; uncork(): void } | null = null;
  /** Made once per socket, not per turn. */
  private readonly uncorkNow = (): void => {
    const socket = this.corkedSocket;
    this.corkedSocket = null;
    socket?.uncork();
  };

  static {
    Object.defineProperty(CorkingWebSocket.prototype, 'onmessage', {
      configurable: true,
      enumerable: true,
      get(this: CorkingWebSocket) {
        return this.messageHandler;
      },
      set(this: CorkingWebSocket, handler: unknown) {
        this.messageHandler = typeof handler === 'function' ? handler as (event: { data: unknown }) => void : null;
      },
    });
  }

  constructor(url: string) {
    super(url);
    this.on('message', this.dispatchMessage);
  }

  override send(data: Parameters<WebSocket['send']>[0], ...rest: unknown[]): void {
    const socket = (this as unknown as { _socket?: { cork(): void; uncork(): void } })._socket;
    if (socket && this.corkedSocket === null && this.readyState === WebSocket.OPEN) {
      this.corkedSocket = socket;
      socket.cork();
      process.nextTick(this.uncorkNow);
    }
    if (rest.length === 0) super.send(data);
    else (super.send as (...args: unknown[]) => void)(data, ...rest);
  }
}

/**
 * Connect to the view service at `options.view`, over `ws` unless `options.WebSocket` is
 * given. Resolves once the first view arrived; rejects UNAVAILABLE after `timeoutMs` if
 * the view service cannot be reached.
 */
export function connect(options: ConnectOptions): Promise<Store> {
  return connectStore(options, options?.WebSocket ?? (CorkingWebSocket as unknown as WebSocketCtor));
}
