/**
 * Understudy client, browser / ESM entry (SPEC §7). Uses the platform's WebSocket
 * (`globalThis.WebSocket`) unless one is injected; imports nothing from Node (STYLE §10).
 *
 *   import { connect } from 'understudy/client';
 *   const store = await connect({ view: 'ws://localhost:7000' });
 */
import { connectStore, Store } from './store';
import type { ConnectOptions } from './options';
import type { WebSocketCtor, ConnectionStatus } from './connection';

export { Store } from './store';
export { randomId } from './options';
export type { StoreEvents, StoreStatus, StoreState, WatchOptions } from './store';
export type { ConnectOptions, OpOptions, WriteOptions } from './options';
export type { KeyEntry, ListEntry, ListPage } from './core/requests';
export type { ListOptions } from './core/op-checks';
export { AtomicCommit } from './atomic';
export type { AtomicResult } from './atomic';
export type { WatchEvent } from './core/watches';
export type { WebSocketCtor, WebSocketLike, ConnectionStatus } from './connection';
/** @deprecated the old name of ConnectionStatus (kept so that existing imports compile). */
export type LinkStatus = ConnectionStatus;
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
  return connectStore(options, options?.WebSocket ?? platform).then((store) => {
    reconnectOnWake(store);
    return store;
  });
}

/** The parts of `window` and `document` used here (absent in workers and Node). */
interface Wakeable {
  addEventListener(type: string, fn: () => void): void;
  removeEventListener(type: string, fn: () => void): void;
}

/**
 * In a browser page, don't wait out a reconnect backoff when the cause is gone: reconnect
 * at once when the network comes back (`online`) and when the tab becomes visible again
 * (a background tab's timers are throttled and its sockets often dropped, e.g. on phones).
 * The listeners are removed by `store.close()`. Elsewhere (workers, Node, Deno) nothing.
 */
function reconnectOnWake(store: Store): void {
  const g = globalThis as { window?: Wakeable; document?: Wakeable & { visibilityState?: string } };
  const win = g.window;
  const doc = g.document;
  if (!win || !doc || typeof win.addEventListener !== 'function' || typeof doc.addEventListener !== 'function') return;
  const wake = (): void => store.reconnectNow();
  const onVisible = (): void => {
    if (doc.visibilityState === undefined || doc.visibilityState === 'visible') wake();
  };
  win.addEventListener('online', wake);
  doc.addEventListener('visibilitychange', onVisible);
  // close() ends in state 'closed' (emitted before it drops every listener): Store itself
  // stays free of DOM code (STYLE §10).
  const onState = (state: string): void => {
    if (state !== 'closed') return;
    store.off('state', onState);
    win.removeEventListener('online', wake);
    doc.removeEventListener('visibilitychange', onVisible);
  };
  store.on('state', onState);
}
