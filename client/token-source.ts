/**
 * SPEC §11, the client's token (a small shell beside session.ts): a string, or a function
 * returning a fresh JWT (sync or async). The function is called at connect and again before
 * each token's `exp` (client/core/token-renewal.ts); each fresh token is handed to `renewed`,
 * which sends it on the open primary link as an `auth` message (watches keep running), and
 * every new link (a failover) presents the current one in its `hello`. The renewal has its
 * own timer: it fires once per token lifetime, apart from the per-operation deadlines.
 */
import type { Logger } from '../common/logger';
import { encode } from '../common/protocol';
import { renewalDelay } from './core/token-renewal';
import type { TokenFn } from './options';

/** After a failed call of the token function, try again this much later. @default 1 s */
const RETRY_MS = 1000;

export class TokenSource {
  /** The token to present now; null: none (or the first call has not answered yet). */
  current: string | null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private closed = false;

  constructor(
    token: string | null,
    private readonly fn: TokenFn | null,
    private readonly log: Logger,
    private readonly renewed: (token: string) => void,
    private readonly failed: (err: unknown) => void,
  ) {
    this.current = token;
  }

  /** Whether links present the token in a `hello` (a function) rather than in the URL. */
  get renews(): boolean { return this.fn !== null; }

  /** On a new primary link: a renewing token is presented in a hello, first (never in the URL). */
  hello(link: { send(text: string): boolean }): void {
    if (this.fn !== null && this.current !== null) link.send(encode({ type: 'hello', token: this.current }));
  }

  /** Call `then` once a first token is there (at once for a string or no token). */
  start(then: () => void): void {
    if (this.fn === null) return then();
    this.fetch(then);
  }

  close(): void {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private fetch(then: (() => void) | null): void {
    let got: string | Promise<string>;
    try {
      got = (this.fn as TokenFn)();
    } catch (err) {
      return this.retry(err, then);
    }
    Promise.resolve(got).then((token) => {
      if (this.closed) return;
      if (typeof token !== 'string' || token === '') return this.retry(new Error('the token function returned no string'), then);
      this.current = token;
      const delay = renewalDelay(token, Date.now());
      if (delay !== null) this.arm(Math.max(delay, RETRY_MS), () => this.fetch(null));
      if (then) then();
      else this.renewed(token);
    }, (err) => this.retry(err, then));
  }

  private retry(err: unknown, then: (() => void) | null): void {
    if (this.closed) return;
    this.log.warn({ err: (err as Error)?.message ?? String(err) }, 'the token function failed; trying again in 1 s');
    this.failed(err);
    this.arm(RETRY_MS, () => this.fetch(then));
  }

  private arm(ms: number, fire: () => void): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => { this.timer = null; fire(); }, ms);
  }
}

/** A primary's URL with a string token as `?token=` (SPEC §6/§11), or as it is without one. */
export function urlWithToken(url: string, token: string | null): string {
  if (token === null) return url;
  try {
    const u = new URL(url);
    u.searchParams.set('token', token);
    return u.toString();
  } catch {
    return url; // the connection logs and retries a URL the WebSocket refuses
  }
}
