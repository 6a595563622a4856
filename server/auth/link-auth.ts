/**
 * SPEC §11 on one client link (a shell helper of client-endpoint.ts): the token it presented,
 * what the rules let it do (`access`, bound once per token), and its expiry. Verification is
 * asynchronous (jose), so the frames that arrive while a token is being checked are held and
 * replayed in order afterwards: an operation sent right after `hello` is judged with its token.
 *
 * Why the endpoint asks the pure rules, rather than the replica core getting the claims as
 * input: what a link may do depends only on (rules, its token, the key), the same on every
 * replica, so the answer at the endpoint is the one the primary would give, and a denied
 * operation never enters the core: it takes no place in the order, the forward batch or the
 * at-most-once table (a retry after a renewal runs normally), and the core's per-operation
 * path is unchanged. The rules themselves stay pure (server/auth/core/rules.ts).
 */
import type { Access } from './core/rules';
import { AuthError } from './tokens';
import { accessOf, type Auth } from './load';

/** setTimeout's longest delay; a later expiry is re-armed when this one fires. */
const MAX_DELAY_MS = 2 ** 31 - 1;

export type Held = [data: unknown, isBinary: boolean];

export class LinkAuth {
  /** What this link may do now. */
  access: Access;
  /** The token's `sub` (for the dashboard's list of users), null without a token. */
  sub: string | null = null;
  /** Frames held while a token is being verified; null when none is. */
  held: Held[] | null = null;
  /** The token's `exp` passed: its operations are judged as a link without a token. */
  expired = false;
  private expiry: NodeJS.Timeout | null = null;

  constructor(private readonly auth: Auth) {
    this.access = accessOf(auth, null);
  }

  /**
   * Verify `token`; on success the link takes its claims. `done(refusal)` runs after the
   * verification, with the held frames to replay, unless `close()` came first.
   */
  present(token: string, done: (refusal: AuthError | null, held: Held[]) => void): void {
    this.held ??= [];
    this.auth.verifier.verify(token).then((r) => {
      const held = this.held ?? [];
      this.held = null;
      if (this.closed) return;
      if (r instanceof AuthError) return done(r, held);
      this.access = accessOf(this.auth, r);
      this.sub = typeof r.sub === 'string' ? r.sub : null;
      this.expired = false;
      this.arm((r.exp as number) * 1000);
      done(null, held);
    }, (err) => done(new AuthError('malformed', String(err)), []));
  }

  private closed = false;

  close(): void {
    this.closed = true;
    if (this.expiry) clearTimeout(this.expiry);
    this.expiry = null;
  }

  private arm(expMs: number): void {
    if (this.expiry) clearTimeout(this.expiry);
    const delay = expMs - Date.now();
    this.expiry = setTimeout(() => {
      this.expiry = null;
      if (delay > MAX_DELAY_MS) return this.arm(expMs);
      this.expired = true;
      this.access = accessOf(this.auth, null);
    }, Math.max(0, Math.min(delay, MAX_DELAY_MS)));
    this.expiry.unref();
  }
}
