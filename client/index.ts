/**
 * Understudy client, browser / ESM entry (SPEC §7). Uses the platform's WebSocket
 * (`globalThis.WebSocket`) unless one is injected; imports nothing from Node (STYLE §10).
 *
 *   import { connect } from 'understudy/client';
 *   const store = await connect({ view: 'ws://localhost:7000' });
 */
import { connectStore, Store } from './store';
import type { ConnectOptions } from './store';
import type { WebSocketCtor } from './connection';

export { Store, randomId } from './store';
export type { ConnectOptions, OpOptions, StoreEvents, StoreStatus } from './store';
export type { WebSocketCtor, WebSocketLike, LinkStatus } from './connection';
export { UnderstudyError, isUnderstudyError, ERROR_CODES, CloseCodes } from '../common/errors';
export type { ErrorCode } from '../common/errors';
export type { View, ReplicaId } from '../common/view';
export { VIEW0 } from '../common/view';
export type { Logger } from '../common/logger';
export { noopLogger } from '../common/logger';
export type { BackoffPolicy } from '../common/backoff';
export { DEFAULT_BACKOFF } from '../common/backoff';

/**
 * Connect to the view service at `options.view`. Resolves once the first view arrived;
 * rejects UNAVAILABLE after `timeoutMs` if the view service cannot be reached.
 */
export function connect(options: ConnectOptions): Promise<Store> {
  const platform = (globalThis as { WebSocket?: unknown }).WebSocket as WebSocketCtor | undefined;
  return connectStore(options, options?.WebSocket ?? platform);
}
