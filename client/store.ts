/**
 * The public client: `Store` (SPEC §7). Isomorphic: it imports only common/ and client/,
 * and gets its WebSocket constructor injected (STYLE §10).
 *
 * This is the shell around the request table (client/requests.ts): it owns the two links
 * (client/connection.ts), every timer, and the promises, and drains the table's effects.
 *
 *   view service ──subscribe / view──▶ Requests.learnView ──'primary'──▶ primary link.target()
 *   store.put() ──▶ Requests.issue ──'send'──▶ primary link (attempt timer armed)
 *   primary ──res──▶ Requests.reply ──'resolve' | 'reject' | 'retry' (NOT_PRIMARY)──▶ promise / timer
 *   timers ──▶ Requests.resend (attempt, retry) · Requests.timedOut (deadline)
 *   store.watch() ──▶ Watches.add ──'send'──▶ primary link; every link open re-registers
 *   primary ──event / synced / error{id}──▶ Watches ──'deliver'──▶ callback, 'retry' ──▶ timer
 */
import type { View, ReplicaId } from '../common/view';
import { VIEW0 } from '../common/view';
import type { OpName, OpResult, ReqMsg } from '../common/messages';
import { Emitter } from '../common/emitter';
import { UnderstudyError, CloseCodes } from '../common/errors';
import type { Logger } from '../common/logger';
import { noopLogger } from '../common/logger';
import { BackoffPolicy, DEFAULT_BACKOFF, backoffDelay } from '../common/backoff';
import { DEFAULT_LIMITS, Limits, utf8Length, formatBytes } from '../common/limits';
import { DEFAULTS } from '../common/config';
import { decode, encode, isProtocolError } from '../common/protocol';
import { Requests, RequestEffect } from './requests';
import { Watches, WatchEffect, WatchEvent } from './watches';
import { Link, LinkStatus, WebSocketCtor } from './connection';

/** The status of the link to the primary (STYLE §11). */
export type StoreStatus = LinkStatus;

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

export interface ConnectOptions {
  /** The view service's WebSocket URL, e.g. `ws://host:7000`. */
  view: string;
  /**
   * Per operation: after this, the operation rejects with TIMEOUT (outcome unknown). Also
   * how long `connect()` waits for the first view before rejecting UNAVAILABLE.
   * @default 5000
   */
  timeoutMs?: number;
  /** The client token: sent in `subscribe`, and as `?token=` to the replicas. */
  token?: string;
  /** The WebSocket constructor. @default globalThis.WebSocket (browser entry) or `ws` (Node entry) */
  WebSocket?: WebSocketCtor;
  /** @default noopLogger */
  logger?: Logger;
  /** Reconnect policy of both links. @default DEFAULT_BACKOFF */
  backoff?: BackoffPolicy;
  /** Identifies this client for exactly-once retries. @default a random 21-character id */
  clientId?: string;
  /**
   * Resend an op still unanswered after this, on the current primary link (duplicates are
   * harmless: the store applies each (clientId, seq) once).
   * @default min(1000, timeoutMs / 3)
   */
  attemptTimeoutMs?: number;
}

/** Per-call options. */
export interface OpOptions {
  /**
   * Aborts the call with ABORTED. An operation already sent may still take effect: abort
   * stops the waiting, not the write.
   */
  signal?: AbortSignal;
  /** Overrides the store's timeoutMs for this call. */
  timeoutMs?: number;
}

/** ConnectOptions with every default filled in. */
interface Resolved {
  viewUrl: string;
  timeoutMs: number;
  token: string | null;
  WebSocket: WebSocketCtor;
  logger: Logger;
  backoff: BackoffPolicy;
  clientId: string;
  attemptTimeoutMs: number;
  limits: Limits;
}

/**
 * A pending operation's promise and timers. Deadlines with the store's timeoutMs and attempt
 * timers live in the store's two due-time queues (one shared timer); only a per-call
 * timeoutMs and a NOT_PRIMARY retry get a timer of their own.
 */
