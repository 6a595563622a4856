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
 * Connect to the view service at `options.view`, over `ws` unless `options.WebSocket` is
 * given. Resolves once the first view arrived; rejects UNAVAILABLE after `timeoutMs` if
 * the view service cannot be reached.
 */
export function connect(options: ConnectOptions): Promise<Store> {
  return connectStore(options, options?.WebSocket ?? WebSocket);
}
