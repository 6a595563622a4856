/**
 * The options of `connect()` (SPEC §7): their defaults, and their eager validation. Every
 * option is checked once, at connect(), with a message that names it; the store then works
 * from a frozen `ResolvedOptions`. `resolveOptions` is pure: the WebSocket constructor and the
 * id maker are passed in.
 */
import type { Logger } from '../common/logger';
import { noopLogger } from '../common/logger';
import { BackoffPolicy, DEFAULT_BACKOFF } from '../common/backoff';
import { DEFAULT_LIMITS, Limits } from '../common/limits';
import { DEFAULTS } from '../common/config';
import { UnderstudyError } from '../common/errors';
import { checkMs } from './core/op-checks';
import { isTtlMs } from './core/lease-options';
import { MAX_TTL_MS, DEFAULT_SESSION_TTL_MS } from '../common/protocol/lease-checks';
import type { WebSocketCtor } from './connection';

export interface ConnectOptions {
  /**
   * The view service's WebSocket URL, e.g. `ws://host:7000`; or every instance's, with several
   * view services on etcd (SPEC §12): the client subscribes at one, follows the leader hint,
   * and goes on to the next when its link drops.
   */
  view: string | readonly string[];
  /**
   * Per operation: after this, the operation rejects with TIMEOUT (outcome unknown). Also
   * how long `connect()` waits for the first view before rejecting UNAVAILABLE.
   * @default 5000
   */
  timeoutMs?: number;
  /**
   * The client token: sent in `subscribe`, and as `?token=` to the replicas. Or (SPEC §11) a
   * function returning a fresh JWT (sync or async): called at connect, and again before each
   * token's `exp` to renew it on the open links; sent in a `hello`, never in a URL.
   */
  token?: string | TokenFn;
  /** The WebSocket constructor. @default globalThis.WebSocket (browser entry) or `ws` (Node entry) */
  WebSocket?: WebSocketCtor;
  /** @default noopLogger */
  logger?: Logger;
  /** Reconnect policy of both links (fields left out keep their default). @default DEFAULT_BACKOFF */
  backoff?: Partial<BackoffPolicy>;
  /** Identifies this client for exactly-once retries. @default a random 21-character id */
  clientId?: string;
  /**
   * Resend an op still unanswered after this, on the current primary link (duplicates are
   * harmless: the store applies each (clientId, seq) once).
   * @default min(1000, timeoutMs / 3)
   */
  attemptTimeoutMs?: number;
  /**
   * SPEC §10: this client's ephemeral keys are deleted once it has had no link to the primary
   * for this long (sent with each ephemeral put; an integer, at most 30 days).
   * @default 10000
   */
  sessionTtlMs?: number;
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

/** Returns a fresh JWT (SPEC §11). */
export type TokenFn = () => string | Promise<string>;

/** Options of put and delete (SPEC §10). */
export interface WriteOptions {
  /** Write only if the key's revision is this (0: the key must not exist); else CONFLICT with err.revision. */
  ifRevision?: number;
  /** put only: the store deletes the key this many ms after the put (1..30 days); a put without it clears an earlier ttl. */
  ttlMs?: number;
  /** put only: the key belongs to this client's session and is deleted when the session ends (sessionTtlMs without a link). */
  ephemeral?: boolean;
}

/** ConnectOptions with every default filled in. */
export interface ResolvedOptions {
  /** The first of viewUrls (what messages name). */
  readonly viewUrl: string;
  readonly viewUrls: readonly string[];
  readonly timeoutMs: number;
  readonly token: string | null;
  /** SPEC §11: the token function, when `token` was one (then `token` is null). */
  readonly tokenFn: TokenFn | null;
  readonly WebSocket: WebSocketCtor;
  readonly logger: Logger;
  readonly backoff: BackoffPolicy;
  readonly clientId: string;
  readonly attemptTimeoutMs: number;
  readonly sessionTtlMs: number;
  readonly limits: Limits;
}

/** The defaults of ConnectOptions (attemptTimeoutMs: min(maxAttemptTimeoutMs, timeoutMs / 3)). */
export const CONNECT_DEFAULTS = Object.freeze({
  timeoutMs: DEFAULTS.timeoutMs,
  maxAttemptTimeoutMs: 1000,
  logger: noopLogger,
  backoff: DEFAULT_BACKOFF,
  limits: DEFAULT_LIMITS,
});

const LOGGER_METHODS = ['debug', 'info', 'warn', 'error', 'child'] as const;

/**
 * Fill in the defaults and check every option; throws UnderstudyError BAD_REQUEST naming the
 * first bad one. `newId` makes the clientId when none is given.
 */
export function resolveOptions(o: ConnectOptions, WebSocket: WebSocketCtor | undefined, newId: () => string = randomId): ResolvedOptions {
  const bad = (message: string): UnderstudyError => new UnderstudyError('BAD_REQUEST', message);
  const viewUrls: readonly string[] = typeof o?.view === 'string' ? [o.view] : Array.isArray(o?.view) ? Object.freeze([...o.view]) : [];
  if (viewUrls.length === 0 || viewUrls.some((u) => typeof u !== 'string' || !/^wss?:\/\//i.test(u))) {
    throw bad(`view must be the view service's ws:// or wss:// URL, or a non-empty array of them (got ${JSON.stringify(o?.view)})`);
  }
  const timeoutMs = o.timeoutMs ?? CONNECT_DEFAULTS.timeoutMs;
  const attemptTimeoutMs = o.attemptTimeoutMs ?? Math.min(CONNECT_DEFAULTS.maxAttemptTimeoutMs, timeoutMs / 3);
  const badMs = checkMs('timeoutMs', timeoutMs) ?? checkMs('attemptTimeoutMs', attemptTimeoutMs);
  if (badMs) throw badMs;
  if (typeof WebSocket !== 'function') {
    throw bad('no WebSocket constructor: pass `WebSocket` in the options (e.g. the `ws` package), or use the Node entry understudy/client');
  }
  const clientId = o.clientId ?? newId();
  if (typeof clientId !== 'string' || clientId.length === 0 || clientId.length > 512) throw bad('clientId must be a non-empty string of at most 512 characters');
  if (clientId.startsWith('#')) throw bad('clientId must not start with "#" (reserved for the store\'s own operations)');
  const sessionTtlMs = o.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS;
  if (!isTtlMs(sessionTtlMs)) throw bad(`sessionTtlMs must be an integer from 1 to ${MAX_TTL_MS} milliseconds (got ${String(o.sessionTtlMs)})`);
  if (o.token !== undefined && typeof o.token !== 'string' && typeof o.token !== 'function') throw bad('token must be a string or a function returning one');
  const logger = o.logger ?? CONNECT_DEFAULTS.logger;
  if (typeof logger !== 'object' || logger === null || LOGGER_METHODS.some((m) => typeof logger[m] !== 'function')) {
    throw bad('logger must be a pino-compatible logger: an object with debug, info, warn, error and child methods');
  }
  return Object.freeze({
    viewUrl: viewUrls[0],
    viewUrls,
    timeoutMs,
    token: typeof o.token === 'string' && o.token ? o.token : null,
    tokenFn: typeof o.token === 'function' ? o.token : null,
    WebSocket,
    logger,
    backoff: resolveBackoff(o.backoff),
    clientId,
    attemptTimeoutMs,
    sessionTtlMs,
    limits: CONNECT_DEFAULTS.limits,
  });
}

/** A whole backoff policy from a partial one; throws BAD_REQUEST naming the bad field. */
function resolveBackoff(given: Partial<BackoffPolicy> | undefined): BackoffPolicy {
  if (given === undefined) return CONNECT_DEFAULTS.backoff;
  if (typeof given !== 'object' || given === null) throw new UnderstudyError('BAD_REQUEST', `backoff must be an object { minMs, maxMs, factor, jitter } (got ${String(given)})`);
  const p: BackoffPolicy = Object.freeze({ ...CONNECT_DEFAULTS.backoff, ...given });
  const fault = !(p.minMs > 0 && Number.isFinite(p.minMs)) ? 'backoff.minMs must be a positive number of milliseconds'
    : !(p.maxMs >= p.minMs && Number.isFinite(p.maxMs)) ? 'backoff.maxMs must be a number of milliseconds ≥ backoff.minMs'
      : !(p.factor >= 1 && Number.isFinite(p.factor)) ? 'backoff.factor must be a number ≥ 1'
        : !(p.jitter >= 0 && p.jitter <= 1) ? 'backoff.jitter must be a number from 0 to 1'
          : null;
  if (fault) throw new UnderstudyError('BAD_REQUEST', `${fault} (got ${JSON.stringify(given)})`);
  return p;
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
