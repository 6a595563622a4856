/**
 * The live data behind understudy/react's hooks (SPEC §13): one `Source` per (store, key)
 * and per (store, prefix pattern), shared by every component that reads it, with a cached,
 * immutable snapshot that is replaced only when what it holds changes. That is what
 * `useSyncExternalStore` needs: `getSnapshot()` returns the same object until a change, so a
 * component re-renders only when its own key changed, and two components reading one key in
 * one render see the same object (no tearing).
 *
 *   first subscriber ──▶ store.watch(pattern, {fromRevision: 0}) ──▶ events (replay, then live)
 *                    └─▶ store.get(key): the barrier ──resolves──▶ loading: false, notify
 *   last unsubscribe ──▶ stop(): the watch ends, the source is forgotten
 *
 * Why a `get` ends the loading state: the client registers watches on a primary link
 * before it sends requests, and the primary orders a watch registration with the
 * operations (docs/PROTOCOL.md), so by the time a `get` sent after the watch is answered,
 * the watch's replay (or resync) has been delivered. The public API has no other "replay
 * complete" signal. Until then events are folded in without notifying (a long history
 * replays as one render, not one per write).
 *
 * The cost of exact revisions: a watch from revision 0 replays the writes of its key or
 * prefix that are still in the primary's history (by default at most its last 10 000 events
 * or 16 MiB), or a resync of the current values when the history no longer reaches back
 * to 0. For a key written thousands of times that is a burst on every first mount; a
 * watch from "now" would need the `synced` revision (or SPEC §10's getEntry) from the
 * public API to know the revision of the value it reads.
 *
 * Only the public Store API is used (watch, get); types only are imported, so this entry
 * bundles none of the client (it is passed the store the application connected).
 */
import type { Store, WatchEvent } from '../index';

/** What `useKey` returns (SPEC §13). */
export interface KeyState {
  /** The key's value; null: absent (or not loaded yet). */
  readonly value: string | null;
  /**
   * The revision of the key's last write, as its watch delivered it (after a resync: the
   * revision of that snapshot, at which the value was current); 0: never written (or
   * deleted before the history the watch replayed), or not known yet.
   */
  readonly revision: number;
  /** True until the first read completed. */
  readonly loading: boolean;
  /**
   * Why the watch or the first read failed (an UnderstudyError: e.g. TIMEOUT when no primary
   * answered in time); the watch goes on, and the next write delivered clears it.
   */
  readonly error: Error | null;
}

/** One live entry of a prefix. */
export interface Entry {
  readonly key: string;
  readonly value: string;
  readonly revision: number;
}

/** What `useWatchState` returns; `useWatch` returns its `entries`. */
export interface PrefixState {
  /** The matching keys that exist, in key order. */
  readonly entries: readonly Entry[];
  /** The highest revision delivered for the prefix (0: none yet). */
  readonly revision: number;
  readonly loading: boolean;
  readonly error: Error | null;
}

/** Before a source exists, on the server, and without a store: one constant each, so identity is stable. */
export const LOADING_KEY: KeyState = Object.freeze({ value: null, revision: 0, loading: true, error: null });
export const LOADING_PREFIX: PrefixState = Object.freeze({ entries: Object.freeze([]) as readonly Entry[], revision: 0, loading: true, error: null });

/** A snapshot source `useSyncExternalStore` subscribes to. */
export interface Source<S> {
  snapshot(): S;
  subscribe(listener: () => void): () => void;
}

/** Shared parts: the listeners, the start on the first and the stop on the last. */
abstract class SharedSource<S> implements Source<S> {
  private readonly listeners = new Set<() => void>();
  private stopWatch: (() => void) | null = null;
  protected loaded = false;

  constructor(protected readonly store: Store, protected readonly pattern: string, private readonly forget: () => void) {}

  abstract snapshot(): S;
  protected abstract onEvent(e: WatchEvent): boolean;
  protected abstract onLoaded(value: string | null): void;
  protected abstract onError(error: Error): void;

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    if (this.listeners.size === 1 && this.stopWatch === null) this.start();
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size > 0) return;
      this.stopWatch?.();
      this.stopWatch = null;
      this.forget();
    };
  }

  protected notify(): void {
    for (const l of [...this.listeners]) l();
  }

  private start(): void {
    try {
      // A no-op stop until watch() returns: it can throw (BAD_REQUEST, TOO_LARGE, CLOSED).
      this.stopWatch = () => {};
      this.stopWatch = this.store.watch(this.pattern, (e) => {
        if (this.onEvent(e) && this.loaded) this.notify();
      }, { fromRevision: 0 });
    } catch (err) {
      this.loaded = true;
      this.onError(err as Error);
      return;
    }
    // The barrier read (see the top of this file): for a key its own value, for a prefix
    // the literal key `prefix*` (any read ordered after the watch would do).
    this.store.get(this.pattern).then((value) => {
      if (this.stopWatch === null) return; // stopped meanwhile
      this.loaded = true;
      this.onLoaded(value);
      this.notify();
    }, (err: Error) => {
      if (this.stopWatch === null) return;
      this.loaded = true;
      this.onError(err);
    });
  }
}

