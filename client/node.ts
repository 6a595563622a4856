/**
 * Understudy client, Node entry (SPEC §7): the browser entry with `ws` as the WebSocket
 * constructor. The only client file that may import `ws`.
 *
 *   const { connect } = require('understudy/client');
 *   const store = await connect({ view: 'ws://127.0.0.1:7000' });
 */
import WebSocket from 'ws';
import { connectStore } from './store';
import type { Store } from './store';
import type { ConnectOptions } from './options';
import type { WebSocketCtor } from './connection';

export * from './index';

/**
 * A zero masking key (the MASK bit is still set). RFC 6455 makes clients mask with an
 * unpredictable key so that a script cannot choose the bytes on the wire and have an
 * intermediary that does not speak WebSocket take them for an HTTP request (§10.3: cache
 * poisoning). That cannot happen with this client's frames whatever the application stores:
 * every frame is JSON text from JSON.stringify, which writes CR and LF (and every other control
 * character) escaped, and UTF-8 never puts 0x0A or 0x0D inside a multi-byte character, so no
 * payload holds a line break, let alone a request line or header; each begins with
 * `{"type":"`. Browsers mask regardless (their WebSocket, not this one). What it saves: ws
 * turns each string into a Buffer and XORs it byte by byte in JavaScript, about 1 µs per
 * 100-byte request and 30 µs per 10 KiB one (ws without the optional bufferutil addon);
 * unmasked, the string goes to the socket as is, and the replica skips unmasking it (ws does
 * for a zero key). The replicas' own links do the same (server/net/link.ts).
 */
function zeroMask(mask: Buffer): Buffer {
  mask[0] = mask[1] = mask[2] = mask[3] = 0; // Buffer#fill is a native call for 4 bytes
  return mask;
}

/**
 * Also: no UTF-8 check of the frames received. They come from the view service and the
 * replicas, whose every frame is a JavaScript string ws wrote as UTF-8 (Node writes a lone
 * surrogate as U+FFFD), so the check never fails; if a peer sent broken UTF-8 anyway, the text
 * would decode with U+FFFD in place of the bad bytes instead of closing the link (1007). It
 * cost about a third of a microsecond per reply (`npm run bench` profiles).
 */
const NODE_CLIENT_OPTIONS: WebSocket.ClientOptions = Object.freeze({ generateMask: zeroMask, skipUTF8Validation: true });

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
    super(url, NODE_CLIENT_OPTIONS);
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
