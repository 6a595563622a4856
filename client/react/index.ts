/**
 * `understudy/react` (SPEC §13): React hooks on a connected Store, built on
 * `useSyncExternalStore` (React ≥ 18, an optional peer dependency: only this entry imports
 * it; the client itself stays dependency-free).
 *
 *   import { connect } from 'understudy/client';
 *   import { useKey, useWatch, useView, useConnectionState } from 'understudy/react';
 *
 *   function Counter({ store }: { store: Store | null }) {
 *     const { value, revision, loading, error } = useKey(store, 'counter');
 *     …
 *   }
 *
 * Every hook takes `store: Store | null | undefined`: `connect()` is asynchronous, and
 * during server-side rendering there is no store at all. Without a store, and on the
 * server (`getServerSnapshot`), the hooks return their loading state and touch nothing: no
 * WebSocket, no watch. A component re-renders only when what it reads changes: the
 * snapshots are cached and shared, one watch per (store, key or prefix) whatever the
 * number of components reading it (client/react/sources.ts).
 */
import { useCallback, useMemo, useSyncExternalStore } from 'react';
import type { Store, StoreState, View } from '../index';
import { sourceHandle, LOADING_KEY, LOADING_PREFIX } from './sources';
import type { KeyState, PrefixState, Entry, Source } from './sources';

export type { KeyState, PrefixState, Entry } from './sources';

/** The view before the first one arrives (the client's VIEW0, without importing the client). */
const NO_VIEW: View = Object.freeze({ viewnum: 0, primary: null, backup: null });

function useSource<S>(store: Store | null | undefined, pattern: string, prefix: boolean, initial: S): S {
  const source = useMemo<Source<S> | null>(
    () => (store ? sourceHandle(store, pattern, prefix, initial) : null),
    [store, pattern, prefix, initial],
  );
  const subscribe = useCallback((listener: () => void) => (source ? source.subscribe(listener) : () => {}), [source]);
  const snapshot = useCallback(() => (source ? source.snapshot() : initial), [source, initial]);
  return useSyncExternalStore(subscribe, snapshot, () => initial);
}

/**
 * One key, live: `{ value, revision, loading, error }` (SPEC §13). `revision` is the
 * revision of the key's last write (0: never written; see KeyState); it never goes
 * backwards, also across a failover (the watch delivers each write once, in revision order).
 */
export function useKey(store: Store | null | undefined, key: string): KeyState {
  return useSource(store, key, false, LOADING_KEY);
}

/**
 * Every key starting with a prefix, live: `useWatchState(store, 'todo:*')` →
 * `{ entries, revision, loading, error }`, the entries (`{ key, value, revision }`) in key
 * order. `'*'` is every key; a pattern without the `*` is one key, as in `store.watch`.
 */
export function useWatchState(store: Store | null | undefined, pattern: string): PrefixState {
  return useSource(store, pattern, true, LOADING_PREFIX);
}

/** The matching entries of `useWatchState`, in key order (SPEC §13): `[]` while loading. */
export function useWatch(store: Store | null | undefined, pattern: string): readonly Entry[] {
  return useWatchState(store, pattern).entries;
}

/** A store event as an external store: the snapshot is read from the store itself. */
function useStoreEvent<T>(store: Store | null | undefined, event: 'view' | 'state', read: (s: Store) => T, server: T): T {
  const subscribe = useCallback((listener: () => void) => {
    if (!store) return () => {};
    store.on(event, listener);
    return () => { store.off(event, listener); };
  }, [store, event]);
  const snapshot = useCallback(() => (store ? read(store) : server), [store, read, server]);
  return useSyncExternalStore(subscribe, snapshot, () => server);
}

const readView = (s: Store): View => s.view;
const readState = (s: Store): StoreState => s.state;

/** The current view (`{ viewnum, primary, backup }`), live; viewnum 0 before the first. */
export function useView(store: Store | null | undefined): View {
  return useStoreEvent(store, 'view', readView, NO_VIEW);
}

/**
 * The store's connection state, live: 'connecting' | 'connected' | 'reconnecting' |
 * 'closed' ('connecting' on the server and without a store).
 */
export function useConnectionState(store: Store | null | undefined): StoreState {
  return useStoreEvent(store, 'state', readState, 'connecting' as StoreState);
}
