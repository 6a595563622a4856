/**
 * The users connected to this process, by their token's `sub` (SPEC §11; the dashboard lists
 * the view service's subscribers). A link is forgotten when it closes.
 */
export interface ClosingLink {
  once(event: 'close', listener: () => void): unknown;
}

export class ConnectedUsers {
  private readonly links = new Map<ClosingLink, string>();

  add(link: ClosingLink, sub: string): void {
    if (!this.links.has(link)) link.once('close', () => this.links.delete(link));
    this.links.set(link, sub);
  }

  /** Each connected `sub` once, with its number of links, sorted. */
  list(): { sub: string; links: number }[] {
    const counts = new Map<string, number>();
    for (const sub of this.links.values()) counts.set(sub, (counts.get(sub) ?? 0) + 1);
    return [...counts].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([sub, links]) => ({ sub, links }));
  }
}
