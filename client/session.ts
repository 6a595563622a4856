/**
 * The client's shell (STYLE §1/§4): the plumbing behind the public `Store` (client/store.ts).
 * It owns the two connections (client/connection.ts), the one timer (client/due-timer.ts:
 * connect()'s wait, every deadline, attempt timer and retry) and the promises; it feeds
 * the pure cores their inputs and carries out their effects:
 *
 *   view service ──subscribe / view──▶ Requests.learnView ──'primary'──▶ primary connection.target()
 *   store.put() ──▶ Requests.issue ──'send'──▶ primary connection; Deadlines.attempt
 *   primary ──res──▶ Requests.reply ──'resolve' | 'reject' | 'retry' (NOT_PRIMARY)──▶ promise / Deadlines.retry
 *   one timer ──▶ Deadlines.expire ──▶ Requests.timedOut (deadline) · Requests.resend (attempt, retry)
 *                                      · Watches.resend (watch retry)
 *   store.watch() ──▶ Watches.add ──'send'──▶ primary connection; every open re-registers
 *   primary ──event / synced / error{id}──▶ Watches ──'deliver'──▶ callback, 'retry' ──▶ the
 *                                      NOT_PRIMARY rule of client/core/retry.ts (as for an op)
 *
 * Per operation it allocates the promise, its Waiting and the request; its deadline and
 * attempt timer are entries in client/core/deadlines.ts, not timers or closures.
 */
import type { View } from '../common/view';
import { VIEW0 } from '../common/view';
import type { OpName, OpResult } from '../common/messages';
import { UnderstudyError, CloseCodes } from '../common/errors';
import type { Logger } from '../common/logger';
import { decode, encode, isProtocolError } from '../common/protocol';
import { Requests, RequestEffect, type KeyEntry, type ListPage, type ReqExtra, type CommitResult } from './core/requests';
import { Watches, WatchEffect, WatchEvent } from './core/watches';
import { Deadlines } from './core/deadlines';
import { retryAfterNotPrimary, retryDelay } from './core/retry';
import { checkMs, validateOp, checkWriteOptions, checkLeaseOptions, leaseFields } from './core/op-checks';
import { ViewServiceUrls } from '../common/view-urls';
import { Connection, ConnectionStatus } from './connection';
import { DueTimer, clock } from './due-timer';
import { TokenSource, urlWithToken } from './token-source';
import type { OpOptions, WriteOptions, ResolvedOptions } from './options';
import type { StoreEvents, StoreState } from './store';

/** What the session tells its Store: its events, a watch callback that threw, connect() failed. */
export interface StoreSink {
  emit<K extends keyof StoreEvents>(event: K, ...args: Parameters<StoreEvents[K]>): void;
  listenerThrew(err: unknown): void;
  /** connect() failed: close the store (and so this session). */
  close(): void;
}

/** What an operation's promise resolves to (getEntry: the key's entry). */
type Resolved = OpResult | KeyEntry | ListPage | CommitResult | undefined;

/** A pending operation's promise (its times are in Deadlines). */
interface Waiting {
  readonly seq: number;
  resolve: (value: Resolved) => void;
  reject: (error: UnderstudyError) => void;
  /** put resolves to undefined (Promise<void>), not to the reply's null. */
  readonly resolvesVoid: boolean;
  readonly timeoutMs: number;
  /** The caller's AbortSignal and our listener on it, if one was given. */
  readonly signal: AbortSignal | undefined;
  onAbort: (() => void) | null;
}

const NO_OPTIONS: OpOptions = Object.freeze({});

/** Settles the promise being created: `new Promise(captureInto)` fills in `captured`. */
let captured: Waiting | null = null;
function captureInto(resolve: (value: Resolved) => void, reject: (error: UnderstudyError) => void): void {
  const w = captured as Waiting;
  w.resolve = resolve;
  w.reject = reject;
}
const unsettled = (): void => {};

