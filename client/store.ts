/**
 * The public client: `Store` (SPEC §7), what `connect()` resolves to. Isomorphic: it imports
 * only common/ and client/, and gets its WebSocket constructor injected (STYLE §10).
 *
 * The public API only: every method hands over to the shell (client/session.ts), which
 * drives the pure cores in client/core/ (requests, watches, deadlines, the NOT_PRIMARY rule)
 * over the two connections. Options are checked in client/options.ts.
 */
import type { View } from '../common/view';
import { Emitter } from '../common/emitter';
import { UnderstudyError } from '../common/errors';
import type { WatchEvent } from './core/watches';
import type { ConnectionStatus, WebSocketCtor } from './connection';
import { ConnectOptions, OpOptions, WriteOptions, ResolvedOptions, resolveOptions } from './options';
import type { KeyEntry, ListPage } from './core/requests';
import { AtomicCommit, type AtomicResult } from './atomic';
import { checkListOptions, type ListOptions } from './core/op-checks';
import { Session, StoreSink } from './session';

/** The status of the link to the primary (STYLE §11). */
export type StoreStatus = ConnectionStatus;

/**
 * The store's connection state (issue #4): `connecting` until the first primary link
 * opens, `connected` while one is open, `reconnecting` after that while none is (a
 * failover, a dropped link, no primary in the view), `closed` after close().
 */
export type StoreState = 'connecting' | 'connected' | 'reconnecting' | 'closed';

/** Options of `store.watch()`. */
export interface WatchOptions {
  /**
   * Deliver every write after this revision first (replayed from the primary's history, or
   * a resync of the current values when the history no longer reaches back). `0` gives the
   * whole history or the current contents. Absent: start with the writes after the watch
   * is registered.
   */
  fromRevision?: number;
}

/**
 * Events of a Store: a typed map, so a misspelt event name fails to compile. (A type
 * alias, not an interface: only aliases satisfy the emitter's index-signature constraint
 * without adding an index signature that would accept any name.)
 */
export type StoreEvents = {
  /** A newer view was adopted (from the view service, or learned from a NOT_PRIMARY reply). */
  view: (view: View) => void;
  /** The primary link changed status. */
  status: (status: StoreStatus) => void;
  /** The connection state changed (see StoreState). */
  state: (state: StoreState) => void;
  /** Something went wrong that is not any one operation's failure (e.g. a token refused). */
  error: (error: UnderstudyError) => void;
};

/** Connect to a view service (SPEC §7). Use the `connect` of client/index.ts or client/node.ts. */
export function connectStore(options: ConnectOptions, WebSocket: WebSocketCtor | undefined): Promise<Store> {
  let resolved: ResolvedOptions;
  try {
    resolved = resolveOptions(options, WebSocket);
  } catch (err) {
    return Promise.reject(err);
  }
  return new Promise<Store>((resolve, reject) => {
    const store = new Store(resolved, (error) => (error ? reject(error) : resolve(store)));
  });
}

/**
 * A connection to an Understudy cluster. Get one from `connect()`. Operations go to the
 * current primary; across failovers they are retried with the same (clientId, seq), so
 * each takes effect at most once.
 */
export class Store extends Emitter<StoreEvents> {
  private readonly session: Session;

  /** @internal use connect(). */
  constructor(o: ResolvedOptions, ready: (error: UnderstudyError | null) => void) {
    super();
    const sink: StoreSink = {
      emit: (event, ...args) => this.emit(event, ...args),
      listenerThrew: (err) => this.onListenerError(err),
      close: () => void this.close(),
    };
    this.session = new Session(o, sink, ready);
  }

  /** The current view (VIEW0 until the first one arrives). */
  get view(): View {
    return this.session.view;
  }

  /** The status of the link to the primary. */
  get status(): StoreStatus {
    return this.session.status;
  }

  /** The connection state: connecting, connected, reconnecting or closed. */
  get state(): StoreState {
    return this.session.state;
  }

  /**
   * The highest store revision this client has seen (in a reply or a watch event): every
   * write this client has had acknowledged has a revision ≤ it. 0 before any.
   */
  get revision(): number {
    return this.session.revision;
  }

  /**
   * Reconnect at once if a link is down, without waiting out its backoff (browsers call it
   * on `online` and when a tab becomes visible again). Open links are left alone.
   */
  reconnectNow(): void {
    this.session.reconnectNow();
  }

