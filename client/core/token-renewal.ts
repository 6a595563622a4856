/**
 * SPEC §11, pure: when the client renews its JWT. It reads the token's `exp` (without
 * verifying anything: only the servers verify) and renews when 80% of the time left has
 * passed, and at least 5 s before `exp` when it can: so a token of 1 minute is renewed after
 * ~48 s, one of 1 hour ~12 min before it ends (at most 60 s of slack per 5 minutes left is
 * plenty for a call to an identity provider).
 */

/** The token's `exp` (seconds since the epoch), or null when it has none or is not a JWT. */
export function expOf(token: string): number | null {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  try {
    const b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = JSON.parse(atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4))) as { exp?: unknown };
    return typeof json.exp === 'number' && Number.isFinite(json.exp) ? json.exp : null;
  } catch {
    return null;
  }
}

/** Milliseconds from `nowMs` (wall clock) until the renewal of `token`; null: it never needs one. */
export function renewalDelay(token: string, nowMs: number): number | null {
  const exp = expOf(token);
  if (exp === null) return null;
  const left = exp * 1000 - nowMs;
  if (left <= 0) return 0;
  return Math.max(0, Math.min(left * 0.8, left - 5000));
}