export class Session {
  private readonly requests: Requests;
  private readonly watches: Watches;
  private readonly deadlines: Deadlines;
  private readonly timer: DueTimer;
  /** Watch callbacks, by watch id. */
  private readonly watchers = new Map<number, (e: WatchEvent) => void>();
  private readonly waiting = new Map<number, Waiting>();
  private readonly log: Logger;
  private readonly viewConnection: Connection;
  /** Which view-service instance to subscribe at (several with etcd, SPEC §12). */
  private readonly viewUrls: ViewServiceUrls;
  private readonly primaryConnection: Connection;
  private readonly tokens: TokenSource; // SPEC §11: presented to the view service and the primary, renewed before `exp`
  /** The highest store revision seen in a reply or a watch event. */
  private maxRevision = 0;
  /** Called once: with null when the first view arrived, or with why connect() failed. */
  private settleReady: ((error: UnderstudyError | null) => void) | null;

  constructor(private readonly o: ResolvedOptions, private readonly sink: StoreSink, ready: (error: UnderstudyError | null) => void) {
    this.log = o.logger.child({ component: 'client', client: o.clientId });
    this.requests = new Requests(o.clientId, VIEW0);
    this.watches = new Watches(o.limits);
    this.deadlines = new Deadlines(o.timeoutMs, o.attemptTimeoutMs);
    this.timer = new DueTimer(this.onDue);
    this.settleReady = (error) => {
      this.settleReady = null;
      this.deadlines.connected();
      ready(error);
    };
    this.timer.armBy(this.deadlines.connecting(clock()));
    const viewUrls = this.viewUrls = new ViewServiceUrls(o.viewUrls);
    this.viewConnection = new Connection({
      name: 'view',
      WebSocket: o.WebSocket,
      logger: this.log,
      backoff: o.backoff,
      onOpen: () => { viewUrls.opened(); this.viewConnection.send(encode({ type: 'subscribe', ...(this.tokens.current !== null ? { token: this.tokens.current } : {}) })); },
      onText: (text) => this.onViewServiceText(text),
      onDrop: (code) => this.onViewServiceDrop(code),
      ...(o.viewUrls.length > 1 ? { failover: () => viewUrls.failed() } : {}),
    });
    this.primaryConnection = new Connection({
      name: 'primary',
      WebSocket: o.WebSocket,
      logger: this.log,
      backoff: o.backoff,
      // Watches first: a watch made before an operation is ordered before it on the primary.
      // A renewing token (SPEC §11) is presented first, in a hello, on every new link.
      onOpen: () => { this.tokens.hello(this.primaryConnection); this.watches.linkOpened(); this.requests.linkOpened(); this.drain(); },
      onText: (text) => this.onPrimaryText(text),
      onDrop: (code, reason) => this.onPrimaryDrop(code, reason),
      onStatus: (to) => { this.sink.emit('status', to); this.sink.emit('state', stateOf(to)); },
    });
    this.tokens = new TokenSource(o.token, o.tokenFn, this.log,
      (token) => this.primaryConnection.send(encode({ type: 'auth', token })), // false while down: the next hello carries it
      (err) => this.sink.emit('error', new UnderstudyError('UNAUTHORIZED', `the token function failed: ${(err as Error)?.message ?? String(err)}`)));
    this.tokens.start(() => this.viewConnection.target(viewUrls.current));
  }

  /** The view the client acts on. */
  get view(): View {
    return this.requests.view;
  }

  /** The status of the connection to the primary. */
  get status(): ConnectionStatus {
    return this.primaryConnection.status;
  }

  /** The connection state (StoreState) that the primary connection's status means. */
  get state(): StoreState {
    return stateOf(this.primaryConnection.status);
  }

  /** The highest store revision seen in a reply or a watch event (0 before any). */
  get revision(): number {
    return this.maxRevision;
  }

  get clientId(): string {
    return this.o.clientId;
  }

  get limits(): ResolvedOptions['limits'] {
    return this.o.limits;
  }

  get isClosed(): boolean {
    return this.requests.isClosed;
  }

  /** Reconnect whichever connection is down at once, without waiting out its backoff. */
  reconnectNow(): void {
    this.viewConnection.reconnectNow();
    this.primaryConnection.reconnectNow();
  }