  /**
   * Watch a key, or every key starting with a prefix (`'user:*'`; `'*'` is every key), for
   * committed writes (SPEC §7). `cb` gets `{ key, value, revision }` (value null: deleted) in
   * revision order, each write exactly once, across reconnects and failovers: the watch is
   * registered again on every new primary link from the last revision delivered. When the
   * primary's history no longer reaches back that far, the current values are delivered
   * instead, marked `resync: true` (the writes in between were skipped; for a prefix, a key
   * that disappeared meanwhile is delivered as null). Returns `stop()`.
   * @throws UnderstudyError BAD_REQUEST or TOO_LARGE for a bad pattern or too many watches, CLOSED after close()
   */
  watch(keyOrPrefix: string, cb: (event: WatchEvent) => void, opts: WatchOptions = {}): () => void {
    return this.session.watch(keyOrPrefix, cb, opts.fromRevision);
  }

  /** This client's id: every op is identified by (clientId, seq). */
  get clientId(): string {
    return this.session.clientId;
  }

  // The four return Session.run()'s promise itself (no async wrapper: one promise and fewer
  // microtask turns per operation); run() never throws, it rejects.

  /** The value of `key`, or null if it does not exist. */
  get(key: string, opts?: OpOptions): Promise<string | null> {
    return this.session.run('get', key, undefined, opts) as Promise<string | null>;
  }

  /**
   * The value of `key` and the revision of its last write (SPEC §10): `{ key, value, revision }`,
   * value null and revision 0 if it does not exist. Pass the revision to `ifRevision`.
   */
  getEntry(key: string, opts?: OpOptions): Promise<KeyEntry> {
    return this.session.run('getEntry', key, undefined, opts) as Promise<KeyEntry>;
  }

  /**
   * Set `key` to `value`. Resolves once replicated. With `ifRevision`, only if the key's
   * revision is that (0: it must not exist); otherwise rejects CONFLICT with `err.revision`.
   * With `ttlMs` (1..30 days) the store deletes the key that long after (watchers get null); a
   * put without it clears an earlier ttl. With `ephemeral: true` the key belongs to this
   * client's session: deleted once the client has had no link to the primary for
   * `sessionTtlMs` (a later plain put makes it plain again). SPEC §10.
   */
  put(key: string, value: string, opts?: OpOptions & WriteOptions): Promise<void> {
    return this.session.run('put', key, value, opts) as Promise<void>;
  }

  /** Append `value` to `key` (created if missing). Resolves to the new length in UTF-8 bytes, like Redis APPEND. */
  append(key: string, value: string, opts?: OpOptions): Promise<number> {
    return this.session.run('append', key, value, opts) as Promise<number>;
  }

  /**
   * One page of the keys starting with `prefix`, in key order (SPEC §10): `{ entries, revision,
   * more }`. `limit` 1..10000 (default 1000; fewer when the page would pass the message limit),
   * `after` a key (pass the last key of the previous page), `keysOnly` leaves values out.
   * Each page is linearizable; `revision` is the store's revision at that read, so
   * `watch(prefix + '*', cb, { fromRevision: page.revision })` misses no later write.
   */
  list(prefix: string, opts: ListOptions & OpOptions = {}): Promise<ListPage> {
    const bad = checkListOptions(opts);
    if (bad) return Promise.reject(bad);
    const extra = { limit: opts.limit ?? 1000, ...(opts.after !== undefined ? { after: opts.after } : {}), ...(opts.keysOnly ? { keysOnly: true } : {}) };
    return this.session.run('list', prefix, undefined, opts, extra) as Promise<ListPage>;
  }

  /**
   * An atomic commit (SPEC §10): `store.atomic().check('a', 3).put('a', '1').delete('c').commit()`
   * → `{ ok: true, revision }` (one revision for all of it) or `{ ok: false, key, revision }`
   * (a check failed; nothing written). Up to 1000 checks and writes, or the message limit.
   */
  atomic(): AtomicCommit {
    return new AtomicCommit(this.session.limits, (extra, opts) => this.session.run('atomic', '', undefined, opts, extra) as Promise<AtomicResult>);
  }

  /** Delete `key`. Resolves to whether it existed. `ifRevision` as for put. */
  delete(key: string, opts?: OpOptions & WriteOptions): Promise<boolean> {
    return this.session.run('delete', key, undefined, opts) as Promise<boolean>;
  }

  /**
   * Close both links and clear every timer. Pending operations reject with CLOSED (their
   * outcome is unknown if they were sent); later calls reject with CLOSED.
   */
  async close(): Promise<void> {
    if (this.session.isClosed) return;
    this.session.close();
    this.removeAllListeners();
  }
}
