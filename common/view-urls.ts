/**
 * Which view-service instance to use, of several (SPEC §12, PROTOCOL §1.1): one pure policy
 * for the replica's view-service link and the client's subscription. Time and sockets are
 * the shells'; this only answers "where now?" given the hints and failures it is told of.
 *
 *   hint(leader)   a view message's `leader` field: move there (a follower named the leader),
 *                  or stay (no hint: we are at the leader, or no leader is known yet)
 *   failed()       the link to `current` closed (1012: it lost the lead; 1006: it died) or
 *                  could not open: the next URL of the list, round robin
 *
 * Only URLs of the list are ever used: a hint that names none of them (the leader advertises
 * its own `ws://HOST:PORT`, which need not be the name we were given) means "not here", so we
 * go on round the list until an instance gives no hint. No address the operator did not give
 * is ever dialled.
 */
export class ViewServiceUrls {
  readonly urls: readonly string[];
  private index = 0;

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
    const i = this.urls.indexOf(leader);
    if (i < 0) return this.urls.length > 1 ? this.failed() : null;
    this.index = i;
    return leader;
  }

  /** The link to `current` closed (it lost the lead, 1012, or died) or could not open: the next URL, round robin. */
  failed(): string {
    this.index = (this.index + 1) % this.urls.length;
    return this.current;
  }
}

/** `ws://a:7000,ws://b:7000` (a flag or an environment variable) → the URLs, trimmed, none empty. */
export function splitViewUrls(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}