  /** store.watch(): register `cb`; returns its stop(). Throws the table's refusal. */
  watch(keyOrPrefix: string, cb: (event: WatchEvent) => void, fromRevision: number | undefined): () => void {
    if (typeof cb !== 'function') throw new UnderstudyError('BAD_REQUEST', 'watch: the callback must be a function');
    const id = this.watches.add(keyOrPrefix, fromRevision);
    if (id instanceof UnderstudyError) throw id;
    this.watchers.set(id, cb);
    this.drain();
    return () => {
      if (!this.watchers.delete(id)) return;
      this.deadlines.watchStopped(id);
      this.watches.remove(id);
      this.drain();
    };
  }

  /**
   * One operation: validate, issue, and return its promise. Never throws: a bad argument (or
   * anything else) rejects.
   */
  run(op: OpName, key: string, value: string | undefined, opts: OpOptions & WriteOptions = NO_OPTIONS, extra?: ReqExtra): Promise<Resolved> {
    try {
      const invalid = validateOp(op, key, value, this.o.limits, this.o.clientId) ?? checkWriteOptions(op, opts) ?? checkLeaseOptions(op, opts);
      if (invalid) return Promise.reject(invalid);
      const timeoutMs = opts.timeoutMs ?? this.o.timeoutMs;
      const badTimeout = checkMs('timeoutMs', timeoutMs);
      if (badTimeout) return Promise.reject(badTimeout);
      const signal = opts.signal;
      if (signal?.aborted) {
        return Promise.reject(new UnderstudyError('ABORTED', `${op} was aborted before it was sent; nothing was sent`, { cause: signal.reason }));
      }
      const plain = opts.ifRevision === undefined && opts.ttlMs === undefined && opts.ephemeral !== true; // (SPEC §10 fields otherwise)
      const seq = this.requests.issue(op, key, value, plain ? extra : leaseFields(opts, this.o.sessionTtlMs));
      if (seq instanceof UnderstudyError) return Promise.reject(seq);
      const w: Waiting = { seq, resolve: unsettled, reject: unsettled, resolvesVoid: op === 'put', timeoutMs, signal, onAbort: null };
      captured = w;
      const promise = new Promise<Resolved>(captureInto);
      captured = null;
      if (signal) {
        w.onAbort = (): void => { this.requests.aborted(seq, signal.reason); this.drain(); };
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
      this.waiting.set(seq, w);
      this.timer.armBy(this.deadlines.deadline(seq, timeoutMs, clock()));
      this.drain();
      return promise;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** close(): reject what is pending with CLOSED, close both connections, clear the timers. */
  close(): void {
    if (this.requests.isClosed) return;
    this.requests.close();
    this.watches.close();
    this.watchers.clear();
    this.drain();
    this.deadlines.clear();
    this.timer.cancel();
    this.tokens.close();
    this.settleReady?.(new UnderstudyError('CLOSED', 'the store was closed before the first view arrived'));
    this.viewConnection.close();
    this.primaryConnection.close();
  }

  /** The one timer fired: time out, resend and retry whatever is due, then re-arm. */
  private readonly onDue = (): void => {
    const due = this.deadlines.expire(clock());
    if (due.connectTimedOut) {
      this.failConnect(new UnderstudyError('UNAVAILABLE', `no view from the view service at ${this.o.viewUrls.join(', ')} within ${this.o.timeoutMs} ms; check that \`view\` points at a running view service (understudy view) or raise timeoutMs`));
      if (this.requests.isClosed) return;
    }
    for (let i = 0; i < due.timedOut.length; i++) this.requests.timedOut(due.timedOut[i], due.timedOutAfterMs[i]);
    for (const seq of due.resend) this.requests.resend(seq); // a send re-arms its attempt timer, in drain()
    for (const id of due.resendWatches) this.watches.resend(id);
    this.drain();
    if (!this.requests.isClosed) this.timer.armBy(this.deadlines.next());
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
        this.primaryConnection.send(encode(e.msg)); // false while down: linkOpened() registers again
        return;
      case 'deliver': {
        const cb = this.watchers.get(e.id);
        if (!cb) return;
        if (e.event.revision > this.maxRevision) this.maxRevision = e.event.revision;
        try {
          cb(e.event);
        } catch (err) {
          this.sink.listenerThrew(err); // a throwing callback must not break delivery to the others
        }
        return;
      }
      case 'retry':
        // The one NOT_PRIMARY rule, as for an op: a view naming another primary moves us
        // there (its connection re-registers); otherwise retry here after a backoff.
        if (retryAfterNotPrimary(this.requests, e.view) && this.watchers.has(e.id)) {
          this.timer.armBy(this.deadlines.retryWatch(e.id, retryDelay(e.attempt, this.o.backoff), clock()));
        }
        return;
      case 'failed':
        this.watchers.delete(e.id);
        this.log.warn({ code: e.error.code, err: e.error.message }, 'a watch was refused');
        this.sink.emit('error', e.error);
        return;
    }
  }

  private apply(e: RequestEffect): void {
    switch (e.kind) {
      case 'send':
        this.primaryConnection.send(encode(e.req));
        if (this.waiting.has(e.req.seq)) this.timer.armBy(this.deadlines.attempt(e.req.seq, clock()));
        return;
      case 'retry':
        if (this.waiting.has(e.seq)) this.timer.armBy(this.deadlines.retry(e.seq, retryDelay(e.attempt, this.o.backoff), clock()));
        return;
      case 'resolve':
      case 'reject': {
        const w = this.waiting.get(e.seq);
        if (!w) return;
        this.waiting.delete(e.seq);
        this.deadlines.settled(e.seq, w.timeoutMs);
        if (w.onAbort !== null) w.signal?.removeEventListener('abort', w.onAbort);
        if (e.kind === 'resolve') w.resolve(w.resolvesVoid ? undefined : e.value);
        else w.reject(e.error);
        return;
      }
      case 'hello': return void this.primaryConnection.send(encode({ type: 'hello', client: this.o.clientId })); // SPEC §10
      case 'view':
        this.log.info({ view: e.view }, `view ${e.view.viewnum}: primary ${e.view.primary ?? 'none'}, backup ${e.view.backup ?? 'none'}`);
        this.sink.emit('view', e.view);
        return;
      case 'primary':
        this.watches.linkClosed(); // watches live on one link: the next one registers them again
        this.primaryConnection.target(e.primary === null ? null : urlWithToken(e.primary, this.o.token));
        return;
    }
  }

  // ───────────────────────── connection events ─────────────────────────

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
      const to = this.viewUrls.hint(msg.leader); // PROTOCOL §1.1: a follower names the leader
      if (to !== null) this.viewConnection.target(to);
    } else if (msg.type === 'error') {
      this.log.warn({ code: msg.code, err: msg.message }, 'view service refused a message');
      this.sink.emit('error', new UnderstudyError(msg.code, `the view service said: ${msg.message}`));
    } else {
      this.log.debug({ type: msg.type }, 'view service sent an unexpected message');
    }
  }

