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
  private corked = false;

  override send(data: Parameters<WebSocket['send']>[0], ...rest: unknown[]): void {
    const socket = (this as unknown as { _socket?: { cork(): void; uncork(): void } })._socket;
    if (socket && !this.corked && this.readyState === WebSocket.OPEN) {
      this.corked = true;
      socket.cork();
      process.nextTick(() => {
        this.corked = false;
        socket.uncork();
      });
    }
    (super.send as (...args: unknown[]) => void)(data, ...rest);
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