interface Waiting {
  readonly seq: number;
  resolve: (value: OpResult | undefined) => void;
  reject: (error: UnderstudyError) => void;
  /** put resolves to undefined (Promise<void>), not to the reply's null. */
  readonly resolvesVoid: boolean;
  readonly timeoutMs: number;
  /** The deadline timer of an op whose timeoutMs is not the store's (else in `deadlines`). */
  deadline: ReturnType<typeof setTimeout> | null;
  /** The NOT_PRIMARY retry timer (the attempt timer is in `attempts`): at most one of them per op. */
  retry: ReturnType<typeof setTimeout> | null;
  /** The caller's AbortSignal and our listener on it, if one was given. */
  readonly signal: AbortSignal | undefined;
  onAbort: (() => void) | null;
}

/** A monotonic clock in milliseconds (performance.now where there is one: browsers, workers, Node). */
const clock: () => number = typeof globalThis.performance?.now === 'function'
  ? () => globalThis.performance.now()
  : () => Date.now();

const NO_OPTIONS: OpOptions = Object.freeze({});

/** The longest delay setTimeout takes (2^31 − 1 ms). */
const MAX_TIMER_MS = 2_147_483_647;

/** Settles the promise being created: `new Promise(captureInto)` fills in `captured`. */
let captured: Waiting | null = null;
function captureInto(resolve: (value: OpResult | undefined) => void, reject: (error: UnderstudyError) => void): void {
  const w = captured as Waiting;
  w.resolve = resolve;
  w.reject = reject;
}
const unsettled = (): void => {};

