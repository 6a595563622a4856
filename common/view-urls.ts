/**
 * Which view-service instance to use, of several (SPEC §12, PROTOCOL §1.1): one pure policy
 * for the replica's view-service link and the client's subscription. Time and sockets are
 * the shells'; this only answers "where now?" given the hints and failures it is told of.
 *
 *   hint(leader)   a view message's `leader` field: move there (a follower named the leader),
 *                  or stay (no hint: we are at the leader, or no leader is known yet)
 *   opened()       the link to `current` opened
 *   failed()       the link to `current` closed (1012: it lost the lead; 1006: it died) or
 *                  could not open: the next URL of the list, round robin; one that could not
 *                  open is not followed again for the next IGNORE_UNREACHABLE_HINTS hints
 *
 * Only URLs of the list are ever used: a hint that names none of them (the leader advertises
 * its own `ws://HOST:PORT`, which need not be the name we were given) means "not here", so we
 * go on round the list until an instance gives no hint. No address the operator did not give
 * is ever dialled.
 */
export class ViewServiceUrls {
  readonly urls: readonly string[];
  private index = 0;
  /** The link to `current` opened since we moved there. */
  private reached = false;
  /** A URL we could not open, and how many more hints naming it we ignore. */
  private unreachable: string | null = null;
  private ignoreLeft = 0;

  constructor(urls: readonly string[]) {
    if (urls.length === 0) throw new Error('ViewServiceUrls needs at least one URL');
    this.urls = Object.freeze([...urls]);
  }

  /** The URL to connect to now. */
  get current(): string {
    return this.urls[this.index];
  }

  /** A view message arrived with this `leader` field: the URL to move to at once, or null to stay. */
  hint(leader: string | undefined): string | null {
    if (leader === undefined || leader === this.current) return null;
    // A follower names the old leader until its lease ends (up to the TTL after it died):
    // bouncing between it and the follower would close our link at the follower again and
    // again, and when that follower starts to lead, a closed link is a dead replica (SPEC §2.1).
    if (leader === this.unreachable && this.ignoreLeft > 0) {
      this.ignoreLeft--;
      return null;
    }
    const i = this.urls.indexOf(leader);
    if (i < 0) return this.urls.length > 1 ? this.failed() : null;
    this.moveTo(i);
    return leader;
  }

  /** The link to `current` opened. */
  opened(): void {
    this.reached = true;
    if (this.unreachable === this.current) this.unreachable = null;
  }

  /** The link to `current` closed (it lost the lead, 1012, or died) or could not open: the next URL, round robin. */
  failed(): string {
    if (!this.reached) {
      this.unreachable = this.current;
      this.ignoreLeft = IGNORE_UNREACHABLE_HINTS;
    }
    this.moveTo((this.index + 1) % this.urls.length);
    return this.current;
  }

  private moveTo(i: number): void {
    this.index = i;
    this.reached = false;
  }
}

/**
 * Hints naming a URL we could not open are ignored this many times (about 2 s of pings at
 * the default 100 ms, the default lease TTL), then followed again: it may lead again by then.
 */
export const IGNORE_UNREACHABLE_HINTS = 20;

/** `ws://a:7000,ws://b:7000` (a flag or an environment variable) → the URLs, trimmed, none empty. */
export function splitViewUrls(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}
