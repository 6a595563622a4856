/**
 * A min-heap of (deadline, name), for the expiry of keys and of sessions (SPEC §10): the
 * earliest deadline in O(1), push and pop in O(log n), no object per entry (two parallel
 * arrays). Entries are never removed from the middle: the owner checks a popped entry
 * against its own map (a key put again has a new deadline; the old entry is stale) and
 * rebuilds the heap when stale entries outnumber live ones (`compact`). CORE: no I/O.
 */
export class DeadlineHeap {
  private at: number[] = [];
  private names: string[] = [];

  get size(): number { return this.at.length; }

  /** The earliest deadline, or Infinity when empty. */
  peek(): number { return this.at.length === 0 ? Infinity : this.at[0]; }
  /** The name of the earliest entry (call only when size > 0). */
  peekName(): string { return this.names[0]; }

  push(at: number, name: string): void {
    let i = this.at.length;
    this.at.push(at);
    this.names.push(name);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.at[parent] <= at) break;
      this.at[i] = this.at[parent];
      this.names[i] = this.names[parent];
      i = parent;
    }
    this.at[i] = at;
    this.names[i] = name;
  }

  /** Remove the earliest entry (call only when size > 0). */
  pop(): void {
    const lastAt = this.at.pop() as number;
    const lastName = this.names.pop() as string;
    const n = this.at.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const c = l + 1 < n && this.at[l + 1] < this.at[l] ? l + 1 : l;
      if (this.at[c] >= lastAt) break;
      this.at[i] = this.at[c];
      this.names[i] = this.names[c];
      i = c;
    }
    this.at[i] = lastAt;
    this.names[i] = lastName;
  }

  clear(): void {
    this.at = [];
    this.names = [];
  }

  /** Rebuild from the live entries only (`live` gives each name's current deadline, or undefined). */
  compact(live: ReadonlyMap<string, number>): void {
    this.clear();
    for (const [name, at] of live) this.push(at, name);
  }
}