/** Connect to a view service (SPEC §7). Use the `connect` of client/index.ts or client/node.ts. */
export function connectStore(options: ConnectOptions, WebSocket: WebSocketCtor | undefined): Promise<Store> {
  let resolved: Resolved;
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
  private readonly o: Resolved;
  private readonly log: Logger;
  private readonly requests: Requests;
  private readonly watches: Watches;
  /** Watch callbacks and NOT_PRIMARY retry timers, by watch id. */
  private readonly watchers = new Map<number, { cb: (e: WatchEvent) => void; retry: ReturnType<typeof setTimeout> | null }>();
  private maxRevision = 0;
  private readonly vsLink: Link;
  private readonly primaryLink: Link;
  private readonly waiting = new Map<number, Waiting>();
  /**
   * seq → when its deadline passes (clock ms), for ops with the store's timeoutMs. Issued in
   * seq order with one duration, so insertion order is due order: the first entry is the
   * next one due, and expiring is O(expired).
   */
  private readonly deadlines = new Map<number, number>();
  /**
   * seq → when its attempt timer fires (clock ms). Armed at each send with one duration and
   * re-inserted (delete + set) when re-armed: insertion order is due order here too.
   */
  private readonly attempts = new Map<number, number>();
  /** The one timer of both queues, and when it fires (Infinity: not armed). */
  private dueTimer: ReturnType<typeof setTimeout> | null = null;
  private dueAt = Infinity;
  /** Called once: with null when the first view arrived, or with why connect() failed. */
  private settleReady: ((error: UnderstudyError | null) => void) | null;
  private readyTimer: ReturnType<typeof setTimeout> | null = null;

  /** @internal use connect(). */
  constructor(o: Resolved, ready: (error: UnderstudyError | null) => void) {
    super();
    this.o = o;
    this.log = o.logger.child({ component: 'client', client: o.clientId });
    this.requests = new Requests(o.clientId, VIEW0);
    this.watches = new Watches(o.limits);
    this.settleReady = (error) => {
      this.settleReady = null;
      if (this.readyTimer !== null) clearTimeout(this.readyTimer);
      this.readyTimer = null;
      ready(error);
    };
    this.readyTimer = setTimeout(() => {
      this.failConnect(new UnderstudyError('UNAVAILABLE', `no view from the view service at ${o.viewUrl} within ${o.timeoutMs} ms; check that \`view\` points at a running view service (understudy view) or raise timeoutMs`));
    }, o.timeoutMs);
    this.vsLink = new Link({
      name: 'view',
      WebSocket: o.WebSocket,
      logger: this.log,
      backoff: o.backoff,
      onOpen: () => this.vsLink.send(encode({ type: 'subscribe', ...(o.token !== null ? { token: o.token } : {}) })),
      onText: (text) => this.onViewServiceText(text),
      onDrop: (code) => this.onViewServiceDrop(code),
    });
    this.primaryLink = new Link({
      name: 'primary',
      WebSocket: o.WebSocket,
      logger: this.log,
      backoff: o.backoff,
      // Watches first: a watch made before an operation is ordered before it on the primary.
      onOpen: () => { this.watches.linkOpened(); this.requests.linkOpened(); this.drain(); },
      onText: (text) => this.onPrimaryText(text),
      onDrop: (code, reason) => this.onPrimaryDrop(code, reason),
      onStatus: (to) => { this.emit('status', to); this.emit('state', stateOf(to)); },
    });
    this.vsLink.target(o.viewUrl);
  }

  /** The current view (VIEW0 until the first one arrives). */
  get view(): View {
    return this.requests.view;
  }

  /** The status of the link to the primary. */
  get status(): StoreStatus {
    return this.primaryLink.status;
  }

  /** The connection state: connecting, connected, reconnecting or closed. */
  get state(): StoreState {
    return stateOf(this.primaryLink.status);
  }

  /**
   * The highest store revision this client has seen (in a reply or a watch event): every
   * write this client has had acknowledged has a revision ≤ it. 0 before any.
   */
  get revision(): number {
    return this.maxRevision;
  }

  /**
   * Reconnect at once if a link is down, without waiting out its backoff (browsers call it
   * on `online` and when a tab becomes visible again). Open links are left alone.
   */
  reconnectNow(): void {
    this.vsLink.reconnectNow();
    this.primaryLink.reconnectNow();
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
    if (typeof cb !== 'function') throw new UnderstudyError('BAD_REQUEST', 'watch: the callback must be a function');
    const id = this.watches.add(keyOrPrefix, opts.fromRevision);
    if (id instanceof UnderstudyError) throw id;
    this.watchers.set(id, { cb, retry: null });
    this.drain();
    return () => {
      const w = this.watchers.get(id);
      if (!w) return;
      if (w.retry !== null) clearTimeout(w.retry);
      this.watchers.delete(id);
      this.watches.remove(id);
      this.drain();
    };
  }

  /** This client's id: every op is identified by (clientId, seq). */
  get clientId(): string {
    return this.o.clientId;
  }

  // The four return run()'s promise itself (no async wrapper: one promise and fewer
  // microtask turns per operation); run() never throws, it rejects.

  /** The value of `key`, or null if it does not exist. */
  get(key: string, opts?: OpOptions): Promise<string | null> {
    return this.run('get', key, undefined, opts) as Promise<string | null>;
  }

  /** Set `key` to `value`. Resolves once replicated. */
  put(key: string, value: string, opts?: OpOptions): Promise<void> {
    return this.run('put', key, value, opts) as Promise<void>;
  }

  /** Append `value` to `key` (created if missing). Resolves to the new length in UTF-8 bytes, like Redis APPEND. */
  append(key: string, value: string, opts?: OpOptions): Promise<number> {
    return this.run('append', key, value, opts) as Promise<number>;
  }

  /** Delete `key`. Resolves to whether it existed. */
  delete(key: string, opts?: OpOptions): Promise<boolean> {
    return this.run('delete', key, undefined, opts) as Promise<boolean>;
  }

  /**
   * Close both links and clear every timer. Pending operations reject with CLOSED (their
   * outcome is unknown if they were sent); later calls reject with CLOSED.
   */
  async close(): Promise<void> {
    if (this.requests.isClosed) return;
    this.requests.close();
    this.watches.close();
    for (const w of this.watchers.values()) if (w.retry !== null) clearTimeout(w.retry);
    this.watchers.clear();
    this.drain();
    if (this.dueTimer !== null) clearTimeout(this.dueTimer);
    this.dueTimer = null;
    this.dueAt = Infinity;
    this.settleReady?.(new UnderstudyError('CLOSED', 'the store was closed before the first view arrived'));
    this.vsLink.close();
    this.primaryLink.close();
    this.removeAllListeners();
  }

  // ───────────────────────── operations ─────────────────────────

  /**
   * One operation: validate, issue, and return its promise. Never throws: a bad argument (or
   * anything else) rejects. Per operation it allocates the promise, its Waiting and the
   * request; its deadline and attempt timer are entries in the two due-time queues, not timers.
   */
  private run(op: OpName, key: string, value: string | undefined, opts: OpOptions = NO_OPTIONS): Promise<OpResult | undefined> {
    try {
      const invalid = validateOp(op, key, value, this.o);
      if (invalid) return Promise.reject(invalid);
      const timeoutMs = opts.timeoutMs ?? this.o.timeoutMs;
      const badTimeout = checkMs('timeoutMs', timeoutMs);
      if (badTimeout) return Promise.reject(badTimeout);
      const signal = opts.signal;
      if (signal?.aborted) {
        return Promise.reject(new UnderstudyError('ABORTED', `${op} was aborted before it was sent; nothing was sent`, { cause: signal.reason }));
      }
      const seq = this.requests.issue(op, key, value);
      if (seq instanceof UnderstudyError) return Promise.reject(seq);
      const w: Waiting = {
        seq, resolve: unsettled, reject: unsettled, resolvesVoid: op === 'put', timeoutMs,
        deadline: null, retry: null, signal, onAbort: null,
      };
      captured = w;
      const promise = new Promise<OpResult | undefined>(captureInto);
      captured = null;
      if (signal) {
        w.onAbort = (): void => { this.requests.aborted(seq, signal.reason); this.drain(); };
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
      this.waiting.set(seq, w);
      if (timeoutMs === this.o.timeoutMs) {
        const at = clock() + timeoutMs;
        this.deadlines.set(seq, at);
        this.armDue(at);
      } else {
        w.deadline = setTimeout(() => { this.requests.timedOut(seq, timeoutMs); this.drain(); }, timeoutMs);
      }
      this.drain();
      return promise;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Arm the shared timer to fire by `at` (clock ms), unless it already fires no later. */
  private armDue(at: number): void {
    if (at >= this.dueAt) return;
    if (this.dueTimer !== null) clearTimeout(this.dueTimer);
    this.dueAt = at;
    // setTimeout takes at most 2^31 − 1 ms (more fires at once): a longer wait re-arms.
    this.dueTimer = setTimeout(this.onDue, Math.min(MAX_TIMER_MS, Math.max(0, at - clock())));
  }

  /**
   * The shared timer fired: reject every op past its deadline (TIMEOUT), resend every op whose
   * attempt timer is due, then arm for the next one due. Both queues are in due order, so this
   * looks at the expired entries and one more of each.
   */
  private readonly onDue = (): void => {
    this.dueTimer = null;
    this.dueAt = Infinity;
    const now = clock();
    for (const [seq, at] of this.deadlines) {
      if (at > now) break;
      this.deadlines.delete(seq);
      this.requests.timedOut(seq, this.o.timeoutMs);
    }
    for (const [seq, at] of this.attempts) {
      if (at > now) break;
      this.attempts.delete(seq);
      this.requests.resend(seq); // a send re-arms it (at the end of the queue), in drain()
    }
    this.drain();
    let next = Infinity;
    for (const at of this.deadlines.values()) { next = at; break; }
    for (const at of this.attempts.values()) { if (at < next) next = at; break; }
    if (next !== Infinity && !this.requests.isClosed) this.armDue(next);
  };

  /** Carry out the watch table's and the request table's effects, oldest first (watches first). */
  private drain(): void {
    for (;;) {
      const watchEffects = this.watches.takeEffects();
      const requestEffects = this.requests.takeEffects();
      if (watchEffects.length === 0 && requestEffects.length === 0) return;
      for (const e of watchEffects) this.applyWatch(e);
      for (const e of requestEffects) this.apply(e);
    }
  }

  private applyWatch(e: WatchEffect): void {
    switch (e.kind) {
      case 'send':
        this.primaryLink.send(encode(e.msg)); // false while down: linkOpened() registers again
        return;
      case 'deliver': {
        const w = this.watchers.get(e.id);
        if (!w) return;
        if (e.event.revision > this.maxRevision) this.maxRevision = e.event.revision;
        try {
          w.cb(e.event);
        } catch (err) {
          this.onListenerError(err); // a throwing callback must not break delivery to the others
        }
        return;
      }
      case 'retry': {
        // NOT_PRIMARY: a newer view moves us to its primary (whose link re-registers);
        // otherwise try this primary again after a backoff, while the view service catches up.
        const before = this.requests.view.primary;
        if (e.view) this.requests.learnView(e.view);
        const w = this.watchers.get(e.id);
        if (!w || this.requests.view.primary !== before) return;
        if (w.retry !== null) clearTimeout(w.retry);
        w.retry = setTimeout(() => {
          w.retry = null;
          this.watches.resend(e.id);
          this.drain();
        }, backoffDelay(e.attempt, this.o.backoff));
        return;
      }
      case 'failed':
        this.watchers.delete(e.id);
        this.log.warn({ code: e.error.code, err: e.error.message }, 'a watch was refused');
        this.emit('error', e.error);
        return;
    }
  }

  private apply(e: RequestEffect): void {
    switch (e.kind) {
      case 'send':
        this.primaryLink.send(encode(e.req));
        this.armAttempt(e.req.seq);
        return;
      case 'retry':
        this.armRetry(e.seq, backoffDelay(e.attempt, this.o.backoff));
        return;
      case 'resolve':
      case 'reject': {
        const w = this.waiting.get(e.seq);
        if (!w) return;
        this.waiting.delete(e.seq);
        this.deadlines.delete(e.seq);
        this.attempts.delete(e.seq);
        if (w.deadline !== null) clearTimeout(w.deadline);
        if (w.retry !== null) clearTimeout(w.retry);
        if (w.onAbort !== null) w.signal?.removeEventListener('abort', w.onAbort);
        if (e.kind === 'resolve') w.resolve(w.resolvesVoid ? undefined : e.value);
        else w.reject(e.error);
        return;
      }
      case 'view':
        this.log.info({ view: e.view }, `view ${e.view.viewnum}: primary ${e.view.primary ?? 'none'}, backup ${e.view.backup ?? 'none'}`);
        this.emit('view', e.view);
        return;
      case 'primary':
        this.watches.linkClosed(); // watches live on one link: the next one registers them again
        this.primaryLink.target(e.primary === null ? null : this.primaryUrl(e.primary));
        return;
    }
  }

  /** (Re)arm the attempt timer of `seq` (it replaces a NOT_PRIMARY retry timer): resend after attemptTimeoutMs. */
  private armAttempt(seq: number): void {
    const w = this.waiting.get(seq);
    if (!w) return;
    if (w.retry !== null) {
      clearTimeout(w.retry);
      w.retry = null;
    }
    const at = clock() + this.o.attemptTimeoutMs;
    this.attempts.delete(seq); // re-inserted at the end: the queue stays in due order
    this.attempts.set(seq, at);
    this.armDue(at);
  }

  /** Arm the NOT_PRIMARY retry timer of `seq` (it replaces the attempt timer): resend after `delayMs`. */
  private armRetry(seq: number, delayMs: number): void {
    const w = this.waiting.get(seq);
    if (!w) return;
    this.attempts.delete(seq);
    if (w.retry !== null) clearTimeout(w.retry);
    w.retry = setTimeout(() => {
      w.retry = null;
      this.requests.resend(seq);
      this.drain();
    }, delayMs);
  }

  private primaryUrl(primary: ReplicaId): string {
    if (this.o.token === null) return primary;
    try {
      const u = new URL(primary);
      u.searchParams.set('token', this.o.token);
      return u.toString();
    } catch {
      return primary; // the link logs and retries a URL the WebSocket refuses
    }
  }

  // ───────────────────────── link events ─────────────────────────

  private onViewServiceText(text: string): void {
    const msg = decode(text);
    if (isProtocolError(msg)) {
      this.log.warn({ err: msg.message }, 'view service sent an unreadable message');
      return;
    }
    if (msg.type === 'view') {
      this.requests.learnView(msg.view);
      this.drain();
      this.settleReady?.(null); // the first view, whatever its number: connect() resolves
    } else if (msg.type === 'error') {
      this.log.warn({ code: msg.code, err: msg.message }, 'view service refused a message');
      this.emit('error', new UnderstudyError(msg.code, `the view service said: ${msg.message}`));
    } else {
      this.log.debug({ type: msg.type }, 'view service sent an unexpected message');
    }
  }

  private onViewServiceDrop(code: number): boolean {
    if (code !== CloseCodes.Unauthorized) return true;
    const error = new UnderstudyError('UNAUTHORIZED', `the view service at ${this.o.viewUrl} refused the client token (close 4401); pass the cluster's client token as \`token\``);
    this.log.error({ code }, error.message);
    this.emit('error', error);
    this.failConnect(error);
    return false;
  }

  private onPrimaryText(text: string): void {
    const msg = decode(text);
    if (isProtocolError(msg)) {
      this.log.warn({ err: msg.message }, 'primary sent an unreadable message');
      return;
    }
    if (msg.type === 'res') {
      if (msg.ok && msg.rev !== undefined && msg.rev > this.maxRevision) this.maxRevision = msg.rev;
      this.requests.reply(msg);
      this.drain();
    } else if (msg.type === 'event' || msg.type === 'synced') {
      if (msg.type === 'event') this.watches.event(msg);
      else this.watches.synced(msg);
      this.drain();
    } else if (msg.type === 'error' && msg.id !== undefined) {
      this.watches.error({ ...msg, id: msg.id });
      this.drain();
    } else if (msg.type === 'error') {
      this.log.warn({ code: msg.code, err: msg.message }, 'primary refused a message');
      this.emit('error', new UnderstudyError(msg.code, `the primary said: ${msg.message}`));
    } else {
      this.log.debug({ type: msg.type }, 'primary sent an unexpected message');
    }
  }

  private onPrimaryDrop(code: number, reason: string): boolean {
    this.requests.linkClosed();
    this.watches.linkClosed();
    if (code !== CloseCodes.Unauthorized) return true;
    const message = `the primary ${this.view.primary ?? ''} refused the client token (close 4401${reason ? `: ${reason}` : ''}); pass the cluster's client token as \`token\``;
    this.log.error({ code }, message);
    this.requests.unauthorized(message);
    this.drain();
    this.emit('error', new UnderstudyError('UNAUTHORIZED', message));
    return false;
  }

  /** connect() fails: reject it and release everything. */
  private failConnect(error: UnderstudyError): void {
    if (!this.settleReady) return;
    this.settleReady(error);
    void this.close();
  }
}

function stateOf(status: LinkStatus): StoreState {
  return status === 'open' ? 'connected' : status;
}

// ───────────────────────── options and validation ─────────────────────────

function resolveOptions(o: ConnectOptions, WebSocket: WebSocketCtor | undefined): Resolved {
  const bad = (message: string): UnderstudyError => new UnderstudyError('BAD_REQUEST', message);
  if (!o || typeof o.view !== 'string' || !/^wss?:\/\//i.test(o.view)) {
    throw bad(`view must be the view service's ws:// or wss:// URL (got ${JSON.stringify(o?.view)})`);
  }
  const timeoutMs = o.timeoutMs ?? DEFAULTS.timeoutMs;
  const attemptTimeoutMs = o.attemptTimeoutMs ?? Math.min(1000, timeoutMs / 3);
  const badMs = checkMs('timeoutMs', timeoutMs) ?? checkMs('attemptTimeoutMs', attemptTimeoutMs);
  if (badMs) throw badMs;
  if (typeof WebSocket !== 'function') {
    throw bad('no WebSocket constructor: pass `WebSocket` in the options (e.g. the `ws` package), or use the Node entry understudy/client');
  }
  const clientId = o.clientId ?? randomId();
  if (typeof clientId !== 'string' || clientId.length === 0 || clientId.length > 512) throw bad('clientId must be a non-empty string of at most 512 characters');
  if (o.token !== undefined && typeof o.token !== 'string') throw bad('token must be a string');
  return {
    viewUrl: o.view,
    timeoutMs,
    token: o.token ? o.token : null,
    WebSocket,
    logger: o.logger ?? noopLogger,
    backoff: o.backoff ?? DEFAULT_BACKOFF,
    clientId,
    attemptTimeoutMs,
    limits: DEFAULT_LIMITS,
  };
}

/** A duration option must be a positive, finite number of milliseconds. */
function checkMs(name: string, ms: unknown): UnderstudyError | null {
  if (typeof ms === 'number' && ms > 0 && Number.isFinite(ms)) return null;
  return new UnderstudyError('BAD_REQUEST', `${name} must be a positive number of milliseconds (got ${String(ms)})`);
}

/**
 * Client-side checks before anything is sent (SPEC §8): a refused op never leaves the
 * process. The replica checks again; these messages are the friendlier ones.
 */
function validateOp(op: OpName, key: unknown, value: unknown, o: Resolved): UnderstudyError | null {
  const { limits } = o;
  if (typeof key !== 'string') return new UnderstudyError('BAD_REQUEST', `${op}: key must be a string (got ${typeof key})`);
  // A string of n UTF-16 units is at most 3n UTF-8 bytes: count exactly only when it could
  // matter (a 10 KiB value cost a scan of it per operation).
  const keyBytes = key.length * 3 > limits.maxKeyBytes ? utf8Length(key) : 0;
  if (keyBytes > limits.maxKeyBytes) {
    return new UnderstudyError('TOO_LARGE', `${op}: key is ${keyBytes} bytes (UTF-8); the limit is maxKeyBytes = ${limits.maxKeyBytes} bytes: use a shorter key; nothing was sent`);
  }
  if (op !== 'put' && op !== 'append') return null;
  if (typeof value !== 'string') {
    return new UnderstudyError('BAD_REQUEST', `${op}: value must be a string (got ${value === null ? 'null' : typeof value}); serialise it first, e.g. with JSON.stringify`);
  }
  const valueBytes = value.length * 3 > limits.maxValueBytes ? utf8Length(value) : 0;
  if (valueBytes > limits.maxValueBytes) {
    return new UnderstudyError('TOO_LARGE', `${op}: value is ${formatBytes(valueBytes)} (${valueBytes} bytes, UTF-8); the limit is maxValueBytes = ${formatBytes(limits.maxValueBytes)}: split it across keys; nothing was sent`);
  }
  // JSON escaping can make a frame bigger than key + value; count exactly only when it could matter.
  if ((key.length + value.length) * 6 + 1024 > limits.maxMessageBytes) {
    const frame: ReqMsg = { type: 'req', client: o.clientId, seq: Number.MAX_SAFE_INTEGER, ack: Number.MAX_SAFE_INTEGER, op, key, value };
    const frameBytes = utf8Length(encode(frame));
    if (frameBytes > limits.maxMessageBytes) {
      return new UnderstudyError('TOO_LARGE', `${op}: the request would be ${formatBytes(frameBytes)} once JSON-encoded (escaped characters count); the limit is maxMessageBytes = ${formatBytes(limits.maxMessageBytes)}: send a smaller value; nothing was sent`);
    }
  }
  return null;
}

const ID_ALPHABET = 'useandom-26T198340PX75pxJACKVERYMINDBUSHWOLF_GQZbfghjklqvwyzrict';

/** A random url-safe id (nanoid's alphabet), from crypto.getRandomValues where there is one. */
export function randomId(size = 21): string {
  const bytes = new Uint8Array(size);
  const crypto = (globalThis as { crypto?: { getRandomValues?(a: Uint8Array): Uint8Array } }).crypto;
  if (crypto?.getRandomValues) crypto.getRandomValues(bytes);
  else for (let i = 0; i < size; i++) bytes[i] = Math.floor(Math.random() * 256);
  let id = '';
  for (let i = 0; i < size; i++) id += ID_ALPHABET[bytes[i] & 63];
  return id;
}
