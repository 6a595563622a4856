/**
 * An in-memory stand-in for the Store's public API that the hooks use (watch, get, on/off,
 * view, state), for the hook unit tests: deterministic, no sockets. It keeps what the real
 * client guarantees (SPEC §7): a watch with `fromRevision: 0` first delivers the current
 * values (a resync, asynchronously, like the real one), then every write in revision order;
 * a `get` issued after a watch answers after that watch's replay.
 */
import type { Store, View, StoreState, WatchEvent } from '../../client/index';

interface FakeWatch {
  readonly pattern: string;
  readonly cb: (e: WatchEvent) => void;
  live: boolean;
}

export class FakeStore {
  revision = 0;
  readonly data = new Map<string, { value: string; revision: number }>();
  readonly watches = new Set<FakeWatch>();
  /** Every pattern ever passed to watch(), in order. */
  readonly watched: string[] = [];
  gets = 0;
  view: View = { viewnum: 1, primary: 'ws://p', backup: null };
  state: StoreState = 'connected';
  private readonly handlers = new Map<string, Set<(x: unknown) => void>>();

  /** This, typed as the Store the hooks take. */
  get asStore(): Store {
    return this as unknown as Store;
  }

  get activeWatches(): number {
    return this.watches.size;
  }

  watch(pattern: string, cb: (e: WatchEvent) => void, opts: { fromRevision?: number } = {}): () => void {
    if (opts.fromRevision !== 0) throw new Error('the hooks watch from revision 0');
    const w: FakeWatch = { pattern, cb, live: false };
    this.watches.add(w);
    this.watched.push(pattern);
    const snapshot = [...this.data].filter(([k]) => matches(pattern, k));
    const at = this.revision;
    queueMicrotask(() => {
      if (!this.watches.has(w)) return;
      for (const [key, v] of snapshot) cb({ key, value: v.value, revision: at, resync: true });
      w.live = true;
    });
    return () => { this.watches.delete(w); };
  }

  get(key: string): Promise<string | null> {
    this.gets++;
    const value = this.data.get(key)?.value ?? null;
    // Two turns: after every replay queued before it.
    return Promise.resolve().then(() => Promise.resolve()).then(() => value);
  }

  /** A committed write (value null: a delete), delivered to every live matching watch at once. */
  write(key: string, value: string | null): number {
    const revision = ++this.revision;
    if (value === null) this.data.delete(key);
    else this.data.set(key, { value, revision });
    for (const w of [...this.watches]) if (w.live && matches(w.pattern, key)) w.cb({ key, value, revision });
    return revision;
  }

  on(event: string, fn: (x: unknown) => void): this {
    let set = this.handlers.get(event);
    if (!set) this.handlers.set(event, set = new Set());
    set.add(fn);
    return this;
  }

  off(event: string, fn: (x: unknown) => void): this {
    this.handlers.get(event)?.delete(fn);
    return this;
  }

  listeners(event: string): number {
    return this.handlers.get(event)?.size ?? 0;
  }

  setView(view: View): void {
    this.view = view;
    for (const fn of [...(this.handlers.get('view') ?? [])]) fn(view);
  }

  setState(state: StoreState): void {
    this.state = state;
    for (const fn of [...(this.handlers.get('state') ?? [])]) fn(state);
  }
}

function matches(pattern: string, key: string): boolean {
  return pattern.endsWith('*') ? key.startsWith(pattern.slice(0, -1)) : key === pattern;
}