/** One key: `{ value, revision, loading, error }`. */
export class KeySource extends SharedSource<KeyState> {
  /** What the components see: published at the end of loading and on each change after it. */
  private state: KeyState = LOADING_KEY;
  /** The latest delivered by the watch (replay or live), published or not. */
  private value: string | null = null;
  private revision = 0;
  private seen = false;

  snapshot(): KeyState {
    return this.state;
  }

  protected onEvent(e: WatchEvent): boolean {
    // A key ending in `*` is watched as a prefix: only the key itself counts. The client
    // delivers in revision order, exactly once; the check keeps `revision` monotonic anyway.
    if (e.key !== this.pattern || e.revision < this.revision) return false;
    this.seen = true;
    this.value = e.value;
    this.revision = e.revision;
    if (!this.loaded) return false;
    const s = this.state;
    if (s.value === e.value && s.revision === e.revision && s.error === null) return false;
    this.state = { value: e.value, revision: e.revision, loading: false, error: null };
    return true;
  }

  protected onLoaded(value: string | null): void {
    // Normally the watch delivered the value first (same link, ordered before the read); if
    // it did not (a retry took another path), the read's value stands until the next event.
    if (!this.seen) this.value = value;
    this.state = { value: this.value, revision: this.revision, loading: false, error: null };
  }

  protected onError(error: Error): void {
    this.state = { value: this.value, revision: this.revision, loading: false, error };
    this.notify();
  }
}

/** Every key of a prefix, in key order. */
export class PrefixSource extends SharedSource<PrefixState> {
  private readonly live = new Map<string, Entry>();
  private revision = 0;
  private error: Error | null = null;
  /** The snapshot, rebuilt lazily after a change: a burst of events costs one sort. */
  private state: PrefixState = LOADING_PREFIX;
  private dirty = false;

  snapshot(): PrefixState {
    if (this.dirty && this.loaded) {
      this.dirty = false;
      const entries = [...this.live.values()].sort((a, b) => (a.key < b.key ? -1 : 1));
      this.state = Object.freeze({ entries: Object.freeze(entries), revision: this.revision, loading: !this.loaded, error: this.error });
    }
    return this.state;
  }

  protected onEvent(e: WatchEvent): boolean {
    if (e.revision > this.revision) this.revision = e.revision;
    if (e.value === null) this.live.delete(e.key);
    else this.live.set(e.key, { key: e.key, value: e.value, revision: e.revision });
    this.error = null;
    this.dirty = true;
    return true;
  }

  protected onLoaded(): void {
    this.dirty = true;
  }

  protected onError(error: Error): void {
    this.error = error;
    this.dirty = true;
    this.notify();
  }
}

/** The sources of each store, by pattern; a source lives while a component subscribes to it. */
const registry = new WeakMap<Store, Map<string, SharedSource<unknown>>>();

/**
 * The source of `key` (`prefix: false`) or of the prefix pattern `p*`, as a handle for one
 * hook: reading a snapshot never creates anything (render stays free of side effects, and
 * a render React throws away leaks nothing); subscribing creates or joins the shared one.
 */
export function sourceHandle<S>(store: Store, pattern: string, prefix: boolean, initial: S): Source<S> {
  const id = (prefix ? 'p' : 'k') + pattern;
  const existing = (): Source<S> | undefined => registry.get(store)?.get(id) as Source<S> | undefined;
  return {
    snapshot: () => existing()?.snapshot() ?? initial,
    subscribe(listener) {
      let found = existing();
      if (!found) {
        let byPattern = registry.get(store);
        if (!byPattern) registry.set(store, byPattern = new Map());
        const map = byPattern;
        const forget = (): void => { if (map.get(id) === created) map.delete(id); };
        const created: SharedSource<unknown> = prefix ? new PrefixSource(store, pattern, forget) : new KeySource(store, pattern, forget);
        map.set(id, created);
        found = created as unknown as Source<S>;
      }
      return found.subscribe(listener);
    },
  };
}
