/**
 * The one error type of Understudy, with stable codes (SPEC §7). Every code is listed in
 * docs/ERRORS.md. "The server said no" (BAD_REQUEST, TOO_LARGE, UNAUTHORIZED, NOT_PRIMARY)
 * is kept apart from "no answer" (TIMEOUT: the outcome is unknown).
 */
export type ErrorCode =
  | 'TIMEOUT'
  | 'UNAVAILABLE'
  | 'BAD_REQUEST'
  | 'TOO_LARGE'
  | 'UNAUTHORIZED'
  | 'CLOSED'
  | 'ABORTED'
  | 'NOT_PRIMARY'
  | 'CONFLICT';

export const ERROR_CODES: readonly ErrorCode[] = [
  'TIMEOUT', 'UNAVAILABLE', 'BAD_REQUEST', 'TOO_LARGE', 'UNAUTHORIZED', 'CLOSED', 'ABORTED', 'NOT_PRIMARY', 'CONFLICT',
];

/** Codes a server may put in a reply (application errors carried as values). */
export type ReplyErrorCode = 'BAD_REQUEST' | 'TOO_LARGE' | 'UNAUTHORIZED' | 'NOT_PRIMARY' | 'CONFLICT';

export class UnderstudyError extends Error {
  /** A stable code; match on this, never on the message. */
  readonly code: ErrorCode;
  /** With CONFLICT (SPEC §10): the key's current revision. */
  readonly revision?: number;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; revision?: number }) {
    super(message);
    this.name = 'UnderstudyError';
    this.code = code;
    if (options?.revision !== undefined) this.revision = options.revision;
    if (options && 'cause' in options) (this as { cause?: unknown }).cause = options.cause;
  }
}

export function isUnderstudyError(e: unknown, code?: ErrorCode): e is UnderstudyError {
  return e instanceof UnderstudyError && (code === undefined || e.code === code);
}

/** WebSocket close codes used by Understudy (4000–4999 is the application range). */
export const CloseCodes = Object.freeze({
  /** Normal closure. */
  Normal: 1000,
  /** The endpoint is going away (process shutting down). */
  GoingAway: 1001,
  /** A message could not be decoded at the framing level. */
  ProtocolError: 1002,
  /** Message larger than the limit (ws closes with this itself on maxPayload). */
  TooLarge: 1009,
  /** The server is restarting: reconnect. */
  ServiceRestart: 1012,
  /** Not now: e.g. a transfer for a view the view service has not announced yet. Reconnect and retry. */
  TryAgainLater: 1013,
  /** Wrong or missing token. */
  Unauthorized: 4401,
  /** Too many connections or subscriptions. */
  Overloaded: 4429,
  /** The peer could not keep up (send buffer over its bound). */
  SlowConsumer: 4408,
  /** A link superseded by a newer one from the same peer. */
  Replaced: 4409,
});
