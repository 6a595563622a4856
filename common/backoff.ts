/** A capped exponential backoff with jitter (STYLE §9). */
export interface BackoffPolicy {
  /** @default 50 */
  readonly minMs: number;
  /** @default 2000 */
  readonly maxMs: number;
  /** @default 2 */
  readonly factor: number;
  /** Fraction of the delay that is random, 0..1. @default 0.5 */
  readonly jitter: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = Object.freeze({ minMs: 50, maxMs: 2000, factor: 2, jitter: 0.5 });

/**
 * The delay before attempt number `attempt` (0-based). Pure: `random` is injected.
 * The result lies in [d * (1 - jitter), d] with d = min(maxMs, minMs * factor^attempt).
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const a = Math.max(0, Math.floor(attempt));
  const d = Math.min(policy.maxMs, policy.minMs * Math.pow(policy.factor, Math.min(a, 60)));
  const r = Math.min(1, Math.max(0, random()));
  return Math.round(d * (1 - policy.jitter * r));
}