  private onViewServiceDrop(code: number): boolean {
    if (code !== CloseCodes.Unauthorized) return true;
    const error = new UnderstudyError('UNAUTHORIZED', `the view service at ${this.o.viewUrl} refused the client token (close 4401); pass the cluster's client token as \`token\``);
    this.log.error({ code }, error.message);
    this.sink.emit('error', error);
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
      this.sink.emit('error', new UnderstudyError(msg.code, `the primary said: ${msg.message}`));
    } else {
      this.log.debug({ type: msg.type }, 'primary sent an unexpected message');
    }
  }

  private onPrimaryDrop(code: number, reason: string): boolean {
    this.requests.linkClosed();
    this.watches.linkClosed();
    if (code !== CloseCodes.Unauthorized) return true;
    const message = `the primary ${this.requests.view.primary ?? ''} refused the client token (close 4401${reason ? `: ${reason}` : ''}); pass the cluster's client token as \`token\``;
    this.log.error({ code }, message);
    this.requests.unauthorized(message);
    this.drain();
    this.sink.emit('error', new UnderstudyError('UNAUTHORIZED', message));
    return false;
  }

  /** connect() fails: reject it and release everything. */
  private failConnect(error: UnderstudyError): void {
    if (!this.settleReady) return;
    this.settleReady(error);
    this.sink.close();
  }
}

const stateOf = (status: ConnectionStatus): StoreState => (status === 'open' ? 'connected' : status);
